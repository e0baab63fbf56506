"""A sparse Merkle tree over 256-bit paths, canonical in the set of leaves.

Definition (the root depends only on the set of (path, value hash) pairs, never on the order
of updates):

* the digest of an empty subtree is 32 zero bytes;
* a subtree holding exactly one leaf has that leaf's digest,
  ``H(0x00 ‖ path ‖ value_hash)``, whatever its depth;
* a subtree holding two or more leaves at depth ``d`` has digest
  ``H(0x01 ‖ digest(left) ‖ digest(right))``, split on bit ``d`` of the path (most significant
  bit first).

With random paths the tree is about ``log2(n)`` deep. A batch update visits each branch
on the changed paths once and rehashes it on the way back up, so a block's cost follows the
number of keys it changed. ``H`` is BLAKE2b with a 32-byte digest.

A ``Proof`` lists the sibling digests from the root down to where the path ends: at the leaf
itself (inclusion), at another leaf or at an empty subtree (exclusion). ``verify`` checks one
against a root with nothing but hashing, so anyone holding a published root can check it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from hashlib import blake2b
from typing import Final

import msgspec

DIGEST_SIZE: Final = 32
EMPTY: Final = bytes(DIGEST_SIZE)
_TOP_BIT: Final = 8 * DIGEST_SIZE - 1


def hash_bytes(data: bytes) -> bytes:
    """BLAKE2b-256 of ``data``."""
    return blake2b(data, digest_size=DIGEST_SIZE).digest()


def leaf_digest(path: bytes, value_hash: bytes) -> bytes:
    return hash_bytes(b"\x00" + path + value_hash)


def branch_digest(left: bytes, right: bytes) -> bytes:
    return hash_bytes(b"\x01" + left + right)


class _Leaf:
    """A leaf; with ``value_hash`` empty it is a deletion order inside ``update`` only."""

    __slots__ = ("digest", "path", "path_int", "value_hash")

    def __init__(self, path: bytes, value_hash: bytes | None) -> None:
        self.path = path
        self.path_int = int.from_bytes(path, "big")
        self.value_hash = value_hash or b""
        self.digest = leaf_digest(path, value_hash) if value_hash else EMPTY


class _Branch:
    """A subtree of two or more leaves; its digest is kept current by ``_update``."""

    __slots__ = ("digest", "left", "right")

    def __init__(self, left: _Node, right: _Node) -> None:
        self.left = left
        self.right = right
        self.digest: bytes = branch_digest(
            left.digest if left is not None else EMPTY,
            right.digest if right is not None else EMPTY,
        )


_Node = _Leaf | _Branch | None


class Proof(msgspec.Struct, frozen=True):
    """Sibling digests from the root down, and the leaf found where the path ended (if any)."""

    siblings: tuple[bytes, ...]
    leaf_path: bytes | None
    leaf_value_hash: bytes | None


def _bit(path_int: int, depth: int) -> int:
    return (path_int >> (_TOP_BIT - depth)) & 1


def _split(ints: list[int], lo: int, hi: int, depth: int) -> int:
    """Index in ``[lo, hi)`` of the first path with bit ``depth`` set; the paths in the range
    are sorted and share every bit above ``depth``."""
    shift = _TOP_BIT - depth
    return bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)


def _build(leaves: list[_Leaf], ints: list[int], lo: int, hi: int, depth: int) -> _Node:
    """The canonical subtree at ``depth`` over ``leaves[lo:hi]`` (sorted, distinct paths)."""
    if hi - lo <= 1:
        return leaves[lo] if hi > lo else None
    mid = _split(ints, lo, hi, depth)
    return _Branch(
        _build(leaves, ints, lo, mid, depth + 1), _build(leaves, ints, mid, hi, depth + 1)
    )


def _update(
    node: _Node, changes: list[_Leaf], ints: list[int], lo: int, hi: int, depth: int
) -> _Node:
    """Apply ``changes[lo:hi]`` (sorted, distinct paths; a leaf without a value hash deletes)
    below ``node`` at ``depth``, keeping the subtree canonical and its digests current."""
    if lo == hi:
        return node
    if not isinstance(node, _Branch):
        merged = [leaf for leaf in changes[lo:hi] if leaf.value_hash]
        if node is not None:
            at = bisect_left(ints, node.path_int, lo, hi)
            if at == hi or ints[at] != node.path_int:
                insort(merged, node, key=_path_int)
        merged_ints = [leaf.path_int for leaf in merged]
        return _build(merged, merged_ints, 0, len(merged), depth)
    mid = _split(ints, lo, hi, depth)
    if mid > lo:
        node.left = _update(node.left, changes, ints, lo, mid, depth + 1)
    if mid < hi:
        node.right = _update(node.right, changes, ints, mid, hi, depth + 1)
    left, right = node.left, node.right
    if left is None and not isinstance(right, _Branch):
        return right
    if right is None and not isinstance(left, _Branch):
        return left
    node.digest = branch_digest(
        left.digest if left is not None else EMPTY,
        right.digest if right is not None else EMPTY,
    )
    return node


def _path_int(leaf: _Leaf) -> int:
    return leaf.path_int


def _digest(node: _Node) -> bytes:
    return EMPTY if node is None else node.digest


class SparseMerkleTree:
    """Mutable sparse Merkle tree; see the module docstring for the definition."""

    def __init__(self) -> None:
        self._root: _Node = None

    def update(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Set the value hash at each path, in one batch; ``None`` removes the leaf.

        Each branch on the changed paths is visited once, however many changes lie below it.
        A path given twice keeps its last value.
        """
        latest = {path: value_hash for path, value_hash in changes}
        leaves = sorted(
            (_Leaf(path, value_hash) for path, value_hash in latest.items()), key=_path_int
        )
        ints = [leaf.path_int for leaf in leaves]
        self._root = _update(self._root, leaves, ints, 0, len(leaves), 0)

    def root(self) -> bytes:
        """The root digest (kept current by every ``update``)."""
        return _digest(self._root)

    def prove(self, path: bytes) -> Proof:
        """Inclusion proof of ``path`` if present, else an exclusion proof."""
        path_int = int.from_bytes(path, "big")
        siblings: list[bytes] = []
        node, depth = self._root, 0
        while isinstance(node, _Branch):
            if _bit(path_int, depth):
                siblings.append(_digest(node.left))
                node = node.right
            else:
                siblings.append(_digest(node.right))
                node = node.left
            depth += 1
        if node is None:
            return Proof(tuple(siblings), None, None)
        return Proof(tuple(siblings), node.path, node.value_hash)


def verify(root: bytes, path: bytes, value_hash: bytes | None, proof: Proof) -> bool:
    """Check that ``path`` holds ``value_hash`` (or, with ``None``, is absent) under ``root``."""
    path_int = int.from_bytes(path, "big")
    if value_hash is not None:
        if proof.leaf_path != path or proof.leaf_value_hash != value_hash:
            return False
    elif proof.leaf_path == path:
        return False
    if proof.leaf_path is None or proof.leaf_value_hash is None:
        digest = EMPTY
    else:
        other = int.from_bytes(proof.leaf_path, "big")
        depth = len(proof.siblings)
        # The terminal leaf must lie on the proven path down to where the walk stopped.
        if depth and (other >> (_TOP_BIT - depth + 1)) != (path_int >> (_TOP_BIT - depth + 1)):
            return False
        digest = leaf_digest(proof.leaf_path, proof.leaf_value_hash)
    for depth in range(len(proof.siblings) - 1, -1, -1):
        sibling = proof.siblings[depth]
        if _bit(path_int, depth):
            digest = branch_digest(sibling, digest)
        else:
            digest = branch_digest(digest, sibling)
    return digest == root
