"""``State``: the committed key-value store and its Merkle commitment.

Values are changed only by ``apply`` with the write set of a block (or a genesis), in one
batch; the root is then recomputed over the changed paths only. The tree is the compiled
``CompiledTree`` by default; ``State(tree="reference")`` keeps the readable
``SparseMerkleTree`` (same roots and proofs; the differential tests run both).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import wait
from itertools import chain, pairwise
from time import perf_counter
from typing import Final, Literal

import numpy as np

from paraclear.state.codec import append_encoding, key_path, key_paths, value_hash
from paraclear.state.compiled import (
    CompiledTree,
    hash_values,
    path_rows,
)
from paraclear.state.hashed import HashedWrites, TreeRows
from paraclear.state.keys import Key
from paraclear.state.smt import Proof, SparseMerkleTree, hash_bytes, verify

TreeKind = Literal["compiled", "reference"]
TREE_KINDS: Final[tuple[TreeKind, ...]] = ("compiled", "reference")
Timings = dict[str, float]

_MISSING: Final = object()
_NO_ROWS: Final[TreeRows] = (
    np.zeros((0, 32), dtype=np.uint8),
    np.zeros((0, 32), dtype=np.uint8),
    np.zeros(0, dtype=np.bool_),
)


def is_absent(value: object) -> bool:
    """``None`` and integer ``0`` mean *absent*; writing them deletes a key."""
    return value is None or (type(value) is int and value == 0)


class State:
    """The current value of every key, and a sparse Merkle tree over them.

    ``data`` is exposed read-only for the hot read path of ``StateView``; never mutate it.
    ``version`` counts commits, so an executor that mirrors state elsewhere (the parallel
    executor's workers) can tell whether anything else changed it since.
    """

    __slots__ = (
        "__weakref__",  # views derived from a state are kept beside it, by weak reference
        "_paths",
        "_stale",
        "_stale_root",
        "_stale_rows",
        "_tree",
        "_watchers",
        "data",
        "kind",
        "rows",
        "version",
    )

    def __init__(
        self, initial: Mapping[Key, object] | None = None, tree: TreeKind = "compiled"
    ) -> None:
        if tree not in TREE_KINDS:
            raise ValueError(f"tree must be one of {TREE_KINDS}, not {tree!r}")
        self.data: dict[Key, object] = {}
        self.kind: TreeKind = tree
        self._paths: dict[Key, bytes] = {}
        self._tree = CompiledTree() if tree == "compiled" else SparseMerkleTree()
        self._stale: set[Key] = set()
        self._stale_root: bytes | None = None
        self._stale_rows: list[TreeRows] | None = []
        """The tree rows of the stale commits, in order (None: one came without, or they
        outnumber the keys: a long run of ``apply_hashed`` keeps no more than that)."""
        self.rows: TreeRows | None = None
        """The tree rows of the last ``apply`` (None for a reference tree, or after
        ``apply_hashed``): for mirrors of the state that keep trees of their own (the
        parallel executor's workers), which then need not encode its values again."""
        self.version = 0
        self._watchers: list[Callable[[Mapping[Key, object]], None]] = []
        if initial:
            self.apply(initial)

    def watch(self, watcher: Callable[[Mapping[Key, object]], None]) -> None:
        """Call ``watcher`` with every write set committed from now on (after it is applied),
        once however often it is given. For mirrors of the state kept elsewhere (the compiled
        engine's tables); a copy of the state has no watchers."""
        if watcher not in self._watchers:
            self._watchers.append(watcher)

    def get(self, key: Key, default: object = None) -> object:
        return self.data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def items(self) -> Iterator[tuple[Key, object]]:
        """Every (key, value) pair, sorted by key."""
        for key in sorted(self.data):
            yield key, self.data[key]

    def apply(
        self,
        writes: Mapping[Key, object],
        timings: Timings | None = None,
        hashed: HashedWrites | None = None,
    ) -> None:
        """Commit a write set: set each key, deleting those written absent.

        ``hashed``: keys of ``writes`` whose tree paths and value hashes were computed by
        whoever wrote them (``HashedWrites``); they are set without being encoded again.
        With ``timings``, record the seconds spent in each stage: ``encode`` (per key: path,
        comparison, canonical encoding), ``value_hashes`` and ``tree``, and ``rows_wait``:
        waiting for ``hashed``'s values to be hashed on another thread
        (``HashedWrites.ready``).

        Raises ``ValueError`` if ``hashed`` names a key twice or one ``writes`` does not
        hold (a bug of its maker), before any key is set.
        """
        started = perf_counter()
        self._sync()
        self.version += 1
        data, known = self.data, self._paths
        batch = _Batch()
        paths = batch.paths
        unknown: list[int] = []  # where in ``paths`` a key has no path yet, and the key
        fresh: list[Key] = []
        rest: Mapping[Key, object] = writes
        waited = 0.0
        if hashed is not None and hashed.keys:
            rest = _uncovered(writes, hashed)
        try:
            self._set(data, known, rest.items(), batch, unknown, fresh)
            if hashed is not None and hashed.keys:
                # The hashed keys, all at once (the others again, unchanged), while their
                # values may still be hashed on another thread (nothing there raises).
                data.update(writes)
                waited = hashed.settled()
                absent = [key for key, value in rest.items() if is_absent(value)]
                for key in chain(hashed.gone(), absent):
                    del data[key]
            if fresh:
                for at, key, path in zip(unknown, fresh, key_paths(fresh), strict=True):
                    paths[at] = known[key] = path
        except BaseException:
            if hashed is not None and hashed.ready is not None:
                wait([hashed.ready])
            raise
        if timings is not None:
            timings["encode"] = perf_counter() - started - waited
            timings["rows_wait"] = waited
        self.rows = self._update(batch, timings, hashed)
        for watcher in self._watchers:
            watcher(writes)

    @staticmethod
    def _set(
        data: dict[Key, object],
        known: dict[Key, bytes],
        rest: Iterable[tuple[Key, object]],
        batch: _Batch,
        unknown: list[int],
        fresh: list[Key],
    ) -> None:
        """Set the writes ``rest`` in ``data`` and add what changed to ``batch``: its path
        (``b""`` where ``known`` has none yet: its index goes to ``unknown``, the key to
        ``fresh``) and its encoding."""
        paths, ends, buffer = batch.paths, batch.ends, batch.buffer
        for key, value in rest:
            if value is None or (type(value) is int and value == 0):  # is_absent, inlined
                if key in data:
                    del data[key]
                    paths.append(known.pop(key, b"") or key_path(key))
                    ends.append(len(buffer))
            elif data.get(key, _MISSING) != value:
                data[key] = value
                path = known.get(key)
                if path is None:
                    unknown.append(len(paths))
                    fresh.append(key)
                paths.append(path or b"")
                ends.append(append_encoding(value, buffer))

    def apply_hashed(
        self,
        writes: Mapping[Key, object],
        root: bytes,
        rows: Collection[TreeRows] | None = None,
    ) -> None:
        """Commit a write set whose new root was computed elsewhere (by the owners of the
        tree's top-level subtrees). The local tree catches up lazily, on the next ``prove``
        or ``apply``, and then checks that it reaches ``root``: from ``rows`` (the tree rows
        of every key the write set changed, as its owners computed them) if given, else by
        encoding the written keys again."""
        data = self.data
        absent = [key for key, value in writes.items() if is_absent(value)]
        data.update(writes)
        for key in absent:
            del data[key]
        self._stale.update(writes)
        self._stale_root = root
        kept = self._stale_rows
        if rows is None or kept is None:
            self._stale_rows = None
        else:
            kept.extend(rows)
            if sum(len(paths) for paths, _, _ in kept) > len(self.data):
                self._stale_rows = None  # more rows than keys: encoding them is no dearer
        self.rows = None
        self.version += 1
        for watcher in self._watchers:
            watcher(writes)

    def root(self) -> bytes:
        """The state root: the sparse Merkle root over all present keys."""
        if self._stale_root is not None:
            return self._stale_root
        return self._tree.root()

    def prove(self, key: Key) -> Proof:
        """An inclusion (or exclusion) proof of ``key`` against ``root()``."""
        self._sync()
        return self._tree.prove(self._path(key))

    def prove_many(self, keys: Iterable[Key]) -> Sequence[Proof]:
        """``prove`` of each of ``keys``, in order: on the compiled tree in one compiled walk,
        each proof made as it is read (``prove_kernel.ProvenPaths``)."""
        self._sync()
        paths = [self._path(key) for key in keys]
        if isinstance(self._tree, CompiledTree):
            return self._tree.prove_many(paths)
        return [self._tree.prove(path) for path in paths]

    def tree(self) -> SparseMerkleTree:
        """The tree, caught up with every commit (read-only: never update it)."""
        self._sync()
        return self._tree

    def path(self, key: Key) -> bytes:
        """The tree path of ``key`` (cached)."""
        return self._path(key)

    def copy(self) -> State:
        """An independent copy with the same contents, root and kind of tree (a compiled
        tree is copied as arrays, not rehashed)."""
        if not isinstance(self._tree, CompiledTree):
            return State(self.data, self.kind)
        self._sync()
        other = State(tree=self.kind)
        other.data = dict(self.data)
        other._paths = dict(self._paths)
        other._tree = self._tree.copy()
        return other

    def _sync(self) -> None:
        """Bring the tree up to date with commits made by ``apply_hashed``."""
        if self._stale_root is None:
            return
        tree, rows = self._tree, self._stale_rows
        if rows is not None and isinstance(tree, CompiledTree):
            if rows:  # one batch, in commit order (a path's last row wins): shared branches
                # are hashed once, not once per commit (4 blocks' rows: 87 against 185 ms)
                paths = np.concatenate([part[0] for part in rows])
                hashes = np.concatenate([part[1] for part in rows])
                tree.update_rows(paths, hashes, np.concatenate([part[2] for part in rows]))
        else:
            self._rehash_stale()
        expected, self._stale_root = self._stale_root, None
        self._stale, self._stale_rows = set(), []
        if self._tree.root() != expected:
            raise RuntimeError("state tree disagrees with the root committed by apply_hashed")

    def _rehash_stale(self) -> None:
        """Encode and hash the stale keys again, into the tree."""
        data = self.data
        batch = _Batch()
        for key in self._stale:
            value = data.get(key, _MISSING)
            if value is _MISSING:
                batch.paths.append(self._paths.pop(key, b"") or key_path(key))
                batch.ends.append(len(batch.buffer))
            else:
                batch.paths.append(self._path(key))
                batch.ends.append(append_encoding(value, batch.buffer))
        self._update(batch)

    def _update(
        self,
        batch: _Batch,
        timings: Timings | None = None,
        rows: HashedWrites | None = None,
    ) -> TreeRows | None:
        """Commit a batch of changed paths to the tree, and ``rows`` hashed elsewhere; the
        rows the tree took (None for a reference tree)."""
        started = perf_counter()
        if isinstance(self._tree, CompiledTree):
            own = _hash_batch(batch)
            hashed = perf_counter()
            joined = _joined(own, rows)
            self._tree.update_rows(*joined)
            taken: TreeRows | None = joined
        else:
            buffer = bytes(batch.buffer)
            encoded = [buffer[a:b] for a, b in pairwise([0, *batch.ends])]
            hashes = [hash_bytes(value) if value else None for value in encoded]
            changes = list(zip(batch.paths, hashes, strict=True))
            if rows is not None:
                for path, digest, gone in zip(rows.paths, rows.hashes, rows.deleted, strict=True):
                    changes.append((path.tobytes(), None if gone else digest.tobytes()))
            hashed = perf_counter()
            self._tree.update(changes)
            taken = None
        if timings is not None:
            timings["value_hashes"] = hashed - started
            timings["tree"] = perf_counter() - hashed
        return taken

    def _path(self, key: Key) -> bytes:
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = key_path(key)
        return path


def _uncovered(writes: Mapping[Key, object], hashed: HashedWrites) -> Mapping[Key, object]:
    """The writes ``hashed`` does not hold, in their order (none if it is ``whole``; those
    of ``rest`` if it names them).

    Raises ``ValueError`` if ``hashed`` names a key twice or one ``writes`` does not hold, or
    if it is ``whole`` or names its ``rest`` and does not hold as many keys as ``writes``
    less those."""
    keys, named = hashed.keys, () if hashed.whole else hashed.rest
    if named is not None:
        if len(keys) + len(named) != len(writes):
            raise ValueError(
                f"hashed writes hold {len(keys)} keys and name {len(named)} others, "
                f"of {len(writes)}"
            )
        try:
            rest = {key: writes[key] for key in named}
        except KeyError:
            raise ValueError("hashed writes name a key the write set does not hold") from None
        if len(rest) != len(named):
            raise ValueError("hashed writes name a key of their rest twice")
        return rest
    # A copy less the hashed keys, deleted in C: each key hashed once (a tuple's hash is not
    # cached), where a set difference and a filtered copy hashed each three times.
    rest = dict(writes)
    try:
        deque(map(rest.__delitem__, keys), maxlen=0)
    except KeyError:  # a key twice, or one not in writes
        raise ValueError(
            "hashed writes name a key twice or one the write set does not hold"
        ) from None
    return rest


def _hash_batch(batch: _Batch) -> TreeRows:
    """The tree rows of ``batch``: its paths, its values' hashes, which ones delete."""
    if not batch.paths:
        return _NO_ROWS
    cvh, cdel = hash_values(batch.buffer, batch.ends)
    return path_rows(batch.paths), cvh, cdel


def _joined(own: TreeRows, rows: HashedWrites | None) -> TreeRows:
    """``own`` followed by ``rows`` (either as it is when the other is empty)."""
    if rows is None or not len(rows.keys):
        return own
    if not len(own[0]):
        return rows.paths, rows.hashes, rows.deleted
    return (
        np.concatenate((own[0], rows.paths)),
        np.concatenate((own[1], rows.hashes)),
        np.concatenate((own[2], rows.deleted)),
    )


class _Batch:
    """Changed paths of one commit and their values' encodings, laid end to end in
    ``buffer``: path ``i``'s encoding ends at ``ends[i]`` (empty: the key was deleted)."""

    __slots__ = ("buffer", "ends", "paths")

    def __init__(self) -> None:
        self.paths: list[bytes] = []
        self.ends: list[int] = []
        self.buffer = bytearray()


def verify_value(root: bytes, key: Key, value: object, proof: Proof) -> bool:
    """Check a proof that ``key`` holds ``value`` (or is absent, for ``None``) under ``root``."""
    digest = None if is_absent(value) else value_hash(value)
    return verify(root, key_path(key), digest, proof)
