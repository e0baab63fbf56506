"""Smoke run of ``paraclear bench node``: the figures it promises, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import paraclear


def test_bench_node_smoke_run_reports_its_keys_and_loses_nothing() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [
        sys.executable, "-m", "paraclear", "bench", "node", "--seconds", "1", "--traders", "2",
        "--window", "4", "--rate-cap", "300", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"orders_per_s", "p50_ms", "p99_ms", "lost"} <= set(result)
    assert result["lost"] == 0 and result["acknowledged"] > 0 and result["orders_per_s"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"]
