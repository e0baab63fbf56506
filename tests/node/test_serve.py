"""``paraclear serve`` and ``NodeApp``: a node behind its API, stopped and resumed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest

import paraclear
from paraclear.api.app import NodeApp
from paraclear.api.rpc import INVALID_CREDENTIALS, UNAUTHORIZED, RpcError
from paraclear.chain.core import NodeConfig
from paraclear.client.connection import Client
from paraclear.client.envelope import Keypair
from paraclear.client.grants import http_header, sign_auth
from tests.clearing.harness import T0


def test_the_app_serves_status_and_node_metrics(tmp_path: Path) -> None:
    with NodeApp(NodeConfig(data_dir=tmp_path, genesis_time=T0)) as app:
        with Client.connect(app.url) as client:
            status = client.call("public/status")
            assert status["height"] == 0 and status["chain_id"] == "paraclear-local"
            assert client.call("public/get_instruments", {"currency": "any"}) == []
        metrics = urllib.request.urlopen(f"{app.thread.http_url}/metrics").read().decode()
        assert re.search(r"^paraclear_height(_\w+)? 0\.0$", metrics, re.M), metrics


def first_match(process: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    """The first line of ``process``'s standard error that ``pattern`` matches: on an empty
    numba cache the warm-up's progress lines come before the banner."""
    assert process.stderr is not None
    seen = []
    for _ in range(500):
        line = process.stderr.readline()
        match = re.search(pattern, line)
        if match:
            return match
        seen.append(line)
        assert line, f"{pattern!r} never printed: {seen}"
    raise AssertionError(f"{pattern!r} not in the first 500 lines: {seen[-5:]}")


def serve(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """``paraclear serve`` on ``data_dir`` in a process of its own, and its port."""
    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [sys.executable, "-m", "paraclear", "serve", "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [*command, "--port", "0"], stderr=subprocess.PIPE, env=env, text=True
    )
    match = first_match(process, r"ws://127\.0\.0\.1:(\d+)/ws/api/v2")
    return process, int(match[1])


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, wait for a clean exit; what it printed after its banner."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    return process.stderr.read()


def test_serve_runs_until_sigterm_and_resumes(tmp_path: Path) -> None:
    for _ in range(2):
        process, port = serve(tmp_path)
        assert process.stderr is not None
        dashboard = process.stderr.readline()
        assert f"dashboard at http://127.0.0.1:{port}/" in dashboard, dashboard
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/").read().decode()
        assert "paraclear" in page and "/static/dashboard.js" in page
        with Client.connect(f"ws://127.0.0.1:{port}/ws/api/v2") as client:
            assert client.call("public/status")["height"] == 0
        assert "stopped at height 0" in stop(process)


def test_auth_grants_captured_before_a_restart_are_refused_after_it(tmp_path: Path) -> None:
    """An eavesdropper's copy of a ``public/auth`` grant and of a signed HTTP request,
    replayed against the same node restarted on the same data directory."""
    alice = Keypair.from_seed_int(5)
    body = b'{"jsonrpc":"2.0","id":1,"method":"private/get_open_orders"}'

    def post(port: int, header: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v2", data=body, headers={"Authorization": header}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, msgspec.json.decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, msgspec.json.decode(error.read())

    process, port = serve(tmp_path)
    with Client.connect(f"ws://127.0.0.1:{port}/ws/api/v2") as client:
        challenge = client.call("public/get_auth_challenge")["challenge"]
        grant = sign_auth(alice, "paraclear-local", challenge)
        assert client.call("public/auth", grant)["account"] == alice.account
    header = http_header(alice, "paraclear-local", challenge, "POST", "/api/v2", body)
    status, reply = post(port, header)
    assert status == 200 and reply["result"] == []
    stop(process)

    process, port = serve(tmp_path)
    try:
        with Client.connect(f"ws://127.0.0.1:{port}/ws/api/v2") as client:
            with pytest.raises(RpcError) as raised:
                client.call("public/auth", grant)
            assert raised.value.code == INVALID_CREDENTIALS and raised.value.data is not None
            assert raised.value.data["challenge"] != challenge
            with pytest.raises(RpcError) as raised:
                client.call("private/get_open_orders")
            assert raised.value.code == UNAUTHORIZED
        status, reply = post(port, header)
        assert status == 401 and reply["error"]["code"] == INVALID_CREDENTIALS
    finally:
        stop(process)


def serve_once(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``paraclear serve`` with ``arguments``, expected to refuse to start."""
    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [sys.executable, "-m", "paraclear", "serve", *arguments]
    return subprocess.run(command, capture_output=True, env=env, text=True, timeout=120)


def test_a_busy_port_gives_one_line_and_leaves_no_data_directory(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        data_dir = tmp_path / "new-chain"
        result = serve_once("--data-dir", str(data_dir), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "in use" in result.stderr, result.stderr
    assert not data_dir.exists()


def test_a_second_node_on_a_data_directory_is_refused(tmp_path: Path) -> None:
    from paraclear.chain.core import Node
    from paraclear.chain.dir_lock import DataDirectoryLocked

    process, _ = serve(tmp_path)
    try:
        result = serve_once("--data-dir", str(tmp_path), "--port", "0")
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"in use by another node (process {process.pid})" in result.stderr
        with pytest.raises(DataDirectoryLocked):
            Node(NodeConfig(data_dir=tmp_path))
    finally:
        stop(process)
    Node(NodeConfig(data_dir=tmp_path)).stop()  # free again once it stopped


def test_serve_market_trades_live_until_sigterm(tmp_path: Path) -> None:
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [sys.executable, "-m", "paraclear", "serve", "--data-dir", str(tmp_path)]
    market = ["--market", "--market-minutes", "20", "--tick-seconds", "0.05", "--accounts", "20"]
    process = subprocess.Popen(
        [*command, "--port", "0", *market], stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        assert process.stderr is not None
        match = first_match(process, r"http://127\.0\.0\.1:(\d+)/api/v2")
        url = f"http://127.0.0.1:{match[1]}/api/v2/public/get_last_trades_by_currency"
        deadline = time.monotonic() + 300  # a liveness bound (numba compiles first), not a figure
        trades: list[Any] = []
        while not trades:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.5)
            with urllib.request.urlopen(f"{url}?currency=BTC&count=5", timeout=30) as answer:
                trades = msgspec.json.decode(answer.read())["result"]["trades"]
        assert all(trade["instrument_name"].startswith("BTC-") for trade in trades)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    refused = serve_once("--data-dir", str(tmp_path), "--port", "0", "--market")
    assert refused.returncode == 2 and "without a chain" in refused.stderr
