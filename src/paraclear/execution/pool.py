"""The parallel executor's ``inline`` backend and the steps every backend drives.

* ``InlinePool`` (backend ``inline``): every worker on the calling thread, stepped in
  lockstep, for debugging and tests.
* ``run_worker``: the steps of one block on one worker, each ending in an exchange with its
  peers, as the ``threads`` backend (``threads.ThreadPool``) drives them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paraclear.execution.machine import StateMachine
from paraclear.execution.shard import ShardWorker
from paraclear.execution.task import Message, Task, WorkerResult
from paraclear.state import State

Exchange = Callable[[list[Message]], list[Message]]


class InlinePool:
    """All shard workers in this process, stepped in lockstep."""

    def __init__(self, machine: StateMachine[Any], workers: int, state: State) -> None:
        self.workers = [ShardWorker(i, workers, machine) for i in range(workers)]
        for worker in self.workers:
            worker.load(state)

    def run(self, tasks: list[Task]) -> list[WorkerResult]:
        workers = self.workers

        def column(outs: list[list[Message]], to: int) -> list[Message]:
            return [out[to] for out in outs]

        outs = [worker.start(task) for worker, task in zip(workers, tasks, strict=True)]
        for worker in workers:
            worker.receive_prefetch(column(outs, worker.index))
        for round_ in range(tasks[0].rounds):
            outs = [worker.run_round(round_) for worker in workers]
            for worker in workers:
                worker.receive_round(column(outs, worker.index))
        outs = [worker.final() for worker in workers]
        return [worker.commit(column(outs, worker.index)) for worker in workers]

    def close(self) -> None:
        self.workers = []


def run_worker(worker: ShardWorker, task: Task, exchange: Exchange) -> WorkerResult:
    """The steps of one block on one worker (the same order as ``InlinePool.run``), each
    ending in ``exchange``: one message to every peer, one from every peer."""
    worker.receive_prefetch(exchange(worker.start(task)))
    for round_ in range(task.rounds):
        worker.receive_round(exchange(worker.run_round(round_)))
    return worker.commit(exchange(worker.final()))
