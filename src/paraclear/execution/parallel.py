"""``ParallelExecutor``: a block on sharded workers, identical to the sequential executor.

The coordinator (this process) does little per transaction: it asks the machine for the
access set, speculates optimistic transactions to predict theirs, plans the block
(``schedule.plan_block``: dependencies, placement, rounds, which locks move), sends each
worker its part, and merges receipts, writes and subtree digests. The workers
(``shard.ShardWorker``) run transactions, exchange only the locks a peer will read, commit
their shard and hash their subtrees in parallel.

Backends: ``processes`` (persistent forked worker processes, pipes between every pair) and
``inline`` (the same workers and steps in this process, for debugging and tests).

Whenever the parallel run cannot finish — a worker died, or an optimistic transaction
stepped outside its predicted access set — the block runs on the sequential executor from
the untouched block-start state, so the result is the same, and the pool is rebuilt from
state before the next block. The same happens if anything else changed state since this
executor's last block.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from time import perf_counter, thread_time
from typing import Any, Generic, Literal, TypeVar

from paraclear.execution.gc import paused_gc
from paraclear.execution.machine import Block, BlockContext, StateMachine
from paraclear.execution.metrics import BlockMetrics, ParallelMetrics
from paraclear.execution.result import BlockResult, Receipt
from paraclear.execution.schedule import Schedule, plan_block
from paraclear.execution.sequential import execute_block
from paraclear.execution.shard import (
    Message,
    ShardWorker,
    Task,
    TaskTx,
    WorkerLost,
    WorkerResult,
    owner_of,
)
from paraclear.execution.wire import WireCodec, dumps, loads
from paraclear.state import AccessSet, Key, State, StateView, TxFailure
from paraclear.state.smt import EMPTY, RADIX, combine_subtrees

TxT = TypeVar("TxT")
Backend = Literal["processes", "inline"]
BACKENDS: tuple[Backend, ...] = ("processes", "inline")
MAX_WORKERS = RADIX
FORKED_COST = 1.15
"""A transaction's cost on a forked worker relative to worker 0 in the coordinator's process:
the forked one also decodes its task, encodes its results and pickles its exchanges
(measured: 10–25 % more CPU for the same share at 10,000 accounts)."""
MAX_ATTEMPTS = 3
"""Parallel attempts at a block whose optimistic transactions keep leaving their predicted
access sets, before it runs sequentially."""


class ParallelExecutor(Generic[TxT]):
    """Runs blocks on ``workers`` shard workers; same interface and result as sequential.

    Use it as a context manager (or call ``close``) to stop worker processes.
    """

    def __init__(
        self, machine: StateMachine[TxT], workers: int = 2, backend: Backend = "processes"
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.machine = machine
        self.workers = workers
        self.backend = backend
        self._codec = WireCodec(machine)
        self._pool: _InlinePool | _ProcessPool | None = None
        self._state: State | None = None
        self._version = -1
        self._fault: tuple[int, int] | None = None
        self._weights = [1.0] + [FORKED_COST] * (workers - 1) if backend == "processes" else None

    def __enter__(self) -> ParallelExecutor[TxT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (a later block starts new ones)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def inject_fault(self, worker: int, after_txs: int) -> None:
        """For tests: in the next block, worker ``worker`` is lost after ``after_txs``
        transactions (its process exits; inline, it raises ``WorkerLost``)."""
        if not 0 <= worker < self.workers:
            raise ValueError(f"no worker {worker}")
        self._fault = (worker, after_txs)

    def execute(self, state: State, block: Block[TxT]) -> BlockResult:
        """Execute ``block`` on ``state`` (updated in place) and return the result."""
        with paused_gc():
            return self._execute(state, block)

    def _execute(self, state: State, block: Block[TxT]) -> BlockResult:
        started = perf_counter()
        accesses, speculated = self._accesses(state, block)
        metrics = ParallelMetrics(
            self.backend,
            self.workers,
            access_seconds=perf_counter() - started,
            speculative_runs=speculated,
            reexecutions=speculated,
        )
        fault, self._fault = self._fault, None
        while True:
            planned_from = perf_counter()
            schedule = plan_block(accesses, self.workers, self._owner, self._weights)
            planned = perf_counter()
            metrics.attempts += 1
            metrics.dag_seconds = planned - planned_from
            try:
                pool = self._pool_for(state)
                tasks = self._tasks(block, schedule, accesses, fault)
                metrics.tasks_seconds = perf_counter() - planned
                results = pool.run(tasks)
            except WorkerLost as lost:
                self.close()
                return self._fallback(state, block, metrics, f"worker lost: {lost}", started)
            missed = [r.mispredicted for r in results if r.mispredicted is not None]
            if not any(result.aborted for result in results):
                break
            # The workers discarded the block and still hold its starting state. Widen the
            # prediction of the transaction that stepped outside it and run the block again;
            # after a few rounds of this, run it sequentially.
            metrics.reexecutions += len(block.txs)
            index, lock, _ = min(missed)
            if metrics.attempts >= MAX_ATTEMPTS:
                return self._fallback(state, block, metrics, f"mispredicted: {missed}", started)
            access = accesses[index]
            accesses[index] = AccessSet(
                access.reads, access.writes | {lock}, access.deltas, predicted=True
            )
        metrics.dag = schedule.metrics
        metrics.rounds = schedule.rounds
        metrics.spread = schedule.spread
        metrics.replicated = len(schedule.replicated)
        executed = perf_counter()
        receipts: list[Receipt | None] = [None] * len(block.txs)
        write_set: dict[Key, object] = {}
        parts = [(EMPTY, 0)] * RADIX
        for result in results:
            for receipt in result.receipts:
                receipts[receipt.index] = receipt
            write_set.update(result.writes)
            for nibble, digest, leaves in result.subtrees:
                parts[nibble] = (digest, leaves)
        if any(receipt is None for receipt in receipts):
            raise RuntimeError("a transaction of the block has no receipt")
        root = combine_subtrees(parts)
        merged = perf_counter()
        state.apply_hashed(write_set, root)
        self._version = state.version
        done = perf_counter()
        metrics.merge_seconds = merged - executed
        metrics.per_worker = [result.metrics for result in results]
        metrics.transfers = sum(result.transfers for result in results)
        final: list[Receipt] = receipts  # type: ignore[assignment]
        block_metrics = BlockMetrics(
            txs=len(final),
            failed=sum(1 for receipt in final if not receipt.ok),
            keys_written=len(write_set),
            execute_seconds=executed - started,
            commit_seconds=done - executed,
            parallel=metrics,
        )
        return BlockResult(final, write_set, root, block_metrics)

    # --- internals -----------------------------------------------------------------------

    def _owner(self, lock: tuple[str, ...]) -> int:
        return owner_of(lock, self.workers)

    def _accesses(self, state: State, block: Block[TxT]) -> tuple[list[AccessSet], int]:
        """Declared access sets; for optimistic transactions, a prediction from running them
        on the block-start state (their accesses there)."""
        machine, ctx = self.machine, block.context
        accesses: list[AccessSet] = []
        speculated = 0
        for tx in block.txs:
            access = machine.access(tx)
            if access is None:
                access = _predict(machine, tx, state, ctx)
                speculated += 1
            accesses.append(access)
        return accesses, speculated

    def _tasks(
        self,
        block: Block[TxT],
        schedule: Schedule,
        accesses: Sequence[AccessSet],
        fault: tuple[int, int] | None,
    ) -> list[Task]:
        per_worker: list[list[TaskTx]] = [[] for _ in range(self.workers)]
        sends = schedule.sends
        for index, tx in enumerate(block.txs):
            access = accesses[index]
            predicted = None
            if access.predicted:
                predicted = (
                    tuple(sorted(access.reads)),
                    tuple(sorted(access.writes)),
                    tuple(sorted(access.deltas)),
                )
            worker = schedule.worker_of[index]
            round_ = schedule.round_of[index]
            if worker < 0:  # replicated on every worker; worker 0 reports it
                for copy, items in enumerate(per_worker):
                    known = access if copy == 0 else None
                    items.append(TaskTx(index, tx, round_, (), predicted, copy > 0, known))
                continue
            known = access if worker == 0 else None  # worker 0 may share this process
            per_worker[worker].append(
                TaskTx(index, tx, round_, sends.get(index, ()), predicted, False, known)
            )
        tasks = []
        for worker, items in enumerate(per_worker):
            items.sort(key=lambda item: (item.round, item.index))
            tasks.append(
                Task(
                    height=block.height,
                    time=block.time,
                    rounds=schedule.rounds,
                    txs=items,
                    prefetch=schedule.prefetch[worker],
                    final=schedule.final[worker],
                    pure_deltas=schedule.pure_deltas,
                    die_after=fault[1] if fault is not None and fault[0] == worker else None,
                )
            )
        return tasks

    def _pool_for(self, state: State) -> _InlinePool | _ProcessPool:
        if self._pool is not None and (state is not self._state or state.version != self._version):
            self.close()
        if self._pool is None:
            if self.backend == "inline":
                self._pool = _InlinePool(self.machine, self.workers, state)
            else:
                self._pool = _ProcessPool(self.machine, self.workers, state, self._codec)
            self._state, self._version = state, state.version
        return self._pool

    def _fallback(
        self,
        state: State,
        block: Block[TxT],
        metrics: ParallelMetrics,
        reason: str,
        started: float,
    ) -> BlockResult:
        """Run the block sequentially from the block-start state (which nothing touched)."""
        result = execute_block(state, block, self.machine)
        metrics.fallback = reason
        metrics.reexecutions += len(block.txs)
        result.metrics.parallel = metrics
        result.metrics.execute_seconds = perf_counter() - started - result.metrics.commit_seconds
        return result


def _predict(machine: StateMachine[Any], tx: object, state: State, ctx: BlockContext) -> AccessSet:
    """The locks an optimistic transaction touches when run alone on the block-start state."""
    view = StateView(state.data)
    try:
        machine.begin(tx, view, ctx)
        machine.apply(tx, view, ctx)
    except TxFailure:
        pass
    return AccessSet(
        {key[:2] for key in view.reads},
        {key[:2] for key in view.writes},
        {key[:2] for key in view.deltas},
        predicted=True,
    )


class _InlinePool:
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


class _ProcessPool:
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
                target=_worker_main,
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
        self.exchange = _PipeExchange(0, workers, peers[0], quit_on_error=False)

    def run(self, tasks: list[Task]) -> list[WorkerResult]:
        codec = self.codec
        try:
            for conn, task in zip(self.conns, tasks[1:], strict=True):
                conn.send_bytes(_encode_task(task, codec))
            self.exchange.waited = self.exchange.spent = 0.0
            local = _run_worker(self.local, tasks[0], self.exchange)
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


class _PipeExchange:
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


def _run_worker(worker: ShardWorker, task: Task, exchange: _PipeExchange) -> WorkerResult:
    """The steps of one block on one worker (the same order as ``_InlinePool.run``)."""
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


def _worker_main(
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
    exchange = _PipeExchange(index, workers, peers, quit_on_error=True)

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
                result = _run_worker(worker, task, exchange)
                result.metrics.exchange_wait_seconds = exchange.waited
                result.metrics.exchange_seconds = exchange.spent
        except (WorkerLost, EOFError, OSError):
            os._exit(1)
        result.metrics.process_cpu_seconds = thread_time() - cpu  # all but encoding the result
        coordinator.send_bytes(_encode_result(result, codec))
