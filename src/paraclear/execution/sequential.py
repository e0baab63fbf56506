"""The sequential executor: transactions one by one in block order. The oracle and fallback."""

from __future__ import annotations

from typing import Generic, TypeVar

from paraclear.execution.block_run import BatchRunner, BlockRun
from paraclear.execution.gc import paused_gc
from paraclear.execution.machine import Block, StateMachine
from paraclear.execution.result import BlockResult
from paraclear.state import State

TxT = TypeVar("TxT")


def execute_block(
    state: State,
    block: Block[TxT],
    machine: StateMachine[TxT],
    runner: BatchRunner[TxT] | None = None,
) -> BlockResult:
    """Execute ``block`` on ``state`` one transaction at a time, commit, and return the result.

    ``state`` is updated in place; the result's ``state_root`` is its new root. ``runner``:
    a batch runner to use instead of the machine's own.
    """
    with paused_gc():
        run = BlockRun(state.data, machine, block.context, runner=runner)
        run.run_all(block.txs)
        return run.finish(state)


class SequentialExecutor(Generic[TxT]):
    """``execute_block`` behind the executor interface shared with the parallel executor."""

    def __init__(self, machine: StateMachine[TxT]) -> None:
        self.machine = machine

    def execute(self, state: State, block: Block[TxT]) -> BlockResult:
        return execute_block(state, block, self.machine)
