"""A block is made durable by one sync at a time: its copy beside the log
(``paraclear.chain.block_copy``) is written while SQLite commits it, and the copy takes back
the one block a crash between the two can leave outside the log.

The crash is real where it matters: a forked writer SIGKILLs itself once its last block's
copy is durable and before SQLite commits it. The other cases cut the log (``DELETE`` of its
newest rows, as a write-ahead log that lost its last commits) or damage a copy.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sqlite3
from pathlib import Path

import msgspec
import pytest

from paraclear.bench.crashtest import Plan, run_plan
from paraclear.chain.block_copy import FILE_NAMES, decode_copy, encode_copy
from paraclear.chain.replay import open_state
from paraclear.chain.storage import (
    DB_NAME,
    AcknowledgedBlocksMissing,
    BlockStore,
    StorageFull,
)
from paraclear.clearing.machine import ClearingMachine
from paraclear.execution.sequential import SequentialExecutor
from tests.node.test_damage import run_killed


def _cut_log(data_dir: Path, keep: int) -> None:
    """Drop every block above ``keep`` from the log itself, leaving the copies."""
    with sqlite3.connect(data_dir / DB_NAME) as db:
        db.execute("DELETE FROM blocks WHERE height > ?", (keep,))
        db.execute("DELETE FROM snapshots WHERE height > ?", (keep,))


def _copy_file(data_dir: Path, height: int) -> Path:
    return data_dir / FILE_NAMES[height % 2]


def test_the_last_two_blocks_are_copied_beside_the_log(chain_dir: Path, plan: Plan) -> None:
    tip = len(plan.blocks)
    with BlockStore.open(chain_dir) as store:
        for height in (tip - 1, tip):
            copy = decode_copy(_copy_file(chain_dir, height).read_bytes())
            assert copy is not None and copy.height == height
            assert copy.block_hash == store.hash_at(height)
            assert copy.parent == store.hash_at(height - 1)
            assert copy.state_root == plan.roots[height - 1]


def test_a_block_only_in_its_copy_is_taken_back(
    chain_dir: Path, plan: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    tip = len(plan.blocks)
    with BlockStore.open(chain_dir) as store:
        expected = store.hash_at(tip)
    _cut_log(chain_dir, tip - 1)
    with caplog.at_level(logging.WARNING, logger="paraclear.chain.storage"):
        store, state = open_state(chain_dir, plan.spec)
    with store:
        assert store.height == tip and store.hash_at(tip) == expected
        assert state.root() == plan.roots[-1]
        assert store.block(tip).block == plan.blocks[-1]
    assert f"block {tip} was acknowledged but not in the log" in caplog.text


def test_a_log_two_blocks_below_its_copies_is_refused(chain_dir: Path, plan: Plan) -> None:
    tip = len(plan.blocks)
    _cut_log(chain_dir, tip - 2)
    for _ in range(2):  # refused the same way again: nothing was changed
        with pytest.raises(AcknowledgedBlocksMissing) as refused:
            BlockStore.open(chain_dir)
        assert (refused.value.log_height, refused.value.acknowledged) == (tip - 2, tip)


def test_a_torn_copy_counts_for_nothing(chain_dir: Path, plan: Plan) -> None:
    """Its append never returned: the log may end below it, at the block before."""
    tip = len(plan.blocks)
    path = _copy_file(chain_dir, tip)
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF  # in its body (the file may go on with an older, longer block's bytes)
    path.write_bytes(bytes(data))
    _cut_log(chain_dir, tip - 1)
    with BlockStore.open(chain_dir) as store:
        assert store.height == tip - 1


def test_a_copy_that_is_not_the_block_it_claims_is_not_taken_back(
    chain_dir: Path, plan: Plan
) -> None:
    tip = len(plan.blocks)
    path = _copy_file(chain_dir, tip)
    copy = decode_copy(path.read_bytes())
    assert copy is not None
    forged = msgspec.structs.replace(copy, state_root=bytes(32))  # a valid file, a wrong block
    path.write_bytes(encode_copy(forged))
    _cut_log(chain_dir, tip - 1)
    with pytest.raises(AcknowledgedBlocksMissing):
        BlockStore.open(chain_dir, recover=True)


def test_a_reader_takes_a_copy_one_above_the_log_for_a_block_in_flight(
    chain_dir: Path, plan: Plan
) -> None:
    """Beside a running writer, the copy of the block being appended is durable before the
    block is in the log: a reader opens the log as it is and writes nothing; the writer's
    own open takes the block back."""
    tip = len(plan.blocks)
    _cut_log(chain_dir, tip - 1)
    for _ in range(2):
        with BlockStore.open(chain_dir) as store:
            assert store.height == tip - 1
    with BlockStore.open(chain_dir, recover=True) as store:
        assert store.height == tip


def test_a_block_the_disk_had_no_room_for_has_its_copy_voided(tmp_path: Path, plan: Plan) -> None:
    data_dir = tmp_path / "chain"
    store, state = open_state(data_dir, plan.spec)
    executor = SequentialExecutor(ClearingMachine(plan.spec.model()))
    with store:
        for block in plan.blocks[:3]:
            store.append(block, executor.execute(state, block))
        store.max_bytes = store.path.stat().st_size
        block = plan.blocks[3]
        with pytest.raises(StorageFull):
            store.append(block, executor.execute(state.copy(), block))
        latest = store.copies.latest()
        assert latest is not None and latest.height == 3
    with BlockStore.open(data_dir, recover=True) as store:  # no restart brings it back
        assert store.height == 3


def test_a_copy_that_cannot_be_written_falls_back_to_the_record(
    tmp_path: Path, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "chain"
    store, state = open_state(data_dir, plan.spec)
    executor = SequentialExecutor(ClearingMachine(plan.spec.model()))

    def no_room(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with store:
        monkeypatch.setattr(store.copies, "write", no_room)
        for block in plan.blocks[:2]:
            store.append(block, executor.execute(state, block))
        assert store.acknowledged.read().height == 2
        assert store.copies.latest() is None
    _cut_log(data_dir, 1)
    with pytest.raises(AcknowledgedBlocksMissing):  # the record still guards the log
        BlockStore.open(data_dir)


def _die_before_the_commit(data_dir: Path, plan: Plan) -> None:
    """Write the plan; at its last block, SIGKILL this process once the block's copy is
    durable and before SQLite commits it."""
    last = len(plan.blocks)
    insert = BlockStore._insert

    def killing_insert(store: BlockStore, row: tuple[int, ...], digest: bytes) -> None:
        if row[0] == last:
            while (copy := store.copies.latest()) is None or copy.height != last:
                pass  # the copy's thread is writing it
            os.kill(os.getpid(), signal.SIGKILL)
        insert(store, row, digest)  # type: ignore[arg-type]

    BlockStore._insert = killing_insert  # type: ignore[assignment,method-assign]
    run_plan(data_dir, plan, lambda line: None, snapshot_every=5)


def test_a_kill_between_the_copy_and_the_commit_loses_nothing(tmp_path: Path, plan: Plan) -> None:
    data_dir = tmp_path / "chain"
    run_killed(_die_before_the_commit, data_dir, plan)
    with sqlite3.connect(data_dir / DB_NAME) as db:
        assert db.execute("SELECT MAX(height) FROM blocks").fetchone()[0] == len(plan.blocks) - 1
    store, state = open_state(data_dir, plan.spec)
    with store:
        assert store.height == len(plan.blocks) and state.root() == plan.roots[-1]
