"""The parallel executor's worker pools: how the shard workers of a block are driven.

* ``InlinePool`` (backend ``inline``): every worker in this process, stepped in lockstep.
* ``ProcessPool`` (backend ``processes``): worker 0 in this process, the others in forked
  processes (``worker_main``), a pipe between every pair of workers (``PipeExchange``);
  tasks and results cross them in the encodings of ``wire``.

Both run the same steps of ``shard.ShardWorker`` (``run_worker``) and raise ``WorkerLost``
when a worker dies, so the executor can run the block another way.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from time import perf_counter, thread_time
from typing import Any

from paraclear.execution.gc import paused_gc
from paraclear.execution.machine import StateMachine
from paraclear.execution.shard import ShardWorker
from paraclear.execution.task import Message, Task, TaskTx, WorkerLost, WorkerResult
from paraclear.execution.wire import WireCodec, dumps, loads
from paraclear.state import State

Exchange = Callable[[list[Message]], list[Message]]


class InlinePool:
    """All shard workers in this process, stepped in lockstep."""

    def __init__(self, machine: StateMachine[Any], workers: int, state: State) -> None:
        self.workers = [ShardWorker(i, workers, machine) for i in range(workers)]
        for worker in self.workers:
            worker.load(state, share_tree=False)

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


class ProcessPool:
    """Worker 0 in this process, workers 1… in forked processes; a pipe between every pair
    of workers and from this process to each forked one.

    Hosting a worker here spares a process: on a machine with as many cores as workers, the
    coordinator's own work would otherwise compete with every worker's.
    """

    def __init__(
        self, machine: StateMachine[Any], workers: int, state: State, codec: WireCodec
    ) -> None:
        state.tree()  # bring the tree up to date so that workers inherit current subtrees
        context = multiprocessing.get_context("fork")
        self.codec = codec
        self.conns: list[Connection] = []
        child_conns: list[Connection] = []
        peers: list[dict[int, Connection]] = [{} for _ in range(workers)]
        for _ in range(1, workers):
            mine, theirs = context.Pipe()
            self.conns.append(mine)
            child_conns.append(theirs)
        for i in range(workers):
            for j in range(i + 1, workers):
                a, b = context.Pipe()
                peers[i][j], peers[j][i] = a, b
        every = child_conns + [conn for table in peers[1:] for conn in table.values()]
        every += list(peers[0].values())
        self.processes = []
        for index in range(1, workers):
            process = context.Process(
                target=worker_main,
                args=(index, workers, machine, state, codec, child_conns[index - 1], peers[index]),
                kwargs={"every": every},
                daemon=True,
                name=f"paraclear-shard-{index}",
            )
            process.start()
            self.processes.append(process)
        local = set(map(id, peers[0].values()))
        for conn in every:
            if id(conn) not in local:
                conn.close()
        self.local = ShardWorker(0, workers, machine)
        self.local.load(state, share_tree=False)
        self.exchange = PipeExchange(0, workers, peers[0], quit_on_error=False)

    def run(self, tasks: list[Task]) -> list[WorkerResult]:
        codec = self.codec
        try:
            for conn, task in zip(self.conns, tasks[1:], strict=True):
                conn.send_bytes(_encode_task(task, codec))
            self.exchange.waited = self.exchange.spent = 0.0
            local = run_worker(self.local, tasks[0], self.exchange)
            local.metrics.exchange_wait_seconds = self.exchange.waited
            local.metrics.exchange_seconds = self.exchange.spent
            finished = perf_counter()
        except (OSError, EOFError) as error:
            raise WorkerLost(f"a worker died: {error!r}") from error
        results: dict[int, WorkerResult] = {0: local}
        waiting = {conn: index for index, conn in enumerate(self.conns, start=1)}
        sentinels = {p.sentinel: index for index, p in enumerate(self.processes, start=1)}
        while waiting:
            for ready in wait(list(waiting) + list(sentinels)):
                if isinstance(ready, Connection) and ready in waiting:
                    index = waiting.pop(ready)
                    try:
                        results[index] = _decode_result(ready.recv_bytes(), codec)
                    except (EOFError, OSError) as error:
                        raise WorkerLost(f"worker {index} died") from error
                elif isinstance(ready, int) and ready in sentinels:
                    index = sentinels[ready]
                    if index in waiting.values():
                        raise WorkerLost(f"worker {index} died")
        local.metrics.results_tail_seconds = perf_counter() - finished
        return [results[index] for index in range(len(tasks))]

    def close(self) -> None:
        self.exchange.close()
        for conn in self.conns:
            conn.close()
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.join(timeout=5)


class PipeExchange:
    """One worker's lockstep exchange over pipes: send to every peer (from a thread, so two
    workers sending large batches to each other cannot block each other), then receive."""

    def __init__(
        self, index: int, workers: int, peers: dict[int, Connection], *, quit_on_error: bool
    ) -> None:
        self.workers = workers
        self.peers = peers
        self.outbox: queue.SimpleQueue[tuple[Connection, bytes] | None] = queue.SimpleQueue()
        self.quit_on_error = quit_on_error
        self.waited = 0.0
        """Seconds blocked waiting for peers (reset by whoever reports it)."""
        self.spent = 0.0
        """Seconds in exchanges, waiting and encoding included."""
        self.thread = threading.Thread(target=self._send_forever, daemon=True)
        self.thread.start()

    def __call__(self, out: list[Message]) -> list[Message]:
        started = perf_counter()
        for peer, conn in self.peers.items():
            self.outbox.put((conn, dumps(out[peer])))
        ins: list[Message] = [(False, [])] * self.workers
        for peer, conn in self.peers.items():
            waiting = perf_counter()
            data = conn.recv_bytes()
            self.waited += perf_counter() - waiting
            ins[peer] = loads(data)
        self.spent += perf_counter() - started
        return ins

    def close(self) -> None:
        self.outbox.put(None)
        for conn in self.peers.values():
            conn.close()

    def _send_forever(self) -> None:
        while (item := self.outbox.get()) is not None:
            conn, data = item
            try:
                conn.send_bytes(data)
            except OSError:
                if self.quit_on_error:
                    os._exit(3)
                return


def run_worker(worker: ShardWorker, task: Task, exchange: Exchange) -> WorkerResult:
    """The steps of one block on one worker (the same order as ``InlinePool.run``), each
    ending in ``exchange``: one message to every peer, one from every peer."""
    worker.receive_prefetch(exchange(worker.start(task)))
    for round_ in range(task.rounds):
        worker.receive_round(exchange(worker.run_round(round_)))
    return worker.commit(exchange(worker.final()))


def _encode_task(task: Task, codec: WireCodec) -> bytes:
    txs = codec.encode_txs([item.tx for item in task.txs])
    meta = [(item.index, item.round, item.sends, item.predicted, item.replica) for item in task.txs]
    return dumps(
        (
            task.height,
            task.time,
            task.rounds,
            txs,
            meta,
            task.prefetch,
            task.final,
            task.pure_deltas,
            task.die_after,
        )
    )


def _decode_task(data: bytes, codec: WireCodec) -> Task:
    height, time, rounds, txs, meta, prefetch, final, pure, die_after = loads(data)
    items = [
        TaskTx(index, tx, round_, sends, predicted, replica)
        for tx, (index, round_, sends, predicted, replica) in zip(
            codec.decode_txs(txs), meta, strict=True
        )
    ]
    return Task(height, time, rounds, items, prefetch, final, pure, die_after)


def _encode_result(result: WorkerResult, codec: WireCodec) -> bytes:
    return dumps(
        (
            codec.encode_receipts(result.receipts),
            result.writes,
            result.subtrees,
            result.transfers,
            result.metrics,
            result.aborted,
            result.mispredicted,
        )
    )


def _decode_result(data: bytes, codec: WireCodec) -> WorkerResult:
    receipts, writes, subtrees, transfers, metrics, aborted, mispredicted = loads(data)
    return WorkerResult(
        codec.decode_receipts(receipts), writes, subtrees, transfers, metrics, aborted, mispredicted
    )


def worker_main(
    index: int,
    workers: int,
    machine: StateMachine[Any],
    state: State,
    codec: WireCodec,
    coordinator: Connection,
    peers: dict[int, Connection],
    every: list[Connection],
) -> None:
    """A worker process: load the shard, then run blocks until the coordinator hangs up."""
    mine = {id(coordinator), *(id(conn) for conn in peers.values())}
    for conn in every:
        if id(conn) not in mine:
            conn.close()
    worker = ShardWorker(index, workers, machine)
    worker.load(state, share_tree=True)
    del state
    gc.freeze()  # what the worker inherited and loaded is long-lived: never scan it again
    exchange = PipeExchange(index, workers, peers, quit_on_error=True)

    while True:
        try:
            raw = coordinator.recv_bytes()
        except (EOFError, OSError):
            return
        cpu = thread_time()
        task = _decode_task(raw, codec)
        try:
            with paused_gc():
                exchange.waited = exchange.spent = 0.0
                result = run_worker(worker, task, exchange)
                result.metrics.exchange_wait_seconds = exchange.waited
                result.metrics.exchange_seconds = exchange.spent
        except (WorkerLost, EOFError, OSError):
            os._exit(1)
        result.metrics.process_cpu_seconds = thread_time() - cpu  # all but encoding the result
        coordinator.send_bytes(_encode_result(result, codec))
