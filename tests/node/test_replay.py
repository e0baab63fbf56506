"""Recovery and replay: snapshot + tail equals genesis replay; tampering is detected."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import msgspec
import pytest

from paraclear.bench.crashtest import Plan, run_plan
from paraclear.chain.replay import open_state, replay
from paraclear.chain.storage import (
    DB_NAME,
    BlockStore,
    CorruptStore,
    ReceiptsMismatch,
    RootMismatch,
    TablesMismatch,
    encode_receipts,
)
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.kernels.layout import A_COLL
from paraclear.clearing.transactions import Deposit, Transaction
from paraclear.cli import main
from paraclear.execution import Block, BlockRun
from paraclear.state import State


def _tamper_block(data_dir: Path, from_height: int) -> int:
    """Raise the amount of a deposit in the first block from ``from_height`` that has one,
    keeping the stored root; return that block's height."""
    with sqlite3.connect(data_dir / DB_NAME) as db:
        rows = db.execute(
            "SELECT height, txs FROM blocks WHERE height >= ? ORDER BY height", (from_height,)
        )
        for height, raw in rows.fetchall():
            block = msgspec.msgpack.decode(raw, type=Block[Transaction])
            txs = list(block.txs)
            for index, tx in enumerate(txs):
                if isinstance(tx, Deposit):
                    txs[index] = msgspec.structs.replace(tx, amount=tx.amount + 1)
                    forged = Block(height=height, time=block.time, txs=tuple(txs))
                    encoded = msgspec.msgpack.encode(forged)
                    db.execute("UPDATE blocks SET txs = ? WHERE height = ?", (encoded, height))
                    return int(height)
    raise AssertionError(f"no deposit from height {from_height}")


def test_open_state_on_a_new_directory_gives_genesis(tmp_path: Path, plan: Plan) -> None:
    store, state = open_state(tmp_path, plan.spec)
    with store:
        assert store.height == 0 and state.root() == plan.spec.genesis_state().root()


def test_snapshot_and_tail_equal_a_replay_from_genesis(chain_dir: Path, plan: Plan) -> None:
    store, recovered = open_state(chain_dir, plan.spec)
    with store:
        assert store.snapshot_heights() == [15, 20, 25]
        genesis_state, from_genesis = replay(store, "genesis")
        snapshot_state, from_snapshot = replay(store, "snapshot")
    assert from_genesis.ok and from_snapshot.ok
    assert (from_genesis.start_height, from_genesis.blocks) == (0, 25)
    assert from_genesis.snapshots_checked == 3
    assert (from_snapshot.start_height, from_snapshot.blocks) == (25, 0)
    assert from_genesis.txs == sum(len(block.txs) for block in plan.blocks)
    assert recovered.root() == genesis_state.root() == snapshot_state.root() == plan.roots[-1]
    assert recovered.data == genesis_state.data == snapshot_state.data


def test_recovery_re_executes_the_blocks_after_the_latest_snapshot(
    chain_dir: Path, plan: Plan
) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("DELETE FROM snapshots WHERE height > 15")
    store, state = open_state(chain_dir)
    with store:
        _, report = replay(store, "snapshot")
    assert (report.start_height, report.blocks) == (15, 10)
    assert state.root() == plan.roots[-1]


def test_replay_of_a_directory_that_grows_meanwhile_stops_at_the_tip_it_opened_at(
    tmp_path: Path, plan: Plan
) -> None:
    short = Plan(plan.spec, plan.blocks[:10], plan.roots[:10])
    run_plan(tmp_path, short, lambda line: None, snapshot_every=100)
    with BlockStore.open(tmp_path) as reader:
        run_plan(tmp_path, plan, lambda line: None, snapshot_every=100)
        _, report = replay(reader, "genesis")
    assert report.ok and report.tip == report.blocks == 10
    assert report.state_root == plan.roots[9]


def test_replay_from_genesis_finds_a_tampered_block(chain_dir: Path, plan: Plan) -> None:
    height = _tamper_block(chain_dir, 3)
    with BlockStore.open(chain_dir) as store:
        _, report = replay(store, "genesis")
    assert report.mismatch is not None
    assert report.mismatch.height == height
    assert report.mismatch.expected == plan.roots[height - 1]
    assert report.blocks == height - 1 and report.state_root == plan.roots[height - 2]


def test_recovery_raises_root_mismatch_for_a_tampered_block_after_the_snapshot(
    chain_dir: Path, plan: Plan
) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("DELETE FROM snapshots WHERE height > 15")
    height = _tamper_block(chain_dir, 16)
    with pytest.raises(RootMismatch) as mismatch:
        open_state(chain_dir, plan.spec)
    assert mismatch.value.height == height and mismatch.value.expected == plan.roots[height - 1]


def test_a_tampered_receipt_is_a_receipts_mismatch_though_the_roots_agree(
    chain_dir: Path, plan: Plan, capsys
) -> None:  # type: ignore[no-untyped-def]
    with BlockStore.open(chain_dir) as store:
        receipts = store.block(20).receipts()
    index = next(i for i, r in enumerate(receipts) if r.ok)
    receipts[index] = msgspec.structs.replace(receipts[index], events=())
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("UPDATE blocks SET receipts = ? WHERE height = 20", (encode_receipts(receipts),))
    with BlockStore.open(chain_dir) as store:
        _, report = replay(store, "genesis")
    assert isinstance(report.mismatch, ReceiptsMismatch)
    assert (report.mismatch.height, report.mismatch.index) == (20, index)
    assert report.state_root == plan.roots[18]
    assert main(["replay", str(chain_dir), "--json", "--quiet"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["mismatch"] == "receipts" and summary["receipt_index"] == index
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("DELETE FROM snapshots WHERE height > 15")
    with pytest.raises(ReceiptsMismatch):
        open_state(chain_dir)


def test_a_tampered_stored_root_is_a_root_mismatch(chain_dir: Path, plan: Plan) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("UPDATE blocks SET state_root = ? WHERE height = 24", (b"\x01" * 32,))
    with BlockStore.open(chain_dir) as store:
        _, report = replay(store, "genesis")
    assert report.mismatch is not None and report.mismatch.height == 24
    assert report.mismatch.got == plan.roots[23]


def test_a_tampered_snapshot_is_skipped_on_recovery_and_corrupt_on_replay(
    chain_dir: Path, plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        (stored,) = db.execute("SELECT state FROM snapshots WHERE height = 25").fetchone()
        raw = zlib.decompress(stored)
        forged = raw.replace(b"acct-00001", b"acct-00002", 1)
        assert forged != raw
        db.execute("UPDATE snapshots SET state = ? WHERE height = 25", (zlib.compress(forged),))
    store, state = open_state(chain_dir)
    with store:
        assert state.root() == plan.roots[-1]
        _, report = replay(store, "snapshot")
        assert report.start_height == 20 and report.blocks == 5
        assert [height for height, _ in report.skipped_snapshots] == [25]
        assert "root" in report.skipped_snapshots[0][1]
    assert main(["replay", str(chain_dir), "--from-snapshot", "--quiet"]) == 0
    assert "warning: skipped the snapshot at height 25" in capsys.readouterr().out
    with BlockStore.open(chain_dir) as store, pytest.raises(CorruptStore, match="snapshot"):
        replay(store, "genesis")


def _flip_bit(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x10]) + data[offset + 1 :]


def test_one_bit_flipped_in_each_snapshot_falls_back_to_an_older_one_then_to_genesis(
    chain_dir: Path, plan: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        rows = db.execute("SELECT height, state FROM snapshots ORDER BY height").fetchall()
    assert [height for height, _ in rows] == [15, 20, 25]
    for flipped, (height, stored) in enumerate(reversed(rows), start=1):
        with sqlite3.connect(chain_dir / DB_NAME) as db:
            bad = _flip_bit(stored, len(stored) // 2)
            db.execute("UPDATE snapshots SET state = ? WHERE height = ?", (bad, height))
        caplog.clear()
        store, state = open_state(chain_dir)
        with store:
            assert state.root() == plan.roots[-1]
            _, report = replay(store, "snapshot")
        assert len(report.skipped_snapshots) == flipped
        assert report.start_height == (rows[-flipped - 1][0] if flipped < len(rows) else 0)
        assert f"skipping the snapshot at height {height}" in caplog.text


def test_a_gap_in_the_block_log_is_a_corrupt_store(chain_dir: Path) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("DELETE FROM blocks WHERE height = 7")
    with BlockStore.open(chain_dir) as store, pytest.raises(CorruptStore, match="height 7"):
        replay(store, "genesis")


def test_cli_replay_reports_ok_and_exits_zero(chain_dir: Path, plan: Plan, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["replay", str(chain_dir)]) == 0
    captured = capsys.readouterr()
    assert "ok: every root matches up to height 25" in captured.out
    assert "block 25/25" in captured.err
    code = main(["replay", str(chain_dir), "--from-snapshot", "--json", "--quiet"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["ok"] is True
    assert summary["start_height"] == 25 and summary["state_root"] == plan.roots[-1].hex()
    assert summary["mismatch_height"] is None


def test_cli_replay_exits_non_zero_at_the_first_mismatching_height(  # type: ignore[no-untyped-def]
    chain_dir: Path, capsys
) -> None:
    height = _tamper_block(chain_dir, 9)
    code = main(["replay", str(chain_dir), "--from-genesis"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"MISMATCH at height {height}" in captured.out


def test_cli_replay_of_a_missing_directory_exits_two(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["replay", str(tmp_path / "absent")]) == 2
    assert "StoreMissing" in capsys.readouterr().err


def test_cli_replay_on_the_parallel_executor_matches(chain_dir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        ["replay", str(chain_dir), "--executor", "parallel", "--workers", "2", "--json", "--quiet"]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["ok"] and summary["workers"] == 2


def test_cli_replay_checks_the_compiled_engines_tables_after_every_block(  # type: ignore[no-untyped-def]
    chain_dir: Path, capsys
) -> None:
    assert main(["replay", str(chain_dir), "--check-tables"]) == 0
    assert "tables checked against the replayed state after" in capsys.readouterr().out
    assert main(["replay", str(chain_dir), "--check-tables", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and 0 < summary["tables_checked"] <= summary["blocks"] == 25


@pytest.mark.parametrize("wrong", [["--engine", "reference"], ["--executor", "parallel"]])
def test_cli_replay_refuses_to_check_tables_it_does_not_have(  # type: ignore[no-untyped-def]
    chain_dir: Path, capsys, wrong: list[str]
) -> None:
    assert main(["replay", str(chain_dir), "--check-tables", *wrong]) == 2
    assert "--check-tables needs the sequential executor" in capsys.readouterr().err


def test_replay_reports_tables_that_drift_from_the_state(
    chain_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine whose tables drift after a commit (here: one account's collateral) is
    caught at that block, before the drift reaches a root."""
    committed = CompiledEngine.committed
    calls = []

    def drifting(engine: CompiledEngine, run: BlockRun[Transaction], state: State) -> None:
        committed(engine, run, state)
        calls.append(run.ctx.height)
        if len(calls) == 3 and engine.tables is not None:
            engine.tables.accounts[0, A_COLL] += 1

    monkeypatch.setattr(CompiledEngine, "committed", drifting)
    with BlockStore.open(chain_dir) as store:
        _, report = replay(store, "genesis", check_tables=True)
    assert isinstance(report.mismatch, TablesMismatch)
    assert report.mismatch.height == calls[2] and report.blocks == calls[2] - 1
    assert report.as_dict()["mismatch"] == "tables"
    assert report.mismatch.differences[0].startswith("account ")
