"""``CompiledTree``: the sparse Merkle tree of ``smt`` held in arrays and updated by compiled
code, the 16 top-level subtrees in parallel threads.

Same definition, same roots and proofs as ``smt.SparseMerkleTree`` (the readable reference,
which the tests compare it with). A whole tree (depth 0) is 16 independent depth-1 subtrees,
each a ``Pool`` of arrays (see ``smt_kernel``), combined by ``combine_subtrees``: so the
subtrees are hashed in parallel without sharing anything, and ``subtrees()`` hands them out
to the parallel executor's workers as they are.

``update_encoded`` is the batch entry used by ``State``: the tree paths of a whole block and
its values' canonical encodings laid end to end in one buffer, hashed in one compiled call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Final

import numpy as np
import numpy.typing as npt

from paraclear.state.blake2b import hash_many
from paraclear.state.smt import (
    DIGEST_SIZE,
    EMPTY,
    RADIX,
    Proof,
    SparseMerkleTree,
    combine_subtrees,
)
from paraclear.state.smt_kernel import META_BRANCHES, META_LEAVES, META_ROOT, META_SIZE, update

PARALLEL_MIN_CHANGES: Final = 16_384
"""Batches at least this large hash the 16 subtrees in threads (smaller ones are not worth
the hand-over). On this 2-core machine, loaded by other work as it usually is, 2 threads
never beat 1 on 512 to 8,192 changed rows (1.1-1.6 times slower, medians) and broke even
on a block's ~30,000; an idle machine would favour threads, but none was measured."""

Rows = npt.NDArray[np.uint8]
Indices = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]


_BRANCH_ARRAYS: Final = ("kids", "count", "bdig", "bfree")
_ARRAYS: Final = (*_BRANCH_ARRAYS, "lpath", "lvh", "ldig", "lfree")
"""The arrays of a ``Pool``, in the order ``smt_kernel.update`` takes and returns them."""


class Pool:
    """The arrays of one subtree rooted at ``depth`` (layout in ``smt_kernel``)."""

    __slots__ = ("bdig", "bfree", "count", "depth", "kids", "ldig", "lfree", "lpath", "lvh", "meta")

    def __init__(self, depth: int, rows: int = 16) -> None:
        self.depth = depth
        self.kids = np.zeros((rows, RADIX), dtype=np.int32)
        self.count = np.zeros(rows, dtype=np.int32)
        self.bdig = np.zeros((rows, DIGEST_SIZE), dtype=np.uint8)
        self.bfree = np.zeros(rows, dtype=np.int32)
        self.lpath = np.zeros((rows, DIGEST_SIZE), dtype=np.uint8)
        self.lvh = np.zeros((rows, DIGEST_SIZE), dtype=np.uint8)
        self.ldig = np.zeros((rows, DIGEST_SIZE), dtype=np.uint8)
        self.lfree = np.zeros(rows, dtype=np.int32)
        self.meta = np.zeros(META_SIZE, dtype=np.int64)

    def update(self, cpath: Rows, cvh: Rows, cdel: Flags, idx: Indices) -> None:
        """Apply change rows ``idx`` (reordered in place) in one compiled call."""
        arrays = tuple(getattr(self, name) for name in _ARRAYS)
        grown = update(arrays, self.meta, self.depth, cpath, cvh, cdel, idx)
        for name, array in zip(_ARRAYS, grown, strict=True):
            setattr(self, name, array)

    def digest(self, ref: int) -> bytes:
        """The digest of the node ``ref`` (32 zero bytes for empty)."""
        if ref > 0:
            return bytes(self.bdig[ref - 1])
        return bytes(self.ldig[-ref - 1]) if ref < 0 else EMPTY

    def child_digests(self, ref: int) -> list[bytes]:
        """The digests of branch ``ref``'s children in nibble order (``digest`` of each)."""
        bdig, ldig = self.bdig, self.ldig
        return [
            bdig[kid - 1].tobytes() if kid > 0 else ldig[-kid - 1].tobytes() if kid else EMPTY
            for kid in self.kids[ref - 1].tolist()
        ]

    def root_ref(self) -> int:
        return int(self.meta[META_ROOT])

    def copy(self) -> Pool:
        other = Pool.__new__(Pool)
        other.depth = self.depth
        rows = {"b": int(self.meta[META_BRANCHES]), "l": int(self.meta[META_LEAVES])}
        for name in _ARRAYS:
            used = rows["b" if name in _BRANCH_ARRAYS else "l"]
            setattr(other, name, getattr(self, name)[: max(used, 16)].copy())
        other.meta = self.meta.copy()
        return other


class CompiledTree(SparseMerkleTree):
    """A ``SparseMerkleTree`` (same definition and interface) in arrays, updated by compiled
    code. At depth 0 it is 16 depth-1 ``CompiledTree`` parts; at depth >= 1 one ``Pool``."""

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        self._parts: list[CompiledTree] = []
        self._pool = Pool(depth)
        self._root_cache: bytes | None = None
        if depth == 0:
            self._parts = [CompiledTree(1) for _ in range(RADIX)]

    def update(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Set the value hash at each path, in one batch; ``None`` removes the leaf (a path
        given twice keeps its last value)."""
        latest = dict(changes)
        paths = list(latest)
        hashes = [latest[path] or EMPTY for path in paths]
        cdel = np.array([latest[path] is None for path in paths], dtype=np.bool_)
        self.update_rows(_rows(paths), _rows(hashes), cdel)

    def update_encoded(
        self, paths: Sequence[bytes], encodings: bytearray, ends: Sequence[int]
    ) -> None:
        """Set path ``i`` to the value whose canonical encoding is ``encodings[ends[i - 1]:
        ends[i]]``; an empty encoding removes the leaf. The value hashes are computed in one
        compiled call over ``encodings``."""
        cvh, cdel = hash_values(encodings, ends)
        self.update_rows(path_rows(paths), cvh, cdel)

    def update_rows(self, cpath: Rows, cvh: Rows, cdel: Flags) -> None:
        """Apply changes given as rows: paths, value hashes, and whether each deletes."""
        if len(cpath) == 0:
            return
        self._root_cache = None
        if self.depth > 0:
            self._pool.update(cpath, cvh, cdel, np.arange(len(cpath), dtype=np.int64))
            return
        top = (cpath[:, 0] >> 4).astype(np.int64)
        order = np.argsort(top, kind="stable")
        bounds = np.zeros(RADIX + 1, dtype=np.int64)
        np.cumsum(np.bincount(top, minlength=RADIX), out=bounds[1:])
        jobs = [
            (self._parts[n]._pool, order[bounds[n] : bounds[n + 1]])
            for n in range(RADIX)
            if bounds[n + 1] > bounds[n]
        ]
        if len(cpath) >= PARALLEL_MIN_CHANGES and len(jobs) > 1 and _settings["threads"] > 1:
            first, *others = _groups(jobs, _settings["threads"])
            futures = [_executor().submit(_update_pools, cpath, cvh, cdel, jobs) for jobs in others]
            try:
                _update_pools(cpath, cvh, cdel, first)
            finally:
                wait(futures)
            for future in futures:
                future.result()
        else:
            _update_pools(cpath, cvh, cdel, jobs)
        for n in range(RADIX):
            self._parts[n]._root_cache = None

    def root(self) -> bytes:
        if self._root_cache is None:
            if self.depth == 0:
                self._root_cache = combine_subtrees([(p.root(), p.leaves()) for p in self._parts])
            else:
                self._root_cache = self._pool.digest(self._pool.root_ref())
        return self._root_cache

    def leaves(self) -> int:
        if self.depth == 0:
            return min(2, sum(part.leaves() for part in self._parts))
        ref = self._pool.root_ref()
        return 0 if ref == 0 else 1 if ref < 0 else 2

    def subtrees(self) -> list[SparseMerkleTree]:
        """The 16 depth-1 subtrees of a depth-0 tree, sharing its arrays (use on a copy)."""
        if self.depth != 0:
            raise ValueError("only a whole tree splits into top-level subtrees")
        return list(self._parts)

    def prove(self, path: bytes) -> Proof:
        """Inclusion proof of ``path`` if present, else an exclusion proof."""
        levels: list[tuple[bytes, ...]] = []
        tree, depth = self, self.depth
        if self.depth == 0:
            if self.leaves() < 2:
                only = next((part for part in self._parts if part.leaves()), None)
                return only.prove(path) if only else Proof((), None, None)
            nibble = path[0] >> 4
            digests = [part.root() for part in self._parts]
            levels.append(tuple(digests[:nibble] + digests[nibble + 1 :]))
            tree, depth = self._parts[nibble], 1
        pool = tree._pool
        ref = pool.root_ref()
        while ref > 0:
            nibble = (path[depth >> 1] >> (0 if depth & 1 else 4)) & 0xF
            digests = pool.child_digests(ref)
            levels.append(tuple(digests[:nibble] + digests[nibble + 1 :]))
            ref = int(pool.kids[ref - 1, nibble])
            depth += 1
        if ref == 0:
            return Proof(tuple(levels), None, None)
        leaf = -ref - 1
        return Proof(tuple(levels), pool.lpath[leaf].tobytes(), pool.lvh[leaf].tobytes())

    def copy(self) -> CompiledTree:
        """An independent copy (arrays copied, nothing rehashed)."""
        other = CompiledTree.__new__(CompiledTree)
        other.depth = self.depth
        other._root_cache = self._root_cache
        other._pool = self._pool.copy()
        other._parts = [part.copy() for part in self._parts]
        return other


Jobs = list[tuple[Pool, Indices]]


def _update_pools(cpath: Rows, cvh: Rows, cdel: Flags, jobs: Jobs) -> None:
    """Apply each job's change rows to its subtree, one after the other."""
    for pool, idx in jobs:
        pool.update(cpath, cvh, cdel, idx)


def _groups(jobs: Jobs, count: int) -> list[Jobs]:
    """``jobs`` in at most ``count`` runs of about as many change rows each (one run per
    thread: a thread takes its subtrees in one hand-over, and the calling thread takes the
    first run instead of waiting)."""
    total = sum(len(idx) for _, idx in jobs)
    groups: list[Jobs] = [[]]
    taken = 0
    for job in jobs:
        if groups[-1] and taken * count >= total * len(groups) and len(groups) < count:
            groups.append([])
        groups[-1].append(job)
        taken += len(job[1])
    return groups


def hash_values(encodings: bytearray, ends: Sequence[int]) -> tuple[Rows, Flags]:
    """BLAKE2b-256 of each value encoding ``encodings[ends[i - 1]:ends[i]]`` (from 0 for the
    first), in one compiled call; and which of them are empty (deletions)."""
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    offsets[1:] = ends
    data = np.frombuffer(encodings or bytearray(1), dtype=np.uint8)  # a view: no copy
    cvh = np.empty((len(ends), DIGEST_SIZE), dtype=np.uint8)
    hash_many(data, offsets, cvh)
    return cvh, offsets[1:] == offsets[:-1]


def path_rows(paths: Sequence[bytes]) -> Rows:
    """``uint8[len(paths), 32]`` from paths made by ``key_path`` (only the total length is
    checked)."""
    return _rows(paths, checked=False)


def _rows(values: Sequence[bytes], checked: bool = True) -> Rows:
    """``uint8[len(values), 32]`` from 32-byte strings (``checked``: each one's length)."""
    if checked and any(len(value) != DIGEST_SIZE for value in values):
        raise ValueError(f"paths and value hashes are {DIGEST_SIZE} bytes")
    joined = bytearray(b"".join(values))
    if len(joined) != DIGEST_SIZE * len(values):
        raise ValueError(f"paths and value hashes are {DIGEST_SIZE} bytes")
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(values), DIGEST_SIZE)


_settings = {"threads": min(RADIX, os.cpu_count() or 1)}
_executors: dict[int, ThreadPoolExecutor] = {}


def threads() -> int:
    """How many threads large batches are hashed on (``set_threads``)."""
    return _settings["threads"]


def set_threads(threads: int) -> int:
    """Hash the top-level subtrees of large batches on up to ``threads`` threads (1: in the
    calling thread); return the previous setting."""
    if not 1 <= threads <= RADIX:
        raise ValueError(f"threads must be 1 to {RADIX}, not {threads}")
    previous, _settings["threads"] = _settings["threads"], threads
    return previous


def _executor() -> ThreadPoolExecutor:
    """One thread pool per process and setting (a forked child makes its own: threads do not
    survive a fork)."""
    key = os.getpid() * (RADIX + 1) + _settings["threads"]
    executor = _executors.get(key)
    if executor is None:
        executor = _executors[key] = ThreadPoolExecutor(
            _settings["threads"], thread_name_prefix="smt"
        )
    return executor


def warm() -> float:
    """Compile (or load from numba's cache) the tree's kernels; return the seconds it took."""
    started = time.perf_counter()
    tree = CompiledTree()
    tree.update_encoded([bytes(DIGEST_SIZE), b"\xff" * DIGEST_SIZE], bytearray(b"\x01"), [1, 1])
    tree.update([(b"\x01" * DIGEST_SIZE, EMPTY)])
    return time.perf_counter() - started
