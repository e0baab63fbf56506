"""The API throughput bench runs end to end (its figures are not asserted: no timed tests)."""

from __future__ import annotations

from paraclear.bench import api as apibench


def test_bench_reports_its_figures() -> None:
    figures = apibench.run(seconds=0.2, connections=2, window=4)
    assert figures["requests"] > 0 and figures["requests_per_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert (figures["connections"], figures["window"]) == (2, 4)
