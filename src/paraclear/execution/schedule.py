"""Dependency mapping and the parallel schedule of a block, in one pass over its access sets.

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

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numba
import numpy as np

from paraclear.execution.metrics import DependencyMetrics
from paraclear.state import AccessSet, Lock

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


def plan_block(
    accesses: Sequence[AccessSet],
    workers: int,
    owner: Callable[[Lock], int],
    weights: Sequence[float] | None = None,
    *,
    place_unspread: bool = True,
) -> Schedule:
    """The dependency metrics and the schedule of a block with these access sets.

    ``weights`` is what a transaction costs on each worker, relative to the others (1.0 by
    default): a worker that pays for decoding and exchanges gets proportionally fewer. With
    ``place_unspread`` False, a block not worth spreading is not placed on one worker (a
    second pass over the block): the caller runs it sequentially and needs only its
    metrics."""
    return _Planner(accesses, workers, owner, weights).plan(place_unspread)


_EVERYWHERE = -2
"""Worker of a replicated transaction: it runs on every worker."""
_READ, _WRITE = 0, 1


class _Planner:
    """Lock ids and access lists in Python, then one compiled pass over the block."""

    def __init__(
        self,
        accesses: Sequence[AccessSet],
        workers: int,
        owner: Callable[[Lock], int],
        weights: Sequence[float] | None = None,
    ) -> None:
        self.accesses = accesses
        self.workers = workers
        self.owner = owner
        self.weights = np.array(weights or [1.0] * workers, dtype=np.float64)
        if self.weights.shape != (workers,) or not (self.weights > 0).all():
            raise ValueError(f"need {workers} positive weights, got {weights}")
        written: set[Lock] = set()
        read_sets: dict[frozenset[Lock], int] = {}
        delta_sets: dict[frozenset[Lock], int] = {}
        for access in accesses:
            written |= access.writes
            reads = access.reads
            read_sets[reads] = read_sets.get(reads, 0) + 1
            deltas = access.deltas
            if deltas:
                delta_sets[deltas] = delta_sets.get(deltas, 0) + 1
        touched = written.union(*read_sets)
        self.pure = frozenset().union(*delta_sets) - touched
        pure = self.pure
        written.update(*(deltas - pure for deltas in delta_sets))
        self.written = frozenset(written)
        self.read_sets = read_sets
        self.delta_sets = delta_sets
        # Lock ids (written locks first, in a fixed order), and per transaction the lock ids
        # that matter for data flow: reads of locks written in the block, then writes and
        # mixed deltas. Mostly C-level calls per transaction: this runs on every block.
        names = sorted(written)
        ids = dict(zip(names, range(len(names)), strict=True))
        self.names = names
        lookup = ids.__getitem__
        read_ids = {reads: sorted(reads & self.written) for reads in read_sets}
        pointers = [0]
        read_counts: list[int] = []
        lock_ids: list[int] = []
        for access in accesses:
            writes = access.writes
            read_locks = read_ids[access.reads]
            if read_locks and not writes.isdisjoint(read_locks):
                read_locks = [lock for lock in read_locks if lock not in writes]
            lock_ids.extend(map(lookup, read_locks))
            read_counts.append(len(read_locks))
            lock_ids.extend(map(lookup, writes))
            deltas = access.deltas
            if deltas and not deltas <= pure:
                lock_ids.extend(map(lookup, (deltas - pure) - writes))
            pointers.append(len(lock_ids))
        self.ids = ids
        self.pointers = np.array(pointers, dtype=np.int64)
        self.lock_ids = np.array(lock_ids, dtype=np.int64)
        counts = np.array(read_counts, dtype=np.int64)
        kinds = np.ones(len(lock_ids), dtype=np.int8)
        firsts = np.repeat(self.pointers[:-1], counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        kinds[firsts + offsets] = _READ
        self.kinds = kinds
        self.owners = np.array([owner(lock) for lock in names], dtype=np.int64)
        self.broadcast_reads = max(8, len(accesses) // (4 * workers))
        """A transaction whose inputs all come from replicated ones and which writes a lock
        read this often runs on every worker (a barrier such as an oracle update)."""

    def plan(self, place_unspread: bool) -> Schedule:
        placed = self._pass(-1)
        if self.workers > 1 and not self._worth_spreading(placed[-1]):
            if not place_unspread:
                return self._unplaced(placed)
            placed = self._pass(0)
            return self._schedule(placed, spread=False)
        return self._schedule(placed, spread=True)

    def _worth_spreading(self, slowest: np.ndarray) -> bool:
        """Whether rounds on several workers (``slowest``: the cost of each round's slowest
        worker) beat one worker running everything."""
        rounds = max(len(slowest), 1)
        return float(slowest.sum()) + ROUND_COST_TXS * rounds < len(self.accesses)

    def _pass(self, single: int) -> tuple[np.ndarray, ...]:
        """The compiled pass over the block (everything on worker ``single`` if >= 0)."""
        return _plan_kernel(  # type: ignore[no-any-return]
            self.pointers, self.lock_ids, self.kinds, self.owners, self.workers, single,
            self.broadcast_reads, self.weights, ROUND_COST_TXS,
        )  # fmt: skip

    def _unplaced(self, placed: tuple[np.ndarray, ...]) -> Schedule:
        """A block left to one worker, with its metrics only."""
        levels, counts = placed[2], placed[3]
        n_tx, workers = len(self.accesses), self.workers
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
        workers, names = self.workers, self.names
        (worker_of, round_of, levels, counts, sends, n_sends, fetches, n_fetches,
         finals, n_finals, slowest) = placed  # fmt: skip
        send_map: dict[int, list[tuple[int, Lock]]] = {}
        for tx, dest, lock in sends[:n_sends].tolist():
            send_map.setdefault(tx, []).append((dest, names[lock]))
        prefetch: list[list[tuple[int, Lock]]] = [[] for _ in range(workers)]
        for source, dest, lock in fetches[:n_fetches].tolist():
            prefetch[source].append((dest, names[lock]))
        final: list[list[tuple[int, Lock]]] = [[] for _ in range(workers)]
        for source, dest, lock in finals[:n_finals].tolist():
            final[source].append((dest, names[lock]))
        # Locks only read in the block: prefetched per distinct read set and worker.
        worker_list = worker_of.tolist()
        everyone = (1 << workers) - 1
        readers: dict[frozenset[Lock], int] = {}
        for access, worker in zip(self.accesses, worker_list, strict=True):
            bit = everyone if worker == _EVERYWHERE else 1 << worker
            readers[access.reads] = readers.get(access.reads, 0) | bit
        done: dict[Lock, int] = {}
        for reads, bits in readers.items():
            for lock in sorted(reads - self.written):
                lock_owner = self.owner(lock)
                missing = bits & ~(1 << lock_owner) & ~done.get(lock, 0)
                done[lock] = done.get(lock, 0) | missing
                prefetch[lock_owner].extend((dest, lock) for dest in _bits(missing))
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
            replicated=np.flatnonzero(worker_of == _EVERYWHERE).tolist(),
            metrics=self._metrics(levels, counts),
        )

    def _metrics(self, levels: np.ndarray, lock_counts: np.ndarray) -> DependencyMetrics:
        """Hot locks are the contended ones: accesses to locks written in the block (locks
        only read, and pure deltas, commute and cost nothing)."""
        counts = dict(zip(self.names, lock_counts.tolist(), strict=True))
        critical = int(levels.max()) if len(levels) else 0
        widths = np.bincount(levels, minlength=critical + 1)[1:].tolist()
        hot = heapq.nlargest(10, sorted(counts), key=counts.__getitem__)
        return DependencyMetrics(critical, widths, [(lock, counts[lock]) for lock in hot])


@numba.njit(cache=True, boundscheck=False)
def _plan_kernel(  # type: ignore[no-untyped-def]
    pointers, lock_ids, kinds, owners, workers, single, broadcast_reads, weights, round_cost
):
    """The block pass (see the module docstring): levels, placement, rounds, and the lists
    of sends (tx, dest, lock), prefetches (owner, dest, lock) and finals (writer, owner,
    lock). Transactions are in block order; ``single`` >= 0 puts everything there."""
    n_tx = len(pointers) - 1
    n_locks = len(owners)
    writer = np.full(n_locks, -1, np.int64)
    writer_worker = np.full(n_locks, -1, np.int64)
    writer_round = np.zeros(n_locks, np.int64)
    sent = np.zeros(n_locks, np.int64)
    fetched = np.zeros(n_locks, np.int64)
    read_round = np.zeros(n_locks, np.int64)
    level_w = np.zeros(n_locks, np.int64)
    level_r = np.zeros(n_locks, np.int64)
    counts = np.zeros(n_locks, np.int64)
    reads_of = np.zeros(n_locks, np.int64)
    for j in range(len(lock_ids)):
        if kinds[j] == 0:
            reads_of[lock_ids[j]] += 1
    worker_of = np.empty(n_tx, np.int64)
    round_of = np.zeros(n_tx, np.int64)
    levels = np.empty(n_tx, np.int64)
    capacity = len(lock_ids) * workers + 1
    sends = np.empty((capacity, 3), np.int64)
    fetches = np.empty((capacity, 3), np.int64)
    n_sends = 0
    n_fetches = 0
    load = np.zeros(workers, np.float64)
    round_load = np.zeros((16, workers), np.float64)
    slowest = np.zeros(16, np.float64)
    n_rounds = 0
    everyone = (1 << workers) - 1
    for i in range(n_tx):
        lo, hi = pointers[i], pointers[i + 1]
        level = 0
        floor = 0
        inputs = False
        broadcast = False
        for j in range(lo, hi):
            lock = lock_ids[j]
            counts[lock] += 1
            if writer[lock] >= 0 and writer_worker[lock] != -2:
                inputs = True
            level = max(level, level_w[lock])
            if kinds[j] == 1:
                level = max(level, level_r[lock])
                floor = max(floor, read_round[lock])
                if reads_of[lock] >= broadcast_reads:
                    broadcast = True
        level += 1
        levels[i] = level
        if single < 0 and workers > 1 and broadcast and not inputs and floor == 0:
            worker = -2
            round_ = 0
        else:
            best_cost = 1e18
            worker = -1
            round_ = 0
            for candidate in range(workers):
                if single >= 0:
                    if candidate != single:
                        continue
                else:
                    owns = False
                    any_write = False
                    for j in range(lo, hi):
                        if kinds[j] == 1:
                            any_write = True
                            if owners[lock_ids[j]] == candidate:
                                owns = True
                    if any_write and not owns:
                        continue
                r = floor
                for j in range(lo, hi):
                    lock = lock_ids[j]
                    if writer[lock] >= 0:
                        held = writer_worker[lock]
                        remote = 1 if held != candidate and held != -2 else 0
                        r = max(r, writer_round[lock] + remote)
                if r < n_rounds:
                    after = round_load[r, candidate] + weights[candidate]
                    cost = after - slowest[r] if after > slowest[r] else 0.0
                else:
                    cost = weights[candidate] + round_cost * (r + 1 - n_rounds)
                # Ties: earlier round, then less loaded, then lower index.
                key = cost * 1e12 + r * 1e6 + load[candidate]
                if key < best_cost:
                    best_cost = key
                    worker = candidate
                    round_ = r
            # element loops, not slice copies: numba compiles a slice copy's shape-mismatch
            # message too, about 5 s of this kernel's 8.7 s of compile
            while round_ >= round_load.shape[0]:
                grown = np.zeros((round_load.shape[0] * 2, workers), np.float64)
                for row in range(round_load.shape[0]):
                    for col in range(workers):
                        grown[row, col] = round_load[row, col]
                round_load = grown
                grown_slowest = np.zeros(round_load.shape[0], np.float64)
                for row in range(slowest.shape[0]):
                    grown_slowest[row] = slowest[row]
                slowest = grown_slowest
            n_rounds = max(n_rounds, round_ + 1)
            round_load[round_, worker] += weights[worker]
            slowest[round_] = max(slowest[round_], round_load[round_, worker])
            load[worker] += weights[worker]
        worker_of[i] = worker
        round_of[i] = round_
        bit = everyone if worker == -2 else 1 << worker
        for j in range(lo, hi):
            lock = lock_ids[j]
            if writer[lock] >= 0 and writer_worker[lock] != -2:
                missing = bit & ~sent[lock]
                sent[lock] |= missing
                n_sends = _push(sends, n_sends, writer[lock], missing, lock, workers)
            missing = bit & ~fetched[lock] & ~(1 << owners[lock])
            fetched[lock] |= missing
            n_fetches = _push(fetches, n_fetches, owners[lock], missing, lock, workers)
        for j in range(lo, hi):
            lock = lock_ids[j]
            if kinds[j] == 0:
                read_round[lock] = max(read_round[lock], round_)
                level_r[lock] = max(level_r[lock], level)
            else:
                writer[lock] = i
                writer_worker[lock] = worker
                writer_round[lock] = round_
                sent[lock] = bit
                level_w[lock] = level
    finals = np.empty((n_locks, 3), np.int64)
    n_finals = 0
    for lock in range(n_locks):
        w = writer_worker[lock]
        if writer[lock] >= 0 and w != -2 and w != owners[lock]:
            finals[n_finals, 0] = w
            finals[n_finals, 1] = owners[lock]
            finals[n_finals, 2] = lock
            n_finals += 1
    return (worker_of, round_of, levels, counts, sends, n_sends, fetches, n_fetches,
            finals, n_finals, slowest[:n_rounds])  # fmt: skip


@numba.njit(cache=True, boundscheck=False, inline="always")
def _push(rows, count, source, mask, lock, workers):  # type: ignore[no-untyped-def]
    """Append (source, dest, lock) for every dest bit set in ``mask``; return the new count."""
    for dest in range(workers):
        if mask >> dest & 1:
            rows[count, 0] = source
            rows[count, 1] = dest
            rows[count, 2] = lock
            count += 1
    return count


def _bits(mask: int) -> list[int]:
    """Indices of the set bits of ``mask``."""
    found = []
    index = 0
    while mask:
        if mask & 1:
            found.append(index)
        mask >>= 1
        index += 1
    return found
