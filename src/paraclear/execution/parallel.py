"""``ParallelExecutor``: a block on sharded workers, identical to the sequential executor.

The coordinator (this process) does little per transaction: it asks the machine for the
access set, speculates optimistic transactions to predict theirs, plans the block
(``schedule.plan_block``: dependencies, placement, rounds, which locks move), sends each
worker its part, and merges receipts, writes and subtree digests. The workers
(``shard.ShardWorker``) run transactions, exchange only the locks a peer will read, commit
their shard and hash their subtrees in parallel.

Backends: ``threads`` (``threads.ThreadPool``: persistent worker threads in this process,
queues between every pair, nothing encoded) and ``inline`` (``pool.InlinePool``: the same
workers and steps stepped in lockstep on one thread, for debugging and tests).

A block the schedule gives all to one worker (its rounds would cost more than they save: a
hot chain, a fully contended block) runs on the sequential executor in this thread instead,
with the same result and none of the workers' exchanges or bookkeeping. With ``spread``
``"measured"`` (the default) what a spread transaction costs against one run here is
measured on this machine (``gauge.SpreadGauge``) and the schedule's model weighs the
rounds by it; ``"model"`` takes them at the model's word (every spread transaction as dear
as a sequential one), which is what the tests of the workers use. Once the measured factor
rules out every schedule (it is at least the number of workers), a block is not planned at
all: it runs here without access sets or a schedule, and its metrics carry no DAG
(``block_dependencies`` gives them for reports); nor is a block too small to spread, nor
most blocks after a few that left the model nothing to spread (``SpreadGauge.
skip_contended``).

Whenever the parallel run cannot finish — a worker died or raised, or an optimistic transaction
stepped outside its predicted access set — the block runs on the sequential executor from
the untouched block-start state, so the result is the same, and the pool is rebuilt from
state before the next block. The same happens if anything else changed state since this
executor's last block.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Generic, Literal, TypeVar

import numpy as np

from paraclear.execution.access_batch import AccessBatch, access_batch
from paraclear.execution.block_run import BatchRunner
from paraclear.execution.gauge import SpreadGauge
from paraclear.execution.gc import paused_gc
from paraclear.execution.machine import Block, BlockContext, StateMachine
from paraclear.execution.metrics import BlockMetrics, DependencyMetrics, ParallelMetrics
from paraclear.execution.pool import InlinePool
from paraclear.execution.result import BlockResult, Receipt
from paraclear.execution.schedule import (
    EVERYWHERE,
    Schedule,
    batch_metrics,
    may_spread,
    plan_batch,
)
from paraclear.execution.sequential import execute_block
from paraclear.execution.task import Task, WorkerLost
from paraclear.execution.threads import ThreadPool
from paraclear.state import AccessSet, Key, Lock, State, StateView, TxFailure
from paraclear.state.smt import EMPTY, RADIX, combine_subtrees

TxT = TypeVar("TxT")
Backend = Literal["threads", "inline"]
BACKENDS: tuple[Backend, ...] = ("threads", "inline")
Spread = Literal["measured", "model"]
SPREADS: tuple[Spread, ...] = ("measured", "model")
MAX_WORKERS = RADIX
MAX_ATTEMPTS = 3
"""Parallel attempts at a block whose optimistic transactions keep leaving their predicted
access sets, before it runs sequentially."""


class ParallelExecutor(Generic[TxT]):
    """Runs blocks on ``workers`` shard workers; same interface and result as sequential.

    Use it as a context manager (or call ``close``) to stop its worker threads.
    """

    def __init__(
        self,
        machine: StateMachine[TxT],
        workers: int = 2,
        backend: Backend = "threads",
        *,
        unspread_sequential: bool = True,
        spread: Spread = "measured",
        gauge: SpreadGauge | None = None,
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if spread not in SPREADS:
            raise ValueError(f"spread must be one of {', '.join(SPREADS)}, got {spread!r}")
        self.machine = machine
        self.workers = workers
        self.backend = backend
        self.unspread_sequential = unspread_sequential
        """Run a block the schedule gives all to one worker on the sequential executor here
        (False: on that worker, as any other block; the tests of the workers use it)."""
        self.spread = spread
        self.gauge = gauge or SpreadGauge()
        """What spreading costs here, measured (used with ``spread`` ``"measured"`` and more
        than one worker: one worker runs every block the schedule gives it)."""
        self._pool: InlinePool | ThreadPool | None = None
        self._state: State | None = None
        self._version = -1
        self._fault: tuple[int, int] | None = None
        self._ran_here = False
        """Whether the last block worth spreading by the model ran here (or unplanned), so
        that the runner here mirrors the state."""
        spawn = getattr(getattr(machine, "batch_runner", None), "spawn", None)
        self._runner: BatchRunner[TxT] | None = spawn() if spawn is not None else None
        """The batch runner of blocks run here sequentially (not the machine's own, which
        may be following another state)."""

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
        transactions (it raises ``WorkerLost``)."""
        if not 0 <= worker < self.workers:
            raise ValueError(f"no worker {worker}")
        self._fault = (worker, after_txs)

    def execute(self, state: State, block: Block[TxT]) -> BlockResult:
        """Execute ``block`` on ``state`` (updated in place) and return the result."""
        with paused_gc():
            return self._execute(state, block)

    def _execute(self, state: State, block: Block[TxT]) -> BlockResult:
        started = perf_counter()
        fault, self._fault = self._fault, None
        measured = self.spread == "measured" and fault is None and self.workers > 1
        factor = self.gauge.factor() if measured else 1.0
        if measured and self.unspread_sequential:
            if not may_spread(len(block.txs), self.workers):
                return self._unplanned(state, block, factor, started, teach=False)
            if not self.gauge.measuring:
                if factor >= self.workers:
                    return self._unplanned(state, block, factor, started, teach=True)
                if self.gauge.skip_contended():
                    return self._unplanned(state, block, factor, started, teach=False)
        batch, speculated = block_accesses(self.machine, state, block)
        metrics = ParallelMetrics(
            self.backend,
            self.workers,
            access_seconds=perf_counter() - started,
            speculative_runs=speculated,
            reexecutions=speculated,
            cost_factor=factor,
        )
        while True:
            planned_from = perf_counter()
            here = self.unspread_sequential and fault is None  # run unspread blocks here
            schedule = plan_batch(
                batch, self.workers, place_unspread=not here, cost_factor=metrics.cost_factor
            )
            planned = perf_counter()
            metrics.attempts += 1
            metrics.dag_seconds = planned - planned_from
            if measured and may_spread(len(block.txs), self.workers):
                self.gauge.planned(schedule.cost < len(block.txs))
            if not schedule.placed:
                if measured and schedule.cost < len(block.txs):
                    # Kept here by the measured factor, not the model: the workers would
                    # follow every such block for nothing; a probe starts them again.
                    self.close()
                ran = self._sequential(state, block, metrics, schedule, started)
                if measured:
                    self._observe(False, started, schedule, len(block.txs), self._ran_here)
                # A block too small to spread (an oracle update) may not have used the
                # runner here at all: the next block may still pay for its reload.
                self._ran_here |= 0 < schedule.cost < len(block.txs)
                return ran
            try:
                metrics.started_workers = self._pool is None or self._version != state.version
                pool = self._pool_for(state)
                tasks = self._tasks(block, schedule, batch, fault)
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
            access = batch.access(index)
            assert access is not None
            widened = AccessSet(access.reads, access.writes | {lock}, access.deltas, predicted=True)
            batch = batch.replaced({index: widened})
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
        rows = [result.rows for result in results if result.rows is not None]
        state.apply_hashed(write_set, root, rows if len(rows) == len(results) else None)
        self._version = state.version
        done = perf_counter()
        metrics.merge_seconds = merged - executed
        metrics.per_worker = [result.metrics for result in results]
        metrics.transfers = sum(result.transfers for result in results)
        if measured and schedule.spread:
            self._observe(True, started, schedule, len(block.txs), not metrics.started_workers)
        self._ran_here = False
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

    def _unplanned(
        self, state: State, block: Block[TxT], factor: float, started: float, *, teach: bool
    ) -> BlockResult:
        """Run ``block`` here without access sets or a schedule. ``teach``: at a measured
        ``factor`` of at least the workers' number no schedule's cost beats one run here;
        the workers are stopped (they would follow every such block for nothing) and the
        gauge counts the block as declined. Otherwise the block left the model nothing to
        spread (too small, or contended as the blocks before it): the workers follow it
        as they follow a block the model declines, and it teaches the gauge nothing."""
        if teach:
            self.close()
        result = self._here(state, block)
        result.metrics.parallel = ParallelMetrics(
            self.backend, self.workers, cost_factor=factor, planned=False
        )
        result.metrics.execute_seconds = perf_counter() - started - result.metrics.commit_seconds
        if teach:
            self.gauge.observe(
                False, perf_counter() - started, None, len(block.txs), counted=self._ran_here
            )
            self._ran_here = True
        return result

    def _observe(
        self, spread: bool, started: float, schedule: Schedule, txs: int, warm: bool
    ) -> None:
        """Tell the gauge how long a block took, from its start to its commit; ``warm``:
        it had nothing to catch up on (workers started and loading their shards, or the
        runner here reloading its tables after spread blocks), which the next block run
        the same way will not pay either."""
        seconds = perf_counter() - started
        self.gauge.observe(spread, seconds, schedule.cost, txs, counted=warm)

    def _tasks(
        self,
        block: Block[TxT],
        schedule: Schedule,
        batch: AccessBatch,
        fault: tuple[int, int] | None,
    ) -> list[Task]:
        """Each worker's part: its positions by round (a replicated transaction on every
        worker, reported by worker 0), the sends after them, and those it runs alone."""
        worker_of = np.asarray(schedule.worker_of, dtype=np.int64)
        round_of = np.asarray(schedule.round_of, dtype=np.int64)
        replicated = worker_of == EVERYWHERE
        replicas = frozenset(schedule.replicated)
        predicted = frozenset(np.flatnonzero(batch.predicted).tolist())
        sends: list[dict[int, list[tuple[int, Lock]]]] = [{} for _ in range(self.workers)]
        for position, pairs in schedule.sends.items():
            sends[schedule.worker_of[position]][position] = pairs
        bounds = np.arange(schedule.rounds + 1)
        tasks = []
        for worker in range(self.workers):
            mine = np.flatnonzero((worker_of == worker) | replicated)
            order = mine[np.argsort(round_of[mine], kind="stable")]
            copies = replicas if worker > 0 else frozenset()
            tasks.append(
                Task(
                    height=block.height,
                    time=block.time,
                    rounds=schedule.rounds,
                    txs=block.txs,
                    order=order.tolist(),
                    starts=np.searchsorted(round_of[order], bounds).tolist(),
                    sends=sends[worker],
                    one_by_one=predicted | copies if predicted else copies,
                    replicas=copies,
                    accesses=batch,
                    prefetch=schedule.prefetch[worker],
                    final=schedule.final[worker],
                    pure_deltas=schedule.pure_deltas,
                    die_after=fault[1] if fault is not None and fault[0] == worker else None,
                )
            )
        return tasks

    def _pool_for(self, state: State) -> InlinePool | ThreadPool:
        if self._pool is not None and (state is not self._state or state.version != self._version):
            self.close()
        if self._pool is None:
            if self.backend == "inline":
                self._pool = InlinePool(self.machine, self.workers, state)
            else:
                self._pool = ThreadPool(self.machine, self.workers, state)
            self._state, self._version = state, state.version
        return self._pool

    def _sequential(
        self,
        state: State,
        block: Block[TxT],
        metrics: ParallelMetrics,
        schedule: Schedule,
        started: float,
    ) -> BlockResult:
        """Run a block that the schedule gave to one worker (its rounds would cost more than
        they save) on the sequential executor in this thread, with a batch runner of this
        executor's own: the same result, without the workers' exchanges and bookkeeping."""
        result = self._here(state, block)
        metrics.dag = schedule.metrics
        metrics.rounds = schedule.rounds
        metrics.spread = False
        metrics.replicated = len(schedule.replicated)
        result.metrics.parallel = metrics
        result.metrics.execute_seconds = perf_counter() - started - result.metrics.commit_seconds
        return result

    def _here(self, state: State, block: Block[TxT]) -> BlockResult:
        """Run ``block`` on the sequential executor in this thread. Workers that mirrored
        ``state`` commit its writes of their shards and go on (rather than be started
        afresh and reload their shards at the next spread block)."""
        pool = self._pool
        in_step = pool is not None and state is self._state and state.version == self._version
        result = execute_block(state, block, self.machine, self._runner)
        if pool is not None and in_step:
            for worker in pool.workers:
                worker.follow(result.write_set, state.rows)
            self._version = state.version
        return result

    def _fallback(
        self,
        state: State,
        block: Block[TxT],
        metrics: ParallelMetrics,
        reason: str,
        started: float,
    ) -> BlockResult:
        """Run the block sequentially from the block-start state (which nothing touched)."""
        result = self._here(state, block)
        self._ran_here = False
        metrics.fallback = reason
        metrics.reexecutions += len(block.txs)
        result.metrics.parallel = metrics
        result.metrics.execute_seconds = perf_counter() - started - result.metrics.commit_seconds
        return result


def block_accesses(
    machine: StateMachine[TxT], state: State, block: Block[TxT]
) -> tuple[AccessBatch, int]:
    """The access sets of ``block``'s transactions, declared (in bulk where the machine offers
    it), and for optimistic ones predicted by running them alone on ``state`` (the
    block-start state); also how many were predicted."""
    batch = access_batch(machine, block.txs)
    undeclared = np.flatnonzero(~batch.declared).tolist()
    ctx = block.context
    predicted = {i: _predict(machine, block.txs[i], state, ctx) for i in undeclared}
    return batch.replaced(predicted), len(predicted)


def block_dependencies(
    machine: StateMachine[TxT], state: State, block: Block[TxT]
) -> DependencyMetrics:
    """The dependency metrics of ``block`` on ``state`` (before it runs) as the parallel
    executor's plan would give them (critical path, level widths, hot locks): for reports
    that want them for every block, whether the executor planned it or not."""
    return batch_metrics(block_accesses(machine, state, block)[0])


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
