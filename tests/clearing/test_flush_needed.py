"""The compiled engine's partial flush (``run_batch(..., needed)``) against the reference.

A shard worker needs mid-block only the locks it sends after a batch: the engine flushes
those accounts' rows alone and holds the rest in its tables until ``flush``. What it flushed
must be exactly what the reference handlers wrote of those locks; after ``flush`` the
block's writes must equal the reference's, receipts too.
"""

from __future__ import annotations

from paraclear.chain.builder import BlockBuilder
from paraclear.clearing import ClearingMachine
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, BlockRun
from paraclear.market import SerialMatcher
from paraclear.state import Key, Lock, State
from paraclear.state import keys as k
from tests.clearing.test_kernels import _market
from tests.node.test_builder import ACCOUNTS, Flow


def _built(seed: int, count: int) -> tuple[State, ClearingMachine, Block[Transaction]]:
    """A state with a market and one built block of random order flow (fills included)."""
    ex = _market()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    height = ex.height + 1
    txs = Flow(seed, dict(ex.nonces)).batch(count, height)
    built = builder.build(ex.state, height, ex.time + 60 * height, txs)
    return ex.state, ex.machine, built.block


def _of(pending: dict[Key, object], locks: set[Lock]) -> dict[Key, object]:
    return {key: value for key, value in pending.items() if key[:2] in locks}


def test_a_batch_flushes_the_needed_accounts_and_holds_the_rest_until_flush() -> None:
    state, reference, block = _built(seed=3, count=160)
    txs, half = list(block.txs), len(block.txs) // 2
    want = BlockRun(state.data, reference, block.context)
    want.run_all(txs[:half])
    compiled = ClearingMachine(reference.margin_model, engine="compiled")
    engine = compiled.batch_runner
    assert isinstance(engine, CompiledEngine)
    run = BlockRun(state.copy().data, compiled, block.context)
    needed = {k.account_lock(name) for name in ACCOUNTS[:2]}

    engine.run_batch(run, txs[:half], needed)
    assert _of(run.pending, needed) == _of(want.pending, needed)
    held = want.pending.keys() - run.pending.keys()
    assert held  # the other accounts' writes stayed in the tables
    assert all(key[:2] not in needed for key in held)
    engine.flush(run)
    assert run.pending == want.pending

    want.run_all(txs[half:])
    engine.run_batch(run, txs[half:], needed)
    engine.flush(run)
    assert run.pending == want.pending
    assert run.receipts == want.receipts


def test_a_needed_lock_that_is_not_an_account_flushes_every_row() -> None:
    state, reference, block = _built(seed=4, count=80)
    want = BlockRun(state.data, reference, block.context)
    want.run_all(block.txs)
    compiled = ClearingMachine(reference.margin_model, engine="compiled")
    engine = compiled.batch_runner
    assert isinstance(engine, CompiledEngine)
    run = BlockRun(state.copy().data, compiled, block.context)
    engine.run_batch(run, block.txs, {k.account_lock(ACCOUNTS[0]), k.FEE_POOL[:2]})
    assert run.pending == want.pending


def test_rows_held_in_one_batch_are_flushed_when_a_later_batch_needs_their_account() -> None:
    state, reference, block = _built(seed=5, count=160)
    txs, half = list(block.txs), len(block.txs) // 2
    want = BlockRun(state.data, reference, block.context)
    compiled = ClearingMachine(reference.margin_model, engine="compiled")
    engine = compiled.batch_runner
    assert isinstance(engine, CompiledEngine)
    run = BlockRun(state.copy().data, compiled, block.context)
    first, later = {k.account_lock(ACCOUNTS[0])}, {k.account_lock(name) for name in ACCOUNTS[1:]}
    want.run_all(txs[:half])
    engine.run_batch(run, txs[:half], first)
    assert not _of(run.pending, later)  # held
    assert _of(want.pending, later)
    want.run_all(txs[half:])
    engine.run_batch(run, txs[half:], later)
    assert _of(run.pending, later) == _of(want.pending, later)
    engine.flush(run)
    assert run.pending == want.pending
