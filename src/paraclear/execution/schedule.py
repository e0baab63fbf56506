"""Dependency mapping and the parallel schedule of a block, in one pass over its access sets.

The access sets come as lock ids in columns (``access_batch.AccessBatch``); the passes over
them are compiled (``plan_kernels``), and Python only turns the locks that the schedule
moves back into names.

**Dependencies** (for metrics: critical path, level widths, hot locks) follow the engine
contract: reads conflict with writes and deltas, writes with everything, deltas with reads
and writes but not with each other. A transaction's level is one more than the highest
level it conflicts with; the highest level is the critical path.

**The schedule** places each transaction on a worker and in a *round*. Workers own the
locks whose ``lock_nibble`` is theirs modulo the worker count. Every worker holds a private
copy of each lock it uses, so only real data flow needs a message:

* a transaction that reads or writes a lock needs the lock as the previous writer left it;
  if that writer ran elsewhere, its worker sends the lock's block writes after the round in
  which the writer ran, and the reader runs a round later;
* a write may not run in an earlier round than a read it follows (a write-after-read only
  orders rounds, it moves no data), so a lock never arrives at a worker ahead of a read
  there that needs the older version;
* deltas to a lock that nobody reads or writes in the block (*pure* deltas: fees, open
  interest) need nothing: each worker sums its own and sends the sums to the lock's owner
  at the end. Deltas to a lock that is also read or written are scheduled as writes;
* a worker that uses a lock it does not own gets the lock's committed keys from the owner
  before round 0 (*prefetch*), and the worker of a lock's last writer sends the lock's
  block writes to its owner at the end (*final*), who commits and hashes them.

Each transaction goes to the owner of one of the locks it writes, choosing the earliest
round, then the least loaded worker. If the rounds would cost more than they save (a hot
chain, a fully contended block), the whole block goes to worker 0 — which the process
backend runs inside the coordinator's own process, so nothing is encoded or sent but the
locks it does not own: narrow parts of the DAG run where they are cheapest, and the
owners still commit and hash their subtrees in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from paraclear.execution.access_batch import AccessBatch
from paraclear.execution.metrics import DependencyMetrics
from paraclear.execution.plan_kernels import flow_kernel, plan_kernel, read_prefetch_kernel
from paraclear.state import AccessSet, Lock

HOT_LOCKS = 10
"""Hot locks a block's metrics name."""
ROUND_COST_TXS = 4.0
"""What one round's exchange costs, in transactions' worth of time (a pipe round trip and
the wait for the slower worker), for deciding whether to spread a block at all."""


@dataclass
class Schedule:
    """Where and when each transaction runs, and which locks move between workers."""

    workers: int
    worker_of: list[int]
    round_of: list[int]
    rounds: int
    sends: dict[int, list[tuple[int, Lock]]]
    """After transaction i: (destination worker, lock) pairs to send in its round's batch."""
    prefetch: list[list[tuple[int, Lock]]]
    """Per worker: (destination, lock) pairs of committed locks to send before round 0."""
    final: list[list[tuple[int, Lock]]]
    """Per worker: (owner, lock) pairs of block writes to hand to owners at the end."""
    pure_deltas: frozenset[Lock]
    spread: bool
    """False when the whole block was given to one worker."""
    placed: bool
    """False for a block not worth spreading that the caller runs elsewhere (``plan_block``
    with ``place_unspread=False``): only its metrics are filled in, nothing is placed."""
    replicated: list[int]
    """Transactions run on every worker (``worker_of`` is -2): the first worker reports
    them, the others only use their writes."""
    metrics: DependencyMetrics
    cost: float = 0.0
    """What running the block spread would cost by the model, in transactions' time (each
    round's slowest worker plus ``ROUND_COST_TXS`` a round), before ``cost_factor``; set
    whenever the block has more than one worker to spread over."""


def plan_block(
    accesses: Sequence[AccessSet],
    workers: int,
    owner: Callable[[Lock], int],
    weights: Sequence[float] | None = None,
    *,
    place_unspread: bool = True,
) -> Schedule:
    """The dependency metrics and the schedule of a block with these access sets, each lock
    on worker ``owner(lock)`` (see ``plan_batch``)."""
    return plan_batch(
        AccessBatch.of(accesses), workers, owner, weights, place_unspread=place_unspread
    )


def plan_batch(
    batch: AccessBatch,
    workers: int,
    owner: Callable[[Lock], int] | None = None,
    weights: Sequence[float] | None = None,
    *,
    place_unspread: bool = True,
    cost_factor: float = 1.0,
) -> Schedule:
    """The dependency metrics and the schedule of a block with these access sets (every
    transaction declared, or predicted). Each lock is on worker ``owner(lock)``, by default
    its ``lock_nibble`` modulo ``workers`` (the shard workers' rule).

    ``weights`` is what a transaction costs on each worker, relative to the others (1.0 by
    default): a worker that pays for decoding and exchanges gets proportionally fewer. With
    ``place_unspread`` False, a block not worth spreading is not placed on one worker (a
    second pass over the block): the caller runs it sequentially and needs only its
    metrics. ``cost_factor``: what a transaction spread over the workers costs against one
    run sequentially (1.0: the same; ``SpreadGauge`` measures it; ``math.inf``: never
    spread)."""
    if not cost_factor > 0:
        raise ValueError(f"cost_factor must be positive, not {cost_factor}")
    return _Planner(batch, workers, owner, weights).plan(place_unspread, cost_factor)


def may_spread(txs: int, workers: int) -> bool:
    """Whether the model could spread a block of ``txs`` transactions over ``workers`` at
    all: its cost is at least one round (``ROUND_COST_TXS``) and each worker's share."""
    return workers > 1 and txs / workers + ROUND_COST_TXS < txs


def batch_metrics(batch: AccessBatch) -> DependencyMetrics:
    """The dependency metrics of a block with these access sets (every transaction declared
    or predicted), without a schedule: critical path, level widths, hot locks."""
    planner = _Planner(batch, 1, None)
    return planner._unplaced(planner._pass(-1)).metrics


EVERYWHERE = -2
MAX_PLANNED_WORKERS = 62
"""The compiled passes keep a set of workers as the bits of one int64 (``1 << worker``,
``(1 << workers) - 1``): 62 workers keep every mask positive and below 2**63."""
"""Worker of a replicated transaction: it runs on every worker."""


class _Planner:
    """Compiled passes over the batch's columns; Python only for what the schedule names."""

    def __init__(
        self,
        batch: AccessBatch,
        workers: int,
        owner: Callable[[Lock], int] | None,
        weights: Sequence[float] | None = None,
    ) -> None:
        if not batch.declared.all() and not batch.predicted[~batch.declared].all():
            raise ValueError("every transaction must be declared or predicted")
        if not 1 <= workers <= MAX_PLANNED_WORKERS:
            raise ValueError(f"workers must be 1 to {MAX_PLANNED_WORKERS}, not {workers}")
        self.batch = batch
        self.workers = workers
        self.weights = np.array(weights or [1.0] * workers, dtype=np.float64)
        if self.weights.shape != (workers,) or not (self.weights > 0).all():
            raise ValueError(f"need {workers} positive weights, got {weights}")
        locks = batch.table.locks
        (self.pointers, self.lock_ids, self.kinds, self.dense, dense_table, self.flows,
         pure) = flow_kernel(batch.pointers, batch.ids, batch.kinds, len(locks))  # fmt: skip
        self.locks: list[Lock] = [locks[i] for i in dense_table.tolist()]
        """Each dense lock (the locks the block names, by first appearance)."""
        if owner is None:
            self.owners = batch.table.nibbles[dense_table].astype(np.int64) % workers
        else:
            self.owners = np.array([owner(lock) for lock in self.locks], dtype=np.int64)
        self.flow_dense = np.flatnonzero(self.flows)
        """The dense id of each flow lock (written, or added to and also read or written)."""
        self.pure = frozenset(self.locks[d] for d in np.flatnonzero(pure).tolist())
        self.broadcast_reads = max(8, len(batch) // (4 * workers))
        """A transaction whose inputs all come from replicated ones and which writes a lock
        read this often runs on every worker (a barrier such as an oracle update)."""

    def _named(self, rows: np.ndarray, dense: np.ndarray | None) -> Iterator[tuple[int, int, Lock]]:
        """``(source, dest, lock)`` rows of the kernels with each lock id (a flow id, or with
        ``dense`` None a dense id) as its lock."""
        ids = rows[:, 2] if dense is None else dense[rows[:, 2]]
        locks = self.locks
        names = [locks[i] for i in ids.tolist()]
        return zip(rows[:, 0].tolist(), rows[:, 1].tolist(), names, strict=True)

    def plan(self, place_unspread: bool, cost_factor: float = 1.0) -> Schedule:
        placed = self._pass(-1)
        cost = self._spread_cost(placed[-1]) if self.workers > 1 else 0.0
        if self.workers > 1 and not cost * cost_factor < len(self.batch):
            if not place_unspread:
                schedule = self._unplaced(placed)
            else:
                schedule = self._schedule(self._pass(0), spread=False)
        else:
            schedule = self._schedule(placed, spread=True)
        schedule.cost = cost
        return schedule

    @staticmethod
    def _spread_cost(slowest: np.ndarray) -> float:
        """What rounds on several workers (``slowest``: the cost of each round's slowest
        worker) cost, in transactions' time: spreading is worth it when that is less than
        one worker running everything."""
        rounds = max(len(slowest), 1)
        return float(slowest.sum()) + ROUND_COST_TXS * rounds

    def _pass(self, single: int) -> tuple[np.ndarray, ...]:
        """The compiled pass over the block (everything on worker ``single`` if >= 0)."""
        return plan_kernel(  # type: ignore[no-any-return]
            self.pointers, self.lock_ids, self.kinds, self.owners[self.flow_dense],
            self.workers, single,
            self.broadcast_reads, self.weights, ROUND_COST_TXS,
        )  # fmt: skip

    def _unplaced(self, placed: tuple[np.ndarray, ...]) -> Schedule:
        """A block left to one worker, with its metrics only."""
        levels, counts = placed[2], placed[3]
        n_tx, workers = len(self.batch), self.workers
        return Schedule(
            workers=workers,
            worker_of=[0] * n_tx,
            round_of=[0] * n_tx,
            rounds=1,
            sends={},
            prefetch=[[] for _ in range(workers)],
            final=[[] for _ in range(workers)],
            pure_deltas=self.pure,
            spread=False,
            placed=False,
            replicated=[],
            metrics=self._metrics(levels, counts),
        )

    def _schedule(self, placed: tuple[np.ndarray, ...], spread: bool) -> Schedule:
        """The schedule of a pass: the kernel's lists as locks, and the prefetches of locks
        only read."""
        workers = self.workers
        (worker_of, round_of, levels, counts, sends, n_sends, fetches, n_fetches,
         finals, n_finals, slowest) = placed  # fmt: skip
        send_map: dict[int, list[tuple[int, Lock]]] = {}
        for tx, dest, lock in self._named(sends[:n_sends], self.flow_dense):
            send_map.setdefault(tx, []).append((dest, lock))
        prefetch: list[list[tuple[int, Lock]]] = [[] for _ in range(workers)]
        final: list[list[tuple[int, Lock]]] = [[] for _ in range(workers)]
        batch = self.batch
        reads = read_prefetch_kernel(
            batch.pointers, batch.kinds, self.dense, self.flows, self.owners, worker_of, workers
        )
        for lists, rows, dense in (
            (prefetch, fetches[:n_fetches], self.flow_dense),
            (final, finals[:n_finals], self.flow_dense),
            (prefetch, reads, None),
        ):
            for source, dest, lock in self._named(rows, dense):
                lists[source].append((dest, lock))
        worker_list = worker_of.tolist()
        return Schedule(
            workers=workers,
            worker_of=worker_list,
            round_of=round_of.tolist(),
            rounds=max(len(slowest), 1),
            sends=send_map,
            prefetch=prefetch,
            final=final,
            pure_deltas=self.pure,
            spread=spread,
            placed=True,
            replicated=np.flatnonzero(worker_of == EVERYWHERE).tolist(),
            metrics=self._metrics(levels, counts),
        )

    def _metrics(self, levels: np.ndarray, lock_counts: np.ndarray) -> DependencyMetrics:
        """Hot locks are the contended ones: accesses to locks written in the block (locks
        only read, and pure deltas, commute and cost nothing); the 10 most accessed, ties in
        order of first appearance in the block."""
        critical = int(levels.max()) if len(levels) else 0
        widths = np.bincount(levels, minlength=critical + 1)[1:].tolist()
        top = lock_counts
        if len(lock_counts) > HOT_LOCKS:
            top = np.flatnonzero(lock_counts >= np.partition(lock_counts, -HOT_LOCKS)[-HOT_LOCKS])
            hot = top[np.argsort(-lock_counts[top], kind="stable")[:HOT_LOCKS]].tolist()
        else:
            hot = np.argsort(-lock_counts, kind="stable").tolist()
        locks, dense = self.locks, self.flow_dense
        hottest = [(locks[int(dense[i])], int(lock_counts[i])) for i in hot]
        return DependencyMetrics(critical, widths, hottest)
