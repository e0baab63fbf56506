"""Damage to a data directory is detected, named and refused, never silently rolled back.

The writer is a real process, SIGKILLed right after its last block was reported committed,
so the newest blocks live only in SQLite's write-ahead log (``chain.sqlite-wal``), as after
a crash. Then the WAL's tail is truncated, bytes in it are flipped, or it is deleted: SQLite
itself opens what is left without a word, and the acknowledged record must make the store
refuse to start lower (and so never reuse a height).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from paraclear.api.node_api import node_status
from paraclear.bench.crashtest import Plan, run_plan
from paraclear.chain.acknowledged import FILE_NAME
from paraclear.chain.core import Node, NodeConfig
from paraclear.chain.replay import open_state, replay
from paraclear.chain.storage import (
    DB_NAME,
    AcknowledgedBlocksMissing,
    BlockHashMismatch,
    BlockStore,
    CorruptStore,
    StorageError,
)
from paraclear.cli import main
from tests.node.test_storage_full import _config, _orders, _produce, _setup

WAL = DB_NAME + "-wal"


def _write_then_die(data_dir: Path, plan: Plan) -> None:
    def emit(line: str) -> None:
        if line.startswith(f"committed {len(plan.blocks)} "):
            os.kill(os.getpid(), signal.SIGKILL)

    run_plan(data_dir, plan, emit, snapshot_every=5)


def run_killed(writer: Callable[[Path, Plan], None], data_dir: Path, plan: Plan) -> None:
    """Run ``writer`` on ``data_dir`` in a forked process that must die by SIGKILL."""
    process = multiprocessing.get_context("fork").Process(target=writer, args=(data_dir, plan))
    process.start()
    process.join()
    assert process.exitcode == -signal.SIGKILL


@pytest.fixture
def killed_dir(tmp_path: Path, plan: Plan) -> Path:
    """A directory whose writer was SIGKILLed after reporting its last block committed."""
    data_dir = tmp_path / "chain"
    run_killed(_write_then_die, data_dir, plan)
    assert (data_dir / WAL).stat().st_size > 100_000  # the blocks are in the WAL only
    return data_dir


def _refuses_to_start_lower(data_dir: Path, plan: Plan) -> AcknowledgedBlocksMissing:
    """Opening refuses, says what was lost and what to do, and changes nothing: a second
    attempt refuses the same way."""
    errors = []
    for _ in range(2):
        with pytest.raises(AcknowledgedBlocksMissing) as refused:
            open_state(data_dir, plan.spec)
        errors.append(refused.value)
    first, second = errors
    assert first.acknowledged == len(plan.blocks) == second.acknowledged
    assert first.log_height == second.log_height < len(plan.blocks)
    assert f"acknowledged as durable: blocks {first.log_height + 1}.." in str(first)
    assert "Restore the data directory" in str(first) and "--accept-loss" in str(first)
    return first


def test_a_whole_wal_after_a_kill_recovers_every_acknowledged_block(
    killed_dir: Path, plan: Plan
) -> None:
    store, state = open_state(killed_dir, plan.spec)
    with store:
        assert store.height == len(plan.blocks) and state.root() == plan.roots[-1]


def test_a_truncated_wal_tail_is_refused(killed_dir: Path, plan: Plan) -> None:
    wal = killed_dir / WAL
    os.truncate(wal, wal.stat().st_size * 2 // 5)
    _refuses_to_start_lower(killed_dir, plan)


def test_twenty_flipped_bytes_in_the_wal_are_refused(killed_dir: Path, plan: Plan) -> None:
    wal = killed_dir / WAL
    data = bytearray(wal.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20] = bytes(b ^ 0xFF for b in data[middle : middle + 20])
    wal.write_bytes(bytes(data))
    _refuses_to_start_lower(killed_dir, plan)


def test_a_deleted_wal_is_refused_and_not_recreated_as_a_new_chain(
    killed_dir: Path, plan: Plan
) -> None:
    (killed_dir / WAL).unlink()
    (killed_dir / (DB_NAME + "-shm")).unlink()
    refused = _refuses_to_start_lower(killed_dir, plan)
    assert refused.log_height == 0
    for spec in (plan.spec, None):  # a reader without a spec is told the same
        with pytest.raises(AcknowledgedBlocksMissing):
            BlockStore.open(killed_dir, spec)
    (killed_dir / DB_NAME).unlink()
    _refuses_to_start_lower(killed_dir, plan)
    with pytest.raises(AcknowledgedBlocksMissing):
        BlockStore.open(killed_dir)


def test_the_operator_may_accept_the_loss_explicitly(killed_dir: Path, plan: Plan) -> None:
    wal = killed_dir / WAL
    os.truncate(wal, wal.stat().st_size * 2 // 5)
    lost = _refuses_to_start_lower(killed_dir, plan)
    store, state = open_state(killed_dir, plan.spec, accept_loss=True)
    with store:
        assert store.height == lost.log_height and state.root() == plan.roots[lost.log_height - 1]
    store, _ = open_state(killed_dir, plan.spec)  # the record now agrees with the log
    store.close()


def test_a_missing_acknowledged_record_is_refused(chain_dir: Path, plan: Plan) -> None:
    (chain_dir / FILE_NAME).unlink()
    with pytest.raises(CorruptStore, match="acknowledged is missing"):
        BlockStore.open(chain_dir)


def test_a_block_altered_at_the_acknowledged_height_is_refused(chain_dir: Path, plan: Plan) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("UPDATE blocks SET envelopes = ? WHERE height = ?", (b"\x90", len(plan.blocks)))
        db.execute("UPDATE blocks SET hash = ? WHERE height = ?", (b"\0" * 32, len(plan.blocks)))
    with pytest.raises(BlockHashMismatch, match=f"block {len(plan.blocks)} "):
        BlockStore.open(chain_dir)


def test_a_receipt_altered_before_the_oldest_snapshot_is_found_by_hash_and_by_replay(
    chain_dir: Path, plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        (other,) = db.execute("SELECT receipts FROM blocks WHERE height = 4").fetchone()
        db.execute("UPDATE blocks SET receipts = ? WHERE height = 3", (other,))
    store, _ = open_state(chain_dir)  # recovery starts at the snapshot at 25
    with store:
        assert store.snapshot_heights()[0] > 3
        with pytest.raises(BlockHashMismatch) as found:
            store.verify_hashes()
        assert found.value.height == 3
    assert main(["replay", str(chain_dir), "--quiet"]) == 1
    assert "MISMATCH at height 3: receipt" in capsys.readouterr().out


def test_envelopes_altered_anywhere_are_a_block_hash_mismatch_on_replay(
    chain_dir: Path, plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("UPDATE blocks SET envelopes = ? WHERE height = 9", (b"\x90",))
    with BlockStore.open(chain_dir) as store, pytest.raises(BlockHashMismatch, match="block 9 "):
        replay(store, "genesis")
    assert main(["replay", str(chain_dir), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BlockHashMismatch: block 9 " in err


def test_undecodable_transactions_name_the_block_and_exit_one(
    chain_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        (txs,) = db.execute("SELECT txs FROM blocks WHERE height = 12").fetchone()
        db.execute("UPDATE blocks SET txs = ? WHERE height = 12", (txs[: len(txs) // 2],))
    assert main(["replay", str(chain_dir), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "block 12: its transactions do not decode" in err


def test_flipped_bytes_in_the_database_file_give_one_line_and_exit_one(
    chain_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = chain_dir / DB_NAME
    data = bytearray(database.read_bytes())
    assert not (chain_dir / WAL).exists()  # closed cleanly: everything is in the file
    for offset in range(4096 * 3, len(data), 4096 * 5):  # page headers and contents
        data[offset : offset + 64] = bytes(64)
    database.write_bytes(bytes(data))
    code = main(["replay", str(chain_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    with pytest.raises(StorageError):
        open_state(chain_dir)


def test_serve_on_a_damaged_directory_exits_one_with_the_reason(
    killed_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (killed_dir / WAL).unlink()
    assert main(["serve", "--data-dir", str(killed_dir), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "AcknowledgedBlocksMissing" in err and "Traceback" not in err


def test_a_running_node_finds_a_receipt_altered_below_its_snapshots_in_the_background(
    tmp_path: Path,
) -> None:
    node = Node(_config(tmp_path, snapshot_every=2))
    _setup(node)
    for first in (1, 2, 3):
        assert all(f.exception(timeout=0) is None for f in _produce(node, _orders(first, 3)))
    height = node.height
    node.stop()
    node = Node(NodeConfig(data_dir=tmp_path, snapshot_every=2))
    node.start()
    _wait_for(lambda: node.verified == height)
    assert node.damage is None and node_status(node)["log_damage"] is None
    assert node_status(node)["log_verified"] == height
    node.stop()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        (other,) = db.execute("SELECT receipts FROM blocks WHERE height = 2").fetchone()
        db.execute("UPDATE blocks SET receipts = ? WHERE height = 1", (other,))
    node = Node(NodeConfig(data_dir=tmp_path, snapshot_every=2))  # starts: beyond the snapshot
    try:
        assert node.height == height and node.store.snapshot_heights()[0] > 1
        node.start()
        _wait_for(lambda: node.damage is not None)
        assert isinstance(node.damage, BlockHashMismatch) and node.damage.height == 1
        status = node_status(node)
        assert status["log_damage"] is not None and status["log_damage"].startswith("block 1 ")
        assert node.failure is None
    finally:
        node.stop()


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_background_check_goes_on_and_finds_a_block_altered_after_the_start(
    tmp_path: Path,
) -> None:
    node = Node(_config(tmp_path, verify_every=0.05))
    try:
        node.start(produce=False)
        _setup(node)
        assert all(f.exception(timeout=0) is None for f in _produce(node, _orders(1, 3)))
        _wait_for(lambda: node.verified == node.height)
        with sqlite3.connect(tmp_path / DB_NAME) as db:
            db.execute("UPDATE blocks SET envelopes = ? WHERE height = ?", (b"\x90", node.height))
        _wait_for(lambda: node.damage is not None)
        assert isinstance(node.damage, BlockHashMismatch) and node.damage.height == node.height
    finally:
        node.stop()
