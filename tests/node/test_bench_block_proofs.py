"""The block proofs benchmark checks what it times: every answer it times verifies."""

from __future__ import annotations

from paraclear.bench.block_proofs import run


def test_the_benchmark_times_answers_that_verify() -> None:
    report = run(txs=7, repeats=1)
    assert report["txs"] == 7
    assert report["get_block_bytes"] > 7 * 200 and report["proof_bytes"] > 0
    assert report["header_kept_ms"] >= 0 and report["verify_transaction_ms"] >= 0
