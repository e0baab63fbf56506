"""The sequential executor: transactions one by one in block order. The oracle and fallback."""

from __future__ import annotations

from time import perf_counter
from typing import Final, Generic, TypeVar

from paraclear.execution.gc import paused_gc
from paraclear.execution.machine import Block, StateMachine
from paraclear.execution.result import BlockMetrics, BlockResult, Receipt
from paraclear.execution.transaction import run_transaction
from paraclear.state import Key, State, StateView

TxT = TypeVar("TxT")
_MISSING: Final = object()


def execute_block(state: State, block: Block[TxT], machine: StateMachine[TxT]) -> BlockResult:
    """Execute ``block`` on ``state`` one transaction at a time, commit, and return the result.

    ``state`` is updated in place; the result's ``state_root`` is its new root.
    """
    with paused_gc():
        return _execute_block(state, block, machine)


def _execute_block(state: State, block: Block[TxT], machine: StateMachine[TxT]) -> BlockResult:
    started = perf_counter()
    data = state.data
    pending: dict[Key, object] = {}
    receipts: list[Receipt] = []
    ctx = block.context
    for index, tx in enumerate(block.txs):
        view = StateView(data, pending, machine.access(tx))
        receipts.append(run_transaction(machine, tx, view, ctx, index))
        fold_into(pending, data, view)
    executed = perf_counter()
    state.apply(pending)
    committed = perf_counter()
    root = state.root()
    done = perf_counter()
    metrics = BlockMetrics(
        txs=len(receipts),
        failed=sum(1 for receipt in receipts if not receipt.ok),
        keys_written=len(pending),
        execute_seconds=executed - started,
        commit_seconds=committed - executed,
        root_seconds=done - committed,
    )
    return BlockResult(receipts, pending, root, metrics)


def fold_into(pending: dict[Key, object], data: dict[Key, object], view: StateView) -> None:
    """Merge a finished view into the block's pending writes, folding its deltas."""
    pending.update(view.writes)
    for key, amount in view.deltas.items():
        base = pending.get(key, _MISSING)
        if base is _MISSING:
            base = data.get(key)
        pending[key] = (base or 0) + amount  # type: ignore[operator]


class SequentialExecutor(Generic[TxT]):
    """``execute_block`` behind the executor interface shared with the parallel executor."""

    def __init__(self, machine: StateMachine[TxT]) -> None:
        self.machine = machine

    def execute(self, state: State, block: Block[TxT]) -> BlockResult:
        return execute_block(state, block, self.machine)
