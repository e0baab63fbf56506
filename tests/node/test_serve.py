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
from paraclear.node.app import NodeApp
from paraclear.node.auth import http_header, sign_auth
from paraclear.node.client import Client
from paraclear.node.core import NodeConfig
from paraclear.node.envelope import Keypair
from paraclear.node.rpc import INVALID_CREDENTIALS, UNAUTHORIZED, RpcError
from tests.clearing.harness import T0


def test_the_app_serves_status_and_node_metrics(tmp_path: Path) -> None:
    with NodeApp(NodeConfig(data_dir=tmp_path, genesis_time=T0)) as app:
        with Client.connect(app.url) as client:
            status = client.call("public/status")
            assert status["height"] == 0 and status["chain_id"] == "paraclear-local"
            assert client.call("public/get_instruments", {"currency": "any"}) == []
        metrics = urllib.request.urlopen(f"{app.thread.http_url}/metrics").read().decode()
        assert re.search(r"^paraclear_height(_\w+)? 0\.0$", metrics, re.M), metrics


def serve(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """``paraclear serve`` on ``data_dir`` in a process of its own, and its port."""
    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [sys.executable, "-m", "paraclear", "serve", "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [*command, "--port", "0"], stderr=subprocess.PIPE, env=env, text=True
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    match = re.search(r"ws://127\.0\.0\.1:(\d+)/ws/api/v2", banner)
    assert match, banner
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
