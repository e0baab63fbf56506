"""``paraclear bench store`` on a tiny chain: it runs, replays clean and reports its keys."""

from __future__ import annotations

import json

from paraclear.cli import main


def test_bench_store_json_reports_latency_replay_and_snapshot_figures(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        [
            "bench",
            "store",
            "--accounts",
            "30",
            "--blocks",
            "3",
            "--txs-per-block",
            "20",
            "--repeats",
            "1",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["blocks"] == 4 and result["txs"] > 3 * 20
    assert 0 < result["append_p50_ms"] <= result["append_p99_ms"] <= result["append_max_ms"]
    assert result["replay_tps"] > 0 and result["recover_seconds"] > 0
    assert result["snapshot_keys"] > 60
    assert 0 < result["snapshot_stored_bytes"] < result["snapshot_bytes"]
    assert result["synchronous"] == "FULL"
