"""Committing a write set to a key-value dict as tree rows, in one batch.

``commit_writes`` sets each written key in a dict (deleting those written absent), and
returns what changed as the rows a ``CompiledTree`` takes: the tree paths, the hashes of
the new values and which rows delete. The Python per key is a comparison, a dict update
and the value's canonical encoding appended to one buffer; the paths of keys not seen
before and every value hash are computed in one compiled call each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple

import numpy as np

from paraclear.state.codec import append_encoding, key_paths
from paraclear.state.compiled import Flags, Rows, hash_values, path_rows
from paraclear.state.keys import Key
from paraclear.state.smt import EMPTY, SparseMerkleTree

_MISSING: Final = object()


class ChangeRows(NamedTuple):
    """What a write set changed: row ``i`` sets ``paths[i]`` to the value hash
    ``hashes[i]``, or deletes it where ``deleted[i]``. ``added`` and ``removed`` list the
    keys that were absent before and the keys deleted."""

    paths: Rows
    hashes: Rows
    deleted: Flags
    added: list[Key]
    removed: list[Key]

    def take(self, rows: np.ndarray) -> tuple[Rows, Rows, Flags]:
        """The paths, hashes and deletion flags of ``rows`` (indices)."""
        return self.paths[rows], self.hashes[rows], self.deleted[rows]

    def apply_to(self, tree: SparseMerkleTree, rows: np.ndarray) -> None:
        """Apply ``rows`` to a reference tree (a ``CompiledTree`` takes ``take``'s rows in
        ``update_rows``)."""
        paths, hashes, deleted = self.take(rows)
        tree.update(
            (path.tobytes(), None if gone else digest.tobytes())
            for path, digest, gone in zip(paths, hashes, deleted, strict=True)
        )


def commit_writes(
    data: dict[Key, object], writes: Mapping[Key, object], paths: dict[Key, bytes]
) -> ChangeRows:
    """Set each of ``writes`` in ``data`` (``None`` and ``0`` delete the key); return the
    rows of what changed (a key set to its current value changes nothing). ``paths`` caches
    tree paths by key: read for known keys, filled for new ones."""
    at_path: list[bytes] = []
    ends: list[int] = []
    buffer = bytearray()
    unknown: list[int] = []  # where in ``at_path`` a key has no path yet, and the key
    fresh: list[Key] = []
    added: list[Key] = []
    removed: list[Key] = []
    for key, value in writes.items():
        if value is None or (type(value) is int and value == 0):  # absent
            if data.pop(key, _MISSING) is _MISSING:
                continue
            removed.append(key)
            end = len(buffer)
        else:
            old = data.get(key, _MISSING)
            if old == value:
                continue
            if old is _MISSING:
                added.append(key)
            data[key] = value
            end = append_encoding(value, buffer)
        path = paths.get(key)
        if path is None:
            unknown.append(len(at_path))
            fresh.append(key)
        at_path.append(path or EMPTY)
        ends.append(end)
    for at, key, path in zip(unknown, fresh, key_paths(fresh), strict=True):
        at_path[at] = paths[key] = path
    hashes, deleted = hash_values(buffer, ends)
    return ChangeRows(path_rows(at_path), hashes, deleted, added, removed)


def joined(first: ChangeRows, second: ChangeRows) -> ChangeRows:
    """The rows of both (of distinct keys), ``first``'s first."""
    return ChangeRows(
        np.concatenate((first.paths, second.paths)),
        np.concatenate((first.hashes, second.hashes)),
        np.concatenate((first.deleted, second.deleted)),
        first.added + second.added,
        first.removed + second.removed,
    )


def set_writes(
    data: dict[Key, object], writes: Mapping[Key, object]
) -> tuple[list[Key], list[Key]]:
    """Set each of ``writes`` in ``data`` as ``commit_writes`` does, without rows (their
    tree rows come from elsewhere); return the keys added and the keys removed."""
    added: list[Key] = []
    removed: list[Key] = []
    for key, value in writes.items():
        if value is None or (type(value) is int and value == 0):  # absent
            if data.pop(key, _MISSING) is not _MISSING:
                removed.append(key)
        else:
            if key not in data:
                added.append(key)
            data[key] = value
    return added, removed
