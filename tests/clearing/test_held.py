"""Reads of a block run whose compiled engine holds rows back (``needed=()``, as the
builder's dry run batches its order operations and fills): ``BlockRun.get`` takes a held
order or position from its row (``kernels.held``), and any other read folds the held rows
into the pending writes first. Each must equal the reference handlers' run at that point."""

from __future__ import annotations

from typing import NamedTuple

from paraclear.clearing import ClearingMachine
from paraclear.clearing.transactions import Transaction
from paraclear.execution import BlockRun
from paraclear.state import Key, State
from paraclear.state import keys as k
from tests.clearing.test_flush_needed import _built
from tests.node.test_builder import ACCOUNTS


def _row_keys(run: BlockRun[Transaction]) -> list[Key]:
    """Every order and position key the run or its state has."""
    keys = set(run.pending) | set(run.data)
    return sorted(key for key in keys if key[0] == "acct" and len(key) == 4)


def test_orders_and_positions_read_between_held_batches_equal_the_reference() -> None:
    state, reference, block = _built(seed=8, count=200)
    compiled = ClearingMachine(reference.margin_model, engine="compiled")
    want = BlockRun(state.data, reference, block.context)
    run = BlockRun(state.copy().data, compiled, block.context)
    txs = list(block.txs)
    held_at_some_point = False
    for start in range(0, len(txs), 40):
        want.run_all(txs[start : start + 40])
        run.run_all(txs[start : start + 40], needed=())
        unwritten = want.pending.keys() - run.pending.keys()
        held_at_some_point |= bool(unwritten)
        for key in _row_keys(want):
            assert run.get(key) == want.get(key), key
        assert want.pending.keys() - run.pending.keys() == unwritten  # read, not flushed
    assert held_at_some_point
    assert run.receipts == want.receipts


class _Runs(NamedTuple):
    want: BlockRun[Transaction]
    """The reference handlers' run of the block, over ``state``."""
    state: State
    run: BlockRun[Transaction]
    """The compiled engine's, in one batch that held every row back, over ``copy``."""
    copy: State


def _held(seed: int) -> _Runs:
    """A built block run through the reference handlers and through the compiled engine."""
    state, reference, block = _built(seed=seed, count=120)
    want = BlockRun(state.data, reference, block.context)
    want.run_all(block.txs)
    copy = state.copy()
    compiled = ClearingMachine(reference.margin_model, engine="compiled")
    run = BlockRun(copy.data, compiled, block.context)
    run.run_all(block.txs, needed=())
    assert run.pending != want.pending  # held
    return _Runs(want, state, run, copy)


def test_a_read_of_an_account_field_folds_the_held_rows_in_first() -> None:
    want, _, run, _ = _held(seed=9)
    assert run.get(k.collateral(ACCOUNTS[1])) == want.get(k.collateral(ACCOUNTS[1]))
    assert run.pending == want.pending


def test_a_view_folds_the_held_rows_in_first() -> None:
    want, _, run, _ = _held(seed=10)
    assert run.view().get(k.FEE_POOL) == want.get(k.FEE_POOL)
    assert run.pending == want.pending


def test_finish_commits_the_held_rows() -> None:
    want, state, run, copy = _held(seed=11)
    result = run.finish(copy)
    assert result.write_set == want.pending
    assert result.consensus_bytes() == want.finish(state).consensus_bytes()
