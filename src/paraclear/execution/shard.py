"""One worker of the parallel executor: it owns a shard of state and runs its part of a block.

A shard is every lock whose ``lock_nibble`` is the worker's index modulo the worker count,
so a shard is also a set of whole top-level subtrees of the state tree: the worker commits
its keys and hashes its subtrees itself, in parallel with the others.

The worker is transport-agnostic. A block is a fixed sequence of steps, each ending in an
exchange of one message with every peer (lockstep), driven on one thread (backend
``inline``) or on a thread of its own with queues between workers (``threads``):

``start`` (send prefetched locks) → ``run_round`` × rounds → ``final`` → ``commit``.

A machine with a batch runner (``BatchRunner``) gives every worker a runner of its own,
which runs its declared transactions in batches (``shard_batch``).

Messages are ``(aborted, payload)``. A worker that loses the schedule (an optimistic
transaction stepped outside its predicted access set) keeps the lockstep but runs nothing
more and flags every message; whoever receives a flag stops too, so every worker discards
the block at ``commit`` and the executor runs it another way.
"""

from __future__ import annotations

from collections import ChainMap, deque
from collections.abc import Mapping, Sequence
from itertools import compress
from operator import not_
from time import perf_counter, thread_time
from typing import Any, Final, cast

import numpy as np

from paraclear.execution.block_run import BatchRunner, BlockRun, fold_delta
from paraclear.execution.machine import BlockContext, StateMachine
from paraclear.execution.metrics import WorkerMetrics
from paraclear.execution.result import Receipt
from paraclear.execution.shard_batch import carried, run_batch, settle
from paraclear.execution.task import (
    LockData,
    Message,
    Mispredicted,
    Task,
    WorkerLost,
    WorkerResult,
)
from paraclear.state import Key, Lock, State
from paraclear.state.changes import ChangeRows, commit_writes, joined, set_writes
from paraclear.state.codec import lock_nibble
from paraclear.state.compiled import CompiledTree
from paraclear.state.errors import AccessMispredicted
from paraclear.state.hashed import HashedWrites, TreeRows, picked
from paraclear.state.smt import RADIX, SparseMerkleTree

_MISSING: Final = object()


def owner_of(lock: Lock, workers: int) -> int:
    """The worker that owns ``lock`` among ``workers``."""
    return lock_nibble(lock) % workers


class ShardWorker:
    """State of one shard and the steps of running a block on it."""

    def __init__(self, index: int, workers: int, machine: StateMachine[Any]) -> None:
        if not 0 <= index < workers <= RADIX:
            raise ValueError(f"worker {index} of {workers}: at most {RADIX} workers")
        self.index = index
        self.workers = workers
        self.machine = machine
        spawn = getattr(getattr(machine, "batch_runner", None), "spawn", None)
        self.runner: BatchRunner[Any] | None = spawn() if spawn is not None else None
        """This worker's own batch runner, if the machine offers one."""
        self.followed: BlockRun[Any] | None = None
        """The last block's run of batches, which the batch runner followed to its end: it
        carries its tables to the next block's run, with ``carried``."""
        self.carried: dict[Key, object] = {}
        self.nibbles = [n for n in range(RADIX) if n % workers == index]
        self.owns = np.zeros(RADIX, dtype=np.bool_)
        """Whether this shard owns each top nibble of a tree path."""
        self.owns[self.nibbles] = True
        self.data: dict[Key, object] = {}
        self.by_lock: dict[Lock, set[Key]] = {}
        self.paths: dict[Key, bytes] = {}
        """Tree paths of this shard's keys, made once."""
        self.owners: dict[Lock, int] = {}
        """The worker that owns each lock met, found once (by lock, not by key: most keys of
        a block are orders', new each block, and their locks are the accounts')."""
        self.trees: dict[int, SparseMerkleTree] = {}
        self.hashed_keys = 0
        """Keys its last commit took from its runner's rows."""
        self.aborted = False
        self.busy = 0.0
        self.cpu_started = 0.0
        """Thread CPU time when the block started (read per block, not per round: a
        ``thread_time`` call is a system call, made with the interpreter lock held)."""
        self.ran = 0
        self.mispredicted: Mispredicted | None = None
        self._reset_block()

    # --- loading -------------------------------------------------------------------------

    def load(self, state: State) -> None:
        """Take this shard's keys and subtrees from ``state``."""
        mine = set(self.nibbles)
        owned = {key: value for key, value in state.data.items() if lock_nibble(key[:2]) in mine}
        tree = state.tree()
        if isinstance(tree, CompiledTree):  # copied as arrays, nothing rehashed
            parts = tree.subtrees()
            self.trees = {n: cast(CompiledTree, parts[n]).copy() for n in self.nibbles}
            for key, value in owned.items():
                self._store(key, value)
            return
        self.trees = {n: SparseMerkleTree(1) for n in self.nibbles}  # reference trees
        self._commit(owned)

    # --- one block -----------------------------------------------------------------------

    def start(self, task: Task) -> list[Message]:
        """Begin a block: send the committed keys of locks that peers will use."""
        self._reset_block()
        self.cpu_started = thread_time()
        self.task = task
        ctx = BlockContext(task.height, task.time)
        self.run = BlockRun(self.data, self.machine, ctx, self.pending)
        self.batch = BlockRun(ChainMap(self.pending, self.data), self.machine, ctx)
        if self.runner is not None and self.followed is not None:
            self.runner.carry(self.followed, self.batch, self.carried)
        tracked = self.tracked
        for pairs in task.sends.values():
            tracked.update(lock for _, lock in pairs)
        tracked.update(lock for _, lock in task.final)
        out: list[list[tuple[Lock, LockData]]] = [[] for _ in range(self.workers)]
        data = self.data
        for dest, lock in task.prefetch:
            out[dest].append((lock, {key: data[key] for key in self.by_lock.get(lock, ())}))
        return self._messages(out)

    def receive_prefetch(self, messages: Sequence[Message]) -> None:
        """Hold the committed keys of the locks peers sent; tell the runner what differs
        from what this worker held of them."""
        runner = self.runner
        for payload in self._payloads(messages):
            for lock, contents in payload:
                differ = self._hold(lock, contents)
                if runner is not None and differ:
                    runner.changed(self.batch, differ)

    def run_round(self, round_: int) -> list[Message]:
        """Run this round's transactions; return the locks peers need from them.

        With a batch runner, each stretch of declared transactions that no other worker
        reports runs as one batch; the rest (predicted or replicated) one by one."""
        out: list[list[tuple[Lock, LockData]]] = [[] for _ in range(self.workers)]
        if self.aborted:
            return self._messages(out)
        started = perf_counter()
        task = self.task
        positions = task.order[task.starts[round_] : task.starts[round_ + 1]]
        alone = task.one_by_one
        if self.runner is None:
            self._run_each(positions, out)
        elif not alone:
            if positions:
                run_batch(self, positions, out)
        else:
            at = 0
            while at < len(positions) and not self.aborted:
                end = at
                while end < len(positions) and positions[end] not in alone:
                    end += 1
                if end > at:
                    run_batch(self, positions[at:end], out)
                else:
                    end = at + 1
                    settle(self)  # a transaction run alone reads the block's writes
                    self._run_each(positions[at:end], out)
                at = end
        self.busy += perf_counter() - started
        return self._messages(out)

    def _run_each(self, positions: Sequence[int], out: list[list[tuple[Lock, LockData]]]) -> None:
        """Run the transactions at ``positions`` one by one with their access sets; with a
        batch runner, tell it what they wrote."""
        machine, run, task = self.machine, self.run, self.task
        data, pending, by_lock = self.data, self.pending, self.pending_by_lock
        pure, sums, tracked = task.pure_deltas, self.delta_sums, self.tracked
        die_after = task.die_after if task.die_after is not None else -1
        ran, receipts, sends, replicas = self.ran, self.receipts, task.sends, task.replicas
        for position in positions:
            if ran == die_after:
                raise WorkerLost(f"worker {self.index} lost (injected)")
            tx = task.txs[position]
            access = task.access(position)
            if access is None:
                access = machine.access(tx)
            try:
                receipt, view = run.attempt(tx, position, access)
            except AccessMispredicted as miss:
                self.aborted = True
                self.mispredicted = (position, miss.key[:2], str(miss))
                break
            ran += 1
            replica = position in replicas
            if not replica:
                receipts.append(receipt)
            writes = view.writes
            pending.update(writes)
            if access is None or not tracked.isdisjoint(access.writes):
                for key, value in writes.items():
                    lock = key[:2]
                    if lock in tracked:
                        contents = by_lock.get(lock)
                        if contents is None:
                            contents = by_lock[lock] = {}
                        contents[key] = value
            for key, amount in view.deltas.items():
                lock = key[:2]
                if lock in pure:
                    if not replica:
                        sums[key] = sums.get(key, 0) + amount
                    continue
                value = fold_delta(pending, data, key, amount)
                if lock in tracked:
                    by_lock.setdefault(lock, {})[key] = value
            if self.runner is not None:
                changes = {key: pending[key] for key in view.deltas if key[:2] not in pure}
                self.runner.changed(self.batch, writes | changes)
            for dest, lock in sends.get(position, ()):
                out[dest].append((lock, dict(by_lock.get(lock, ()))))
        self.ran = ran

    def receive_round(self, messages: Sequence[Message]) -> None:
        pending, by_lock, tracked = self.pending, self.pending_by_lock, self.tracked
        runner = self.runner
        for payload in self._payloads(messages):
            for lock, contents in payload:
                if runner is not None:  # a peer sends all it wrote of the lock in the block
                    differ = {
                        key: value
                        for key, value in contents.items()
                        if pending.get(key, _MISSING) is not value
                    }
                    if differ:
                        runner.changed(self.batch, differ)
                pending.update(contents)
                if lock in tracked:
                    by_lock.setdefault(lock, {}).update(contents)

    def final(self) -> list[Message]:
        """Hand the block writes of locks last written here, and delta sums, to owners."""
        out: list[tuple[list[tuple[Lock, LockData]], dict[Key, int]]] = [
            ([], {}) for _ in range(self.workers)
        ]
        if not self.aborted:
            settle(self)
            for dest, lock in self.task.final:
                out[dest][0].append((lock, self.pending_by_lock.get(lock, {})))
            for key, amount in self.delta_sums.items():
                dest = owner_of(key[:2], self.workers)
                if dest != self.index:
                    out[dest][1][key] = amount
        return self._messages(out)

    def commit(self, messages: Sequence[Message]) -> WorkerResult:
        """Commit this shard's writes, rehash its subtrees, and report."""
        started, cpu = perf_counter(), thread_time()
        payloads = self._payloads(messages)
        if self.aborted:
            result = WorkerResult(
                [], {}, [], self.transfers, WorkerMetrics(self.busy), aborted=True,
                mispredicted=self.mispredicted,
            )  # fmt: skip
            self._reset_block()
            self.followed = None  # the runner followed the discarded block: it starts afresh
            return result
        pending, sums = self.pending, self.delta_sums
        handed: dict[Key, object] = {}
        for transfers, deltas in payloads:
            for _lock, contents in transfers:
                handed.update(contents)
            for key, amount in deltas.items():
                sums[key] = sums.get(key, 0) + amount
        pending.update(handed)
        writes, elsewhere = self._split(pending)
        data = self.data
        for key, amount in sums.items():
            if self._owner(key) == self.index:
                fold_delta(writes, data, key, amount)
        runner, hashed = self.runner, None
        if runner is not None:
            if handed:  # the runner follows what peers handed over (no longer its writes)
                runner.changed(self.batch, handed)
            hashed = runner.hashed_part(self.batch, data, writes, self.owns)
        changes = self._commit(writes, hashed)
        hashed_keys = self.hashed_keys
        self._keep(elsewhere)
        if runner is not None:
            self.followed, self.carried = self.batch, carried(self)
        subtrees = [(n, tree.root(), tree.leaves()) for n, tree in self.trees.items()]
        self.busy += perf_counter() - started
        ended = thread_time()
        metrics = WorkerMetrics(
            self.busy,
            ended - self.cpu_started,
            commit_cpu_seconds=ended - cpu,
            batched_txs=self.batched,
            hashed_keys=hashed_keys,
        )
        result = WorkerResult(
            self.receipts,
            writes,
            subtrees,
            self.transfers,
            metrics,
            (changes.paths, changes.hashes, changes.deleted),
        )
        self._reset_block()
        return result

    def follow(self, writes: Mapping[Key, object], rows: TreeRows | None = None) -> None:
        """Commit this shard's keys of ``writes``, a block that ran elsewhere (on the
        sequential executor) on the state this shard is part of, and have the runner follow
        them at the next block. ``rows``: the tree rows of every key it changed, as the
        state's commit computed them (``State.rows``), for the subtrees to take as they
        are. Copies of locks owned elsewhere go stale, as after a block of their owners
        (``_keep``)."""
        index, owner = self.index, self._owner
        own = {key: value for key, value in writes.items() if owner(key) == index}
        if rows is None:
            self._commit(own)
        else:
            paths, hashes, deleted = rows
            mine = np.flatnonzero(self.owns[paths[:, 0] >> 4])
            added, removed = set_writes(self.data, own)
            self._apply(ChangeRows(paths[mine], hashes[mine], deleted[mine], added, removed))
        if self.followed is not None:
            self.carried.update(own)

    # --- internals -----------------------------------------------------------------------

    def _reset_block(self) -> None:
        self.pending: dict[Key, object] = {}
        self.pending_by_lock: dict[Lock, LockData] = {}
        self.tracked: set[Lock] = set()
        """Locks this worker sends on (to a peer mid-block, or to the owner at the end):
        only for them does it keep the block's writes per lock."""
        self.delta_sums: dict[Key, int] = {}
        self.held = False
        """Whether the runner may hold writes back from the block's writes (``settle``)."""
        self.receipts: list[Receipt] = []
        self.aborted = False
        self.busy = 0.0
        self.ran = 0
        self.batched = 0
        self.transfers = 0
        self.mispredicted = None

    def _messages(self, out: Sequence[object]) -> list[Message]:
        return [(self.aborted, payload) for payload in out]

    def _payloads(self, messages: Sequence[Message]) -> list[Any]:
        payloads = []
        for peer, (aborted, payload) in enumerate(messages):
            if peer == self.index:
                continue
            if aborted:
                self.aborted = True
            self.transfers += len(payload) if isinstance(payload, list) else 0
            payloads.append(payload)
        return payloads

    def _commit(self, writes: dict[Key, object], hashed: HashedWrites | None = None) -> ChangeRows:
        """Commit ``writes`` (keys of this shard) to its data and subtrees: the keys of
        ``hashed`` (the runner's, some of other shards) from their rows, the others' paths
        and value hashes in one batch (``commit_writes``), then each subtree's rows in one
        call. Returns the rows."""
        taken = self._take_hashed(writes, hashed) if hashed is not None else None
        if taken is None:
            self.hashed_keys = 0
            changes = commit_writes(self.data, writes, self.paths)
        else:
            rest, rows = taken
            self.hashed_keys = len(writes) - len(rest)
            changes = joined(rows, commit_writes(self.data, rest, self.paths))
        self._apply(changes)
        return changes

    def _take_hashed(
        self, writes: dict[Key, object], hashed: HashedWrites
    ) -> tuple[dict[Key, object], ChangeRows] | None:
        """Set this shard's keys of ``hashed`` (all in ``writes``) in its data; return the
        rest of ``writes`` and the rows of what the set changed (a deletion of an absent key
        changes nothing). None, having set nothing, if a key of it is not in ``writes``."""
        mine = np.flatnonzero(self.owns[hashed.paths[:, 0] >> 4])
        if not len(mine):
            return None
        keys = picked(hashed.keys, mine)
        rest = dict(writes)
        try:  # deleted in C, each key hashed once (as State.apply's ``_uncovered``)
            deque(map(rest.__delitem__, keys), maxlen=0)
        except KeyError:
            return None
        data = self.data
        deleted = hashed.deleted[mine]
        flags = deleted.tolist()
        gone = list(compress(keys, flags))
        present = list(map(data.__contains__, gone))  # a deletion of an absent key: no row
        removed = list(compress(gone, present))
        deque(map(data.__delitem__, removed), maxlen=0)
        setting = list(compress(keys, map(not_, flags)))
        added = list(compress(setting, map(not_, map(data.__contains__, setting))))
        data.update(zip(setting, map(writes.__getitem__, setting), strict=True))
        kept = np.ones(len(mine), dtype=np.bool_)
        kept[deleted] = present
        rows = mine[kept]
        paths, hashes, gone_rows = hashed.paths[rows], hashed.hashes[rows], hashed.deleted[rows]
        return rest, ChangeRows(paths, hashes, gone_rows, added, removed)

    def _apply(self, changes: ChangeRows) -> None:
        """Note the keys ``changes`` added and removed, and give each subtree its rows."""
        by_lock = self.by_lock
        for key in changes.added:
            by_lock.setdefault(key[:2], set()).add(key)
        paths = self.paths
        for key in changes.removed:
            by_lock[key[:2]].discard(key)
            paths.pop(key, None)  # a deleted key's path is not kept: orders come and go
        if not len(changes.paths):
            return
        tops = changes.paths[:, 0] >> 4
        for nibble, tree in self.trees.items():
            rows = np.flatnonzero(tops == nibble)
            if not len(rows):
                continue
            if isinstance(tree, CompiledTree):
                tree.update_rows(*changes.take(rows))
            else:
                changes.apply_to(tree, rows)

    def _split(self, pending: dict[Key, object]) -> tuple[dict[Key, object], list[Key]]:
        """The pending writes of this shard's keys, and the keys of locks owned elsewhere
        (whose owners are remembered by lock, in ``owners``)."""
        if self.workers == 1:
            return dict(pending), []
        writes: dict[Key, object] = {}
        elsewhere: list[Key] = []
        owners, index, workers = self.owners, self.index, self.workers
        for key, value in pending.items():
            lock = key[:2]
            owner = owners.get(lock)
            if owner is None:
                owner = owners[lock] = owner_of(lock, workers)
            if owner == index:
                writes[key] = value
            else:
                elsewhere.append(key)
        return writes, elsewhere

    def _owner(self, key: Key) -> int:
        """The worker that owns ``key`` (remembered by lock in ``owners``)."""
        lock = key[:2]
        owner = self.owners.get(lock)
        if owner is None:
            owner = self.owners[lock] = owner_of(lock, self.workers)
        return owner

    def _hold(self, lock: Lock, contents: LockData) -> LockData:
        """Hold ``contents``, the committed keys of ``lock`` (owned elsewhere), in place of
        what this worker held of it; return the keys whose values differ (None: gone)."""
        data, held = self.data, self.by_lock.get(lock)
        differ: LockData = {}
        if held:
            for key in held.difference(contents):
                del data[key]
                differ[key] = None
        for key, value in contents.items():
            old = data.get(key, _MISSING)
            if old is not value and old != value:
                data[key] = value
                differ[key] = value
        self.by_lock[lock] = set(contents)
        return differ

    def _keep(self, elsewhere: list[Key]) -> None:
        """Keep the block's writes of locks owned elsewhere (``elsewhere``: their keys) as
        this worker's copy of them: where its runner's tables are now. The copy is stale
        once the owner commits a change, but nothing reads it before a block sends the
        lock again (``_hold``), which then routes only what differs."""
        data, by_lock, pending = self.data, self.by_lock, self.pending
        for key in elsewhere:
            value = pending[key]
            if value is None or (type(value) is int and value == 0):  # absent
                if data.pop(key, _MISSING) is not _MISSING:
                    by_lock[key[:2]].discard(key)
            else:
                if key not in data:
                    by_lock.setdefault(key[:2], set()).add(key)
                data[key] = value

    def _store(self, key: Key, value: object) -> None:
        self.data[key] = value
        self.by_lock.setdefault(key[:2], set()).add(key)
