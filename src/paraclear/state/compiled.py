"""``CompiledTree``: the sparse Merkle tree of ``smt`` held in arrays and updated by compiled
code, the 16 top-level subtrees in parallel threads.

Same definition, same roots and proofs as ``smt.SparseMerkleTree`` (the readable reference,
which the tests compare it with). A whole tree (depth 0) is 16 independent depth-1 subtrees,
each a pool of arrays (see ``smt_kernel``), held together in a ``forest`` and combined by
``combine_subtrees``: one compiled call updates every subtree a batch touches, large batches
hash the subtrees in parallel without sharing anything, and ``subtrees()`` hands them out to
the parallel executor's workers as they are.

``update_encoded`` is the batch entry used by ``State``: the tree paths of a whole block and
its values' canonical encodings laid end to end in one buffer, hashed in one compiled call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from itertools import pairwise
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from paraclear.state.codec import key_paths
from paraclear.state.forest import copy_parts, new_forest, part_arrays, update_parts
from paraclear.state.lanes import hash_lanes
from paraclear.state.prove_kernel import ProvenPaths, prove_paths
from paraclear.state.smt import (
    DIGEST_SIZE,
    EMPTY,
    RADIX,
    Proof,
    SparseMerkleTree,
    branch_digest,
    combine_subtrees,
)
from paraclear.state.smt_kernel import META_ROOT, META_SIZE

PARALLEL_MIN_CHANGES: Final = 8_192
"""Batches at least this large hash the 16 subtrees in threads (smaller ones are not worth
the hand-over). On this 2-core machine (a 100,000-key tree, medians of 5, 2026-12-04): with a
core free for the second thread (under real-time priority) 2 threads beat 1 at every size,
1,024 changes 3.7 -> 2.1 ms, 8,192 17.3 -> 9.2, 30,000 47.1 -> 24.6; with the box loaded by
other work (load 9, normal priority) they gained nothing (8,192: 26.4 -> 29.2 ms, 30,000:
69.1 -> 70.8) and lost up to 1.3 times below 8,192."""

PARALLEL_MIN_VALUES: Final = 4_096
"""Batches of at least this many values are hashed in contiguous slices on the tree's
threads (``in_slices``: ``hash_rows``, and the row hasher's encoders). A value is one or
two BLAKE2b compressions (~0.2 µs each here alone, ~0.06 µs in ``lanes.hash_lanes``), so a
slice of 2,048 outweighs the hand-over to a pooled thread (tens of µs): 30,000 values of
40-120 bytes took 5.8 ms on one thread and 3.0 ms on two (medians, under real-time
priority, one at a time)."""

Rows = npt.NDArray[np.uint8]
Indices = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]


class CompiledTree(SparseMerkleTree):
    """A ``SparseMerkleTree`` (same definition and interface) in arrays, updated by compiled
    code. At depth 0 it is a ``forest`` of 16 depth-1 parts, each also a ``CompiledTree``
    sharing its arrays; at depth >= 1, one part of a forest (its own, or a whole tree's)."""

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        count = RADIX if depth == 0 else 1
        self._forest: Any = new_forest(count)
        self._metas = np.zeros((count, META_SIZE), dtype=np.int64)
        self._digests = np.zeros((count, DIGEST_SIZE), dtype=np.uint8)
        self._index = 0
        """Which part of the forest this tree is (depth >= 1)."""
        self._root_cache: bytes | None = None
        self._parts = [self._part(n) for n in range(RADIX)] if depth == 0 else []

    def _part(self, n: int) -> CompiledTree:
        """Part ``n`` of a whole tree: a depth-1 tree sharing its arrays."""
        part = CompiledTree.__new__(CompiledTree)
        part.depth, part._index, part._root_cache, part._parts = 1, n, None, []
        part._forest, part._metas, part._digests = self._forest, self._metas, self._digests
        return part

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
        m = len(cpath)
        if m == 0:
            return
        self._root_cache = None
        if self.depth > 0:
            self._update_parts(cpath, cvh, cdel, np.array([self._index]), False)
            return
        if m < PARALLEL_MIN_CHANGES or _settings["threads"] == 1:
            self._update_parts(cpath, cvh, cdel, _ALL_PARTS, True)
            return
        rows = np.bincount(cpath[:, 0] >> 4, minlength=RADIX).tolist()
        first, *others = _groups([(n, k) for n, k in enumerate(rows) if k], threads())
        futures = [
            _executor().submit(self._update_parts, cpath, cvh, cdel, group, True)
            for group in others
        ]
        try:
            self._update_parts(cpath, cvh, cdel, first, True)
        finally:
            wait(futures)
        for future in futures:
            future.result()

    def _update_parts(
        self, cpath: Rows, cvh: Rows, cdel: Flags, parts: Indices, split: bool
    ) -> None:
        """``forest.update_parts`` on this tree's arrays."""
        depth = max(self.depth, 1)
        update_parts(
            self._forest, self._metas, self._digests, depth, cpath, cvh, cdel, parts, split
        )

    def root(self) -> bytes:
        if self.depth > 0:
            digest: bytes = self._digests[self._index].tobytes()
            return digest
        if self._root_cache is None:
            leaves = [_leaves(ref) for ref in self._metas[:, META_ROOT].tolist()]
            digests = self._digests.tobytes()
            if sum(leaves) >= 2:  # combine_subtrees, without cutting the digests apart
                self._root_cache = branch_digest((digests,))
            else:
                self._root_cache = combine_subtrees(
                    [
                        (digests[DIGEST_SIZE * n : DIGEST_SIZE * (n + 1)], k)
                        for n, k in enumerate(leaves)
                    ]
                )
        return self._root_cache

    def leaves(self) -> int:
        if self.depth == 0:
            return min(2, sum(_leaves(ref) for ref in self._metas[:, META_ROOT].tolist()))
        return _leaves(int(self._metas[self._index, META_ROOT]))

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
        kids, _, bdig, _, lpath, lvh, ldig, _ = part_arrays(tree._forest, tree._index)
        ref = int(tree._metas[tree._index, META_ROOT])
        while ref > 0:
            nibble = (path[depth >> 1] >> (0 if depth & 1 else 4)) & 0xF
            digests = [_digest(bdig, ldig, kid) for kid in kids[ref - 1].tolist()]
            levels.append(tuple(digests[:nibble] + digests[nibble + 1 :]))
            ref = int(kids[ref - 1, nibble])
            depth += 1
        if ref == 0:
            return Proof(tuple(levels), None, None)
        leaf = -ref - 1
        return Proof(tuple(levels), lpath[leaf].tobytes(), lvh[leaf].tobytes())

    def prove_many(self, paths: Sequence[bytes]) -> ProvenPaths:
        """``prove`` of each of ``paths`` (32 bytes each, else ``ValueError``), in one
        compiled walk; the proofs are made as they are read."""
        walk = prove_paths(
            self._forest,
            self._metas,
            self._digests,
            self._index,
            self.depth,
            _rows(paths),
        )
        return ProvenPaths(walk)

    def copy(self) -> CompiledTree:
        """An independent copy (arrays copied, nothing rehashed); a part of a whole tree
        copies to a tree of its own."""
        other = CompiledTree.__new__(CompiledTree)
        other.depth, other._index, other._root_cache = self.depth, 0, self._root_cache
        parts = np.arange(RADIX) if self.depth == 0 else np.array([self._index])
        other._forest = copy_parts(self._forest, self._metas, parts)
        other._metas = self._metas[parts].copy()
        other._digests = self._digests[parts].copy()
        other._parts = [other._part(n) for n in range(RADIX)] if self.depth == 0 else []
        return other


_ALL_PARTS: Final = np.arange(RADIX)


def _leaves(ref: int) -> int:
    """``leaves()`` of a part whose root is ``ref``: 0, 1, or 2 for two or more."""
    return 0 if ref == 0 else 1 if ref < 0 else 2


def _digest(bdig: Rows, ldig: Rows, ref: int) -> bytes:
    """The digest of node ``ref`` (32 zero bytes for empty)."""
    if ref == 0:
        return EMPTY
    digest: bytes = (bdig[ref - 1] if ref > 0 else ldig[-ref - 1]).tobytes()
    return digest


def _groups(rows: list[tuple[int, int]], count: int) -> list[Indices]:
    """The parts ``n`` of ``rows`` (``(n, change rows)``) in at most ``count`` groups of
    about as many change rows each (one group per thread: a thread takes its subtrees in
    one hand-over, and the calling thread takes the first group instead of waiting): the
    parts with the most rows first, each to the group with the fewest rows so far, which
    evens the groups out better than cutting the parts in runs (a 43,000-row commit's two
    runs took 9.9 and 12.2 ms)."""
    loads = [0] * min(count, len(rows))
    groups: list[list[int]] = [[] for _ in loads]
    for n, k in sorted(rows, key=lambda row: (-row[1], row[0])):
        least = loads.index(min(loads))
        groups[least].append(n)
        loads[least] += k
    return [np.array(sorted(group), dtype=np.int64) for group in groups if group]


def hash_values(encodings: bytearray, ends: Sequence[int]) -> tuple[Rows, Flags]:
    """BLAKE2b-256 of each value encoding ``encodings[ends[i - 1]:ends[i]]`` (from 0 for the
    first), in one compiled call; and which of them are empty (deletions)."""
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    offsets[1:] = ends
    data = np.frombuffer(encodings or bytearray(1), dtype=np.uint8)  # a view: no copy
    cvh = np.empty((len(ends), DIGEST_SIZE), dtype=np.uint8)
    hash_rows(data, offsets, cvh)
    return cvh, offsets[1:] == offsets[:-1]


def hash_rows(data: Rows, offsets: Indices, out: Rows) -> None:
    """``lanes.hash_lanes``: BLAKE2b-256 of message ``i`` (``data[offsets[i]:offsets[i +
    1]]``) into row ``i`` of ``out``; batches of at least ``PARALLEL_MIN_VALUES`` in one
    contiguous slice per thread (``in_slices``)."""

    def hash_slice(start: int, end: int) -> None:
        hash_lanes(data, offsets[start : end + 1], out[start:end])

    in_slices(hash_slice, len(out))


def in_slices(work: Callable[[int, int], None], count: int) -> None:
    """``work(start, end)`` over ``range(count)`` in one call, or, from
    ``PARALLEL_MIN_VALUES``, in one contiguous slice per thread (``threads``; ``work``
    releases the interpreter lock), the first in the calling thread. Re-raises what a
    slice raised, once every slice is done."""
    parts = min(threads(), count // (PARALLEL_MIN_VALUES // 2))
    if count < PARALLEL_MIN_VALUES or parts < 2:
        work(0, count)
        return
    cuts = [count * part // parts for part in range(parts + 1)]
    futures = [_executor().submit(work, start, end) for start, end in pairwise(cuts[1:])]
    try:
        work(0, cuts[1])
    finally:
        wait(futures)
    for future in futures:
        future.result()


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
_pools: dict[tuple[int, str, int], ThreadPoolExecutor] = {}


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
    """The tree's threads (``threads``)."""
    return _pool("smt", _settings["threads"])


def helper() -> ThreadPoolExecutor:
    """One thread, kept, for compiled work started beside the calling thread (the compiled
    engine hashing a large block's values while ``State.apply`` sets the dictionary).
    Kept rather than started per use: a fresh thread's compiled work ran ~1.6x as long
    (seen on the tree's update: a new thread allocates from a malloc arena of its own,
    untouched memory) and its first hand-over to the tree's threads came late."""
    return _pool("paraclear-rows", 1)


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    """One pool of ``workers`` threads per process, name and size, made at first use (a
    forked child makes its own: threads do not survive a fork)."""
    key = (os.getpid(), name, workers)
    pool = _pools.get(key)
    if pool is None:
        pool = _pools[key] = ThreadPoolExecutor(workers, thread_name_prefix=name)
    return pool


def warm() -> float:
    """Compile (or load from numba's cache) the tree's kernels; return the seconds it took."""
    started = time.perf_counter()
    tree = CompiledTree()
    tree.update_encoded([bytes(DIGEST_SIZE), b"\xff" * DIGEST_SIZE], bytearray(b"\x01"), [1, 1])
    tree.update([(b"\x01" * DIGEST_SIZE, EMPTY)])
    tree.copy().prove(bytes(DIGEST_SIZE))
    tree.prove_many([bytes(DIGEST_SIZE)])
    key_paths([("acct", "warm", "collateral")])  # ``blake2b.hash_many``: fresh keys' paths
    return time.perf_counter() - started
