"""``State``: the committed key-value store and its Merkle commitment.

Values are changed only by ``apply`` with the write set of a block (or a genesis), in one
batch; the root is then recomputed over the changed paths only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from paraclear.state.codec import key_path, value_hash
from paraclear.state.keys import Key
from paraclear.state.smt import Proof, SparseMerkleTree, verify

_MISSING: Final = object()


def is_absent(value: object) -> bool:
    """``None`` and integer ``0`` mean *absent*; writing them deletes a key."""
    return value is None or (type(value) is int and value == 0)


class State:
    """The current value of every key, and a sparse Merkle tree over them.

    ``data`` is exposed read-only for the hot read path of ``StateView``; never mutate it.
    """

    __slots__ = ("_paths", "_tree", "data")

    def __init__(self, initial: Mapping[Key, object] | None = None) -> None:
        self.data: dict[Key, object] = {}
        self._paths: dict[Key, bytes] = {}
        self._tree = SparseMerkleTree()
        if initial:
            self.apply(initial)

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

    def apply(self, writes: Mapping[Key, object]) -> None:
        """Commit a write set: set each key, deleting those written absent."""
        data = self.data
        changes: list[tuple[bytes, bytes | None]] = []
        for key, value in writes.items():
            if is_absent(value):
                if key in data:
                    del data[key]
                    changes.append((self._paths.pop(key, b"") or key_path(key), None))
            elif data.get(key, _MISSING) != value:
                data[key] = value
                changes.append((self._path(key), value_hash(value)))
        self._tree.update(changes)

    def root(self) -> bytes:
        """The state root: the sparse Merkle root over all present keys."""
        return self._tree.root()

    def prove(self, key: Key) -> Proof:
        """An inclusion (or exclusion) proof of ``key`` against ``root()``."""
        return self._tree.prove(self._path(key))

    def copy(self) -> State:
        """An independent copy with the same contents and root."""
        return State(self.data)

    def _path(self, key: Key) -> bytes:
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = key_path(key)
        return path


def verify_value(root: bytes, key: Key, value: object, proof: Proof) -> bool:
    """Check a proof that ``key`` holds ``value`` (or is absent, for ``None``) under ``root``."""
    digest = None if is_absent(value) else value_hash(value)
    return verify(root, key_path(key), digest, proof)
