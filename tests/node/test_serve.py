"""``paraclear serve`` and ``NodeApp``: a node behind its API, stopped and resumed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import paraclear
from paraclear.node.app import NodeApp
from paraclear.node.client import Client
from paraclear.node.core import NodeConfig
from tests.clearing.harness import T0


def test_the_app_serves_status_and_node_metrics(tmp_path: Path) -> None:
    with NodeApp(NodeConfig(data_dir=tmp_path, genesis_time=T0)) as app:
        with Client.connect(app.url) as client:
            status = client.call("public/status")
            assert status["height"] == 0 and status["chain_id"] == "paraclear-local"
            assert client.call("public/get_instruments", {"currency": "any"}) == []
        metrics = urllib.request.urlopen(f"{app.thread.http_url}/metrics").read().decode()
        assert re.search(r"^paraclear_height(_\w+)? 0\.0$", metrics, re.M), metrics


def test_serve_runs_until_sigterm_and_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [
        sys.executable,
        "-m",
        "paraclear",
        "serve",
        "--data-dir",
        str(tmp_path),
        "--port",
        "0",
    ]
    for _ in range(2):
        process = subprocess.Popen(command, stderr=subprocess.PIPE, env=env, text=True)
        assert process.stderr is not None
        banner = process.stderr.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/ws/api/v2", banner)
        assert match, banner
        dashboard = process.stderr.readline()
        assert f"dashboard at http://127.0.0.1:{match[1]}/" in dashboard, dashboard
        page = urllib.request.urlopen(f"http://127.0.0.1:{match[1]}/").read().decode()
        assert "paraclear" in page and "/static/dashboard.js" in page
        with Client.connect(f"ws://127.0.0.1:{match[1]}/ws/api/v2") as client:
            assert client.call("public/status")["height"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped at height 0" in process.stderr.read()
