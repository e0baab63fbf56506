"""BlockStore: the block log, meta checks and snapshots."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from paraclear.bench.crashtest import Plan
from paraclear.chain.storage import (
    DB_NAME,
    BlockStore,
    ChainMismatch,
    ChainSpec,
    CorruptStore,
    HeightError,
    RootMismatch,
    StoreMissing,
    UnreadableBlock,
    UnsupportedFormat,
)
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import HouseConfig
from paraclear.clearing.transactions import Deposit
from paraclear.execution import Block, BlockResult, SequentialExecutor
from paraclear.state import State


def _execute_first(plan: Plan, count: int) -> tuple[State, list[BlockResult]]:
    state = plan.spec.genesis_state()
    executor = SequentialExecutor(ClearingMachine(plan.spec.model()))
    return state, [executor.execute(state, block) for block in plan.blocks[:count]]


def test_appended_blocks_read_back_with_receipts_envelopes_and_roots_after_reopen(
    tmp_path: Path, plan: Plan
) -> None:
    _, results = _execute_first(plan, 3)
    envelopes = [f"envelope {i}".encode() for i in range(len(plan.blocks[1].txs))]
    with BlockStore.open(tmp_path, plan.spec) as store:
        store.append(plan.blocks[0], results[0])
        store.append(plan.blocks[1], results[1], envelopes)
        store.append(plan.blocks[2], results[2])
    with BlockStore.open(tmp_path) as store:
        assert store.spec == plan.spec
        assert (store.height, store.last_root) == (3, results[2].state_root)
        second = store.block(2)
        assert second.block == plan.blocks[1]
        assert second.receipts() == results[1].receipts
        assert second.envelopes() == envelopes
        assert second.tx_count == len(plan.blocks[1].txs)
        assert store.block(1).envelopes() is None
        assert [b.height for b in store.blocks(2)] == [2, 3]
        assert [store.root_at(h) for h in (1, 2, 3)] == [r.state_root for r in results]
        assert store.root_at(0) == plan.spec.genesis_state().root() == store.genesis_root


def test_the_tips_block_hash_is_kept_in_memory_and_equals_the_stored_one(
    tmp_path: Path, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, results = _execute_first(plan, 3)
    with BlockStore.open(tmp_path, plan.spec) as store:
        for block, result in zip(plan.blocks[:3], results, strict=True):
            store.append(block, result)
            stored = [store.block(h).block_hash for h in range(1, block.height + 1)]
            assert [store.hash_at(h) for h in range(1, block.height + 1)] == stored
            assert store.hash_at(block.height) == store.last_hash
        assert store.hash_at(0) == store.genesis_root
    with BlockStore.open(tmp_path) as store:
        assert store.hash_at(2) == stored[1]

        def unread(column: str, height: int) -> bytes:
            raise AssertionError(f"read {column} at {height} from the database")

        monkeypatch.setattr(store, "_column_at", unread)
        assert store.hash_at(3) == stored[-1]


def test_a_new_store_is_at_height_zero_with_the_genesis_root(tmp_path: Path, plan: Plan) -> None:
    with BlockStore.open(tmp_path / "new" / "dir", plan.spec) as store:
        assert store.height == 0
        assert store.last_root == plan.spec.genesis_state().root()
        assert list(store.blocks()) == []
        assert store.latest_snapshot() is None
    assert (tmp_path / "new" / "dir" / DB_NAME).exists()


def test_append_at_the_wrong_height_fails_and_writes_nothing(tmp_path: Path, plan: Plan) -> None:
    _, results = _execute_first(plan, 2)
    with BlockStore.open(tmp_path, plan.spec) as store:
        with pytest.raises(HeightError) as skipped:
            store.append(plan.blocks[1], results[1])
        assert (skipped.value.expected, skipped.value.got) == (1, 2)
        store.append(plan.blocks[0], results[0])
        with pytest.raises(HeightError):
            store.append(plan.blocks[0], results[0])
        assert store.height == 1
    with BlockStore.open(tmp_path) as store:
        assert [b.height for b in store.blocks()] == [1]


def test_receipts_and_envelopes_must_match_the_transactions(tmp_path: Path, plan: Plan) -> None:
    _, results = _execute_first(plan, 2)
    with BlockStore.open(tmp_path, plan.spec) as store:
        with pytest.raises(ValueError, match="receipts"):
            store.append(plan.blocks[0], results[1])
        with pytest.raises(ValueError, match="envelopes"):
            store.append(plan.blocks[0], results[0], [b"one"])
        assert store.height == 0


def test_a_transaction_that_would_not_decode_back_is_refused_unless_it_has_an_envelope(
    tmp_path: Path, plan: Plan
) -> None:
    _, results = _execute_first(plan, 1)
    first = plan.blocks[0]
    bad = Deposit(sender="a", nonce=0, amount=0)  # a Positive amount of 0
    forged = Block(height=1, time=first.time, txs=(*first.txs[:-1], bad))
    envelopes = [b""] * len(first.txs)
    with BlockStore.open(tmp_path, plan.spec) as store:
        with pytest.raises(UnreadableBlock) as refused:
            store.append(forged, results[0], envelopes)
        assert refused.value.height == 1 and refused.value.index == len(first.txs) - 1
        assert store.height == 0
        envelopes[-1] = b"signed bytes the node checked"
        store.append(forged, results[0], envelopes)
        assert store.height == 1


def test_opening_a_directory_without_a_chain_and_without_a_spec_fails(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing):
        BlockStore.open(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("chain_id", ChainSpec("another chain", HouseConfig(admin="admin", oracle="oracle"))),
        ("genesis", ChainSpec("crashtest", HouseConfig(admin="mallory", oracle="oracle"))),
        (
            "margin_model",
            ChainSpec("crashtest", HouseConfig(admin="admin", oracle="oracle"), "portfolio"),
        ),
    ],
)
def test_opening_with_another_chain_spec_fails_with_chain_mismatch(
    tmp_path: Path, plan: Plan, field: str, other: ChainSpec
) -> None:
    BlockStore.open(tmp_path, plan.spec).close()
    with pytest.raises(ChainMismatch) as mismatch:
        BlockStore.open(tmp_path, other)
    assert mismatch.value.field == field
    assert mismatch.value.stored == getattr(plan.spec, field)


def test_an_unknown_margin_model_is_refused() -> None:
    with pytest.raises(ValueError, match="margin model"):
        ChainSpec("c", HouseConfig(admin="a", oracle="o"), "lenient")


def test_another_format_version_and_garbled_meta_are_typed_errors(
    tmp_path: Path, plan: Plan
) -> None:
    BlockStore.open(tmp_path, plan.spec).close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE meta SET value = ? WHERE name = 'format'", (msgspec.msgpack.encode(99),))
    with pytest.raises(UnsupportedFormat):
        BlockStore.open(tmp_path)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("DELETE FROM meta WHERE name = 'format'")
    with pytest.raises(CorruptStore):
        BlockStore.open(tmp_path, plan.spec)


def test_a_file_that_is_not_sqlite_is_a_corrupt_store_in_one_line(
    tmp_path: Path, plan: Plan
) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(CorruptStore, match="file is not a database"):
        BlockStore.open(tmp_path, plan.spec)


def test_snapshots_keep_the_last_few_and_reject_a_state_with_another_root(
    tmp_path: Path, plan: Plan
) -> None:
    executor = SequentialExecutor(ClearingMachine(plan.spec.model()))
    state = plan.spec.genesis_state()
    with BlockStore.open(tmp_path, plan.spec, snapshot_every=2, keep_snapshots=2) as store:
        for block in plan.blocks[:7]:
            store.append(block, executor.execute(state, block))
            if store.snapshot_due(block.height):
                store.save_snapshot(block.height, state)
        assert store.snapshot_heights() == [4, 6]
        with pytest.raises(RootMismatch) as stale:
            store.save_snapshot(6, state)
        assert stale.value.height == 6 and stale.value.got == state.root()
        latest = store.latest_snapshot()
        assert not store.snapshot_due(0) and not store.snapshot_due(7)
    assert latest is not None and latest.height == 6 and latest.keys > 0
    with BlockStore.open(tmp_path) as store:
        assert store.snapshot(4).state().root() == store.root_at(4)
        with pytest.raises(KeyError):
            store.snapshot(2)


def test_a_second_writer_on_the_same_directory_gets_a_height_error(
    tmp_path: Path, plan: Plan
) -> None:
    _, results = _execute_first(plan, 1)
    with BlockStore.open(tmp_path, plan.spec) as first, BlockStore.open(tmp_path) as second:
        first.append(plan.blocks[0], results[0])
        with pytest.raises(HeightError) as late:
            second.append(plan.blocks[0], results[0])
        assert (late.value.expected, late.value.got) == (2, 1)
        assert [b.height for b in second.blocks()] == [1]
        assert [b.height for b in second.blocks(1, 0)] == []
