"""Smoke run of ``paraclear bench node``: the figures it promises, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import paraclear


@pytest.mark.parametrize("pace", [["--rate-cap", "300"], ["--rate", "150", "--listed", "12"]])
def test_bench_node_smoke_run_reports_its_keys_and_loses_nothing(pace: list[str]) -> None:
    """Flat out and at a fixed offered rate (with 11 options listed besides the perpetual:
    a listing the node refused would fail the setup): the figures, where the node's CPU
    went, and no acknowledged order missing from the log."""
    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [
        sys.executable, "-m", "paraclear", "bench", "node", "--seconds", "1", "--traders", "2",
        "--window", "4", *pace, "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"orders_per_s", "p50_ms", "p99_ms", "max_ms", "lost", "generator_cpu"} <= set(result)
    assert result["lost"] == 0 and result["acknowledged"] > 0 and result["orders_per_s"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    legs = result["hops_ms"]
    assert set(legs) == {"late", "to_node", "in_node", "from_node"}
    assert 0 < legs["in_node"]["p50"] <= legs["in_node"]["p99"] <= result["max_ms"]
    assert legs["in_node"]["p50"] <= result["p50_ms"]  # the node's part of the whole way
    assert result["node_cpu"] > 0 and result["node_blocks"] > 0
    assert "api-server" in result["node_threads_cpu"]
    assert {"build", "persist"} <= set(result["node_block_stages"])
    fixed = pace[0] == "--rate"
    assert result["offered_per_s"] == (150 if fixed else None)
    assert result["listed"] == (12 if fixed else 1)
    assert result["latency_from"] == ("scheduled send" if fixed else "send")
