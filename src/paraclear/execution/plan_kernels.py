"""The planner's compiled passes over a block (``schedule``): what carries data flow, the
placement itself, and the prefetches of locks only read.

Locks are numbered three ways: *table* ids (``AccessBatch.ids``, a ``LockTable``'s), *dense*
ids (the locks the block names, in order of first appearance) and *flow* ids (the dense
locks that carry data flow: written, or added to and also read or written; in dense order).
"""

from __future__ import annotations

import numba
import numpy as np

from paraclear.jit import helper

READ = 0
WRITE = 1
DELTA = 2
"""Entry kinds, as ``access_batch``'s."""


@numba.njit(cache=True, boundscheck=False)
def flow_kernel(pointers, ids, kinds, n_table):  # type: ignore[no-untyped-def]
    """The block's entries as the placement pass needs them.

    Returns ``(flow_pointers, flow_ids, flow_kinds, dense, dense_table, flows, pure)``:
    per transaction its flow entries, reads of flow locks it does not write (kind 0), then
    its writes and its deltas to flow locks it does not write (kind 1), each lock once per
    kind; each entry's dense id; each dense lock's table id; which dense locks carry flow;
    which are *pure* deltas (only added to in the block: they commute with everything)."""
    n_tx = len(pointers) - 1
    n_entries = len(ids)
    dense_of = np.full(n_table, -1, np.int64)
    dense_table = np.empty(n_entries, np.int64)
    dense = np.empty(n_entries, np.int64)
    n_dense = 0
    for j in range(n_entries):
        d = dense_of[ids[j]]
        if d < 0:
            d = n_dense
            dense_of[ids[j]] = d
            dense_table[d] = ids[j]
            n_dense += 1
        dense[j] = d
    written = np.zeros(n_dense, np.bool_)
    read = np.zeros(n_dense, np.bool_)
    added = np.zeros(n_dense, np.bool_)
    for j in range(n_entries):
        if kinds[j] == WRITE:
            written[dense[j]] = True
        elif kinds[j] == READ:
            read[dense[j]] = True
        else:
            added[dense[j]] = True
    pure = added & ~written & ~read
    flows = written | (added & ~pure)
    flow_of = np.full(n_dense, -1, np.int64)
    n_flows = 0
    for d in range(n_dense):
        if flows[d]:
            flow_of[d] = n_flows
            n_flows += 1
    writer = np.full(n_dense, -1, np.int64)  # the last transaction that listed d as a write
    seen = np.full((3, n_dense), -1, np.int64)
    flow_pointers = np.zeros(n_tx + 1, np.int64)
    flow_ids = np.empty(n_entries, np.int64)
    flow_kinds = np.empty(n_entries, np.int8)
    n = 0
    for i in range(n_tx):
        lo, hi = pointers[i], pointers[i + 1]
        for j in range(lo, hi):
            if kinds[j] == WRITE:
                writer[dense[j]] = i
        for kind in (READ, WRITE, DELTA):
            for j in range(lo, hi):
                d = dense[j]
                if kinds[j] != kind or seen[kind, d] == i or not flows[d]:
                    continue
                if kind != WRITE and writer[d] == i:
                    continue
                seen[kind, d] = i
                flow_ids[n] = flow_of[d]
                flow_kinds[n] = 0 if kind == READ else 1
                n += 1
        flow_pointers[i + 1] = n
    return (flow_pointers, flow_ids[:n], flow_kinds[:n], dense, dense_table[:n_dense],
            flows, pure)  # fmt: skip


@numba.njit(cache=True, boundscheck=False)
def read_prefetch_kernel(pointers, kinds, dense, flows, owners, worker_of, workers):  # type: ignore[no-untyped-def]
    """(owner, dest, dense lock) rows: each lock only read in the block, from its owner to
    every other worker that runs a transaction reading it (``worker_of`` -2: all of them)."""
    n_dense = len(flows)
    readers = np.zeros(n_dense, np.int64)
    everyone = (1 << workers) - 1
    for i in range(len(pointers) - 1):
        bit = everyone if worker_of[i] == -2 else 1 << worker_of[i]
        for j in range(pointers[i], pointers[i + 1]):
            if kinds[j] == READ and not flows[dense[j]]:
                readers[dense[j]] |= bit
    rows = np.empty((n_dense * workers + 1, 3), np.int64)
    count = 0
    for d in range(n_dense):
        if readers[d]:
            missing = readers[d] & ~(1 << owners[d])
            count = push(rows, count, owners[d], missing, d, workers)
    return rows[:count]


@numba.njit(cache=True, boundscheck=False)
def plan_kernel(  # type: ignore[no-untyped-def]
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
                n_sends = push(sends, n_sends, writer[lock], missing, lock, workers)
            missing = bit & ~fetched[lock] & ~(1 << owners[lock])
            fetched[lock] |= missing
            n_fetches = push(fetches, n_fetches, owners[lock], missing, lock, workers)
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


@helper
def push(rows: np.ndarray, count: int, source: int, mask: int, lock: int, workers: int) -> int:
    """Append (source, dest, lock) for every dest bit set in ``mask``; return the new count."""
    for dest in range(workers):
        if mask >> dest & 1:
            rows[count, 0] = source
            rows[count, 1] = dest
            rows[count, 2] = lock
            count += 1
    return count
