"""The parallel executor's ``threads`` backend: every shard worker in this process, worker 0
on the calling thread and workers 1… on persistent threads, exchanging through in-process
queues (nothing is encoded, pickled or copied).

Each ordered pair of workers has its own queue (``lines[to][sender]``), so a worker that runs
a step ahead of a peer never mixes up their messages. Whatever a worker raises mid-block
(fault injection's ``WorkerLost``, or a bug) it reports, and it puts ``LOST`` on each of its
lines to its peers; a worker that reads ``LOST`` stops the block and passes it on, so no
thread waits forever. The pool then raises ``WorkerLost`` and the executor runs the block
sequentially from the untouched block-start state, and starts a new pool for the next one.

Python code holds the interpreter lock: the threads run at once only where the machine's
code releases it (compiled ``nogil`` kernels, hashing in compiled code).
"""

from __future__ import annotations

import queue
import threading
from time import perf_counter
from typing import Any, Final

from paraclear.execution.machine import StateMachine
from paraclear.execution.pool import run_worker
from paraclear.execution.shard import ShardWorker
from paraclear.execution.task import Message, Task, WorkerLost, WorkerResult
from paraclear.state import State

LOST: Final = "lost"
"""Put on a worker's lines to its peers when it stops mid-block."""

Line = queue.SimpleQueue[Message | str]
Report = tuple[int, WorkerResult | BaseException]


class PeerStopped(WorkerLost):
    """A peer stopped mid-block, so this worker stopped too."""


class QueueExchange:
    """One worker's lockstep exchange over queues: put a message on each peer's line from
    it, then take one from each peer's line to it."""

    def __init__(self, index: int, lines: list[list[Line]]) -> None:
        self.index = index
        self.lines = lines
        self.waited = 0.0
        """Seconds blocked waiting for peers (reset by whoever reports it)."""
        self.spent = 0.0
        """Seconds in exchanges, waiting included."""

    def __call__(self, out: list[Message]) -> list[Message]:
        started = perf_counter()
        index, lines = self.index, self.lines
        for peer, message in enumerate(out):
            if peer != index:
                lines[peer][index].put(message)
        ins: list[Message] = [(False, [])] * len(out)
        mine = lines[index]
        for peer in range(len(out)):
            if peer == index:
                continue
            waiting = perf_counter()
            got = mine[peer].get()
            self.waited += perf_counter() - waiting
            if isinstance(got, str):
                raise PeerStopped(f"worker {peer} stopped mid-block")
            ins[peer] = got
        self.spent += perf_counter() - started
        return ins

    def stop(self) -> None:
        """Tell every peer that this worker stopped mid-block."""
        for peer, line in enumerate(self.lines):
            if peer != self.index:
                line[self.index].put(LOST)


class ThreadPool:
    """Worker 0 on the calling thread, workers 1… on threads of their own."""

    def __init__(self, machine: StateMachine[Any], workers: int, state: State) -> None:
        self.workers = [ShardWorker(i, workers, machine) for i in range(workers)]
        for worker in self.workers:
            worker.load(state)
        self.lines: list[list[Line]] = [
            [queue.SimpleQueue() for _ in range(workers)] for _ in range(workers)
        ]
        self.exchanges = [QueueExchange(i, self.lines) for i in range(workers)]
        self.inboxes: list[queue.SimpleQueue[Task | None]] = [
            queue.SimpleQueue() for _ in range(workers)
        ]
        self.reports: queue.SimpleQueue[Report] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(
                target=self._serve, args=(i,), daemon=True, name=f"paraclear-shard-{i}"
            )
            for i in range(1, workers)
        ]
        for thread in self.threads:
            thread.start()

    def run(self, tasks: list[Task]) -> list[WorkerResult]:
        """Run a block's tasks, one per worker; raises ``WorkerLost`` if any worker stopped."""
        for index in range(1, len(tasks)):
            self.inboxes[index].put(tasks[index])
        reports: dict[int, WorkerResult | BaseException] = dict([self._step(0, tasks[0])])
        finished = perf_counter()
        while len(reports) < len(tasks):
            index, report = self.reports.get()
            reports[index] = report
        lost = {i: r for i, r in reports.items() if isinstance(r, BaseException)}
        if lost:
            first = min(lost, key=lambda i: (isinstance(lost[i], PeerStopped), i))
            raise WorkerLost(f"worker {first} stopped: {lost[first]!r}") from lost[first]
        results: list[WorkerResult] = [reports[i] for i in range(len(tasks))]  # type: ignore[misc]
        results[0].metrics.results_tail_seconds = perf_counter() - finished
        return results

    def close(self) -> None:
        """Stop the threads (each finishes its block first)."""
        for inbox in self.inboxes[1:]:
            inbox.put(None)
        for thread in self.threads:
            thread.join(timeout=5)
        self.threads = []

    def _serve(self, index: int) -> None:
        inbox = self.inboxes[index]
        while (task := inbox.get()) is not None:
            self.reports.put(self._step(index, task))

    def _step(self, index: int, task: Task) -> Report:
        """Worker ``index``'s part of a block: its result, or what stopped it."""
        exchange = self.exchanges[index]
        exchange.waited = exchange.spent = 0.0
        try:
            result = run_worker(self.workers[index], task, exchange)
        except Exception as error:  # any failure: the block runs another way
            exchange.stop()
            return index, error
        result.metrics.exchange_wait_seconds = exchange.waited
        result.metrics.exchange_seconds = exchange.spent
        return index, result
