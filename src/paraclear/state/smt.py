"""A sparse Merkle tree of radix 16 over 256-bit paths, canonical in the set of leaves.

Definition (the root depends only on the set of (path, value hash) pairs, never on the order
of updates). A path is read as 64 nibbles, most significant first:

* the digest of an empty subtree is 32 zero bytes;
* a subtree holding exactly one leaf has that leaf's digest,
  ``H(0x00 ‖ path ‖ value_hash)``, whatever its depth;
* a subtree holding two or more leaves at depth ``d`` has digest
  ``H(0x01 ‖ digest(child 0) ‖ … ‖ digest(child 15))``, child ``c`` holding the leaves whose
  nibble ``d`` is ``c``.

With random paths the tree is about ``log16(n)`` deep (5 levels for a million keys). A batch
update visits each branch on the changed paths once and rehashes it on the way back up, so
a block's cost follows the number of keys it changed, and radix 16 keeps the number of
branch hashes per changed key near the depth. ``H`` is BLAKE2b with a 32-byte digest.

A ``Proof`` lists, from the root down to where the path ends, the 15 sibling digests at each
level, and the leaf found there: the leaf itself (inclusion), another leaf or nothing
(exclusion). ``verify`` checks it against a root with nothing but hashing, so anyone holding
a published root can check their balance without trusting the house.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from hashlib import blake2b
from typing import Final

import msgspec

DIGEST_SIZE: Final = 32
EMPTY: Final = bytes(DIGEST_SIZE)
RADIX: Final = 16
_NIBBLE_BITS: Final = 4
_TOP_SHIFT: Final = 8 * DIGEST_SIZE - _NIBBLE_BITS


def hash_bytes(data: bytes) -> bytes:
    """BLAKE2b-256 of ``data``."""
    return blake2b(data, digest_size=DIGEST_SIZE).digest()


def leaf_digest(path: bytes, value_hash: bytes) -> bytes:
    return hash_bytes(b"\x00" + path + value_hash)


def branch_digest(children: Iterable[bytes]) -> bytes:
    """Digest of a branch from its 16 child digests, in nibble order."""
    return hash_bytes(b"\x01" + b"".join(children))


class _Leaf:
    """A leaf; with ``value_hash`` empty it is a deletion order inside ``update`` only."""

    __slots__ = ("digest", "path", "path_int", "value_hash")

    def __init__(self, path: bytes, value_hash: bytes | None) -> None:
        self.path = path
        self.path_int = int.from_bytes(path, "big")
        self.value_hash = value_hash or b""
        self.digest = leaf_digest(path, value_hash) if value_hash else EMPTY


class _Branch:
    """A subtree of two or more leaves; its digest is kept current by ``_update``.

    ``digests`` holds the 16 child digests contiguously (512 bytes) and ``count`` the number
    of non-empty children, so rehashing a branch touches no child object.
    """

    __slots__ = ("children", "count", "digest", "digests")

    def __init__(self, children: list[_Node]) -> None:
        self.children = children
        self.digests = bytearray(b"".join(EMPTY if c is None else c.digest for c in children))
        self.count = RADIX - children.count(None)
        self.digest: bytes = hash_bytes(b"\x01" + self.digests)


_Node = _Leaf | _Branch | None


class Proof(msgspec.Struct, frozen=True):
    """Per level from the root down, the 15 sibling digests; and the leaf where it ended."""

    siblings: tuple[tuple[bytes, ...], ...]
    leaf_path: bytes | None
    leaf_value_hash: bytes | None


def _nibble(path_int: int, depth: int) -> int:
    return (path_int >> (_TOP_SHIFT - _NIBBLE_BITS * depth)) & (RADIX - 1)


def _spans(ints: list[int], lo: int, hi: int, depth: int) -> Iterable[tuple[int, int, int]]:
    """(nibble, start, end) of each run of ``ints[lo:hi]`` (sorted, sharing the nibbles above
    ``depth``) with the same nibble at ``depth``."""
    shift = _TOP_SHIFT - _NIBBLE_BITS * depth
    while lo < hi:
        prefix = ints[lo] >> shift
        end = bisect_left(ints, (prefix + 1) << shift, lo, hi)
        yield prefix & (RADIX - 1), lo, end
        lo = end


def _build(leaves: list[_Leaf], ints: list[int], lo: int, hi: int, depth: int) -> _Node:
    """The canonical subtree at ``depth`` over ``leaves[lo:hi]`` (sorted, distinct paths)."""
    if hi - lo <= 1:
        return leaves[lo] if hi > lo else None
    children: list[_Node] = [None] * RADIX
    for nibble, start, end in _spans(ints, lo, hi, depth):
        children[nibble] = _build(leaves, ints, start, end, depth + 1)
    return _Branch(children)


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
        return _build(merged, [leaf.path_int for leaf in merged], 0, len(merged), depth)
    children, digests = node.children, node.digests
    for nibble, start, end in _spans(ints, lo, hi, depth):
        old = children[nibble]
        new = children[nibble] = _update(old, changes, ints, start, end, depth + 1)
        at = nibble * DIGEST_SIZE
        digests[at : at + DIGEST_SIZE] = EMPTY if new is None else new.digest
        node.count += (new is not None) - (old is not None)
    if node.count <= 1:
        only = next((child for child in children if child is not None), None)
        if not isinstance(only, _Branch):
            return only
    node.digest = hash_bytes(b"\x01" + digests)
    return node


def _path_int(leaf: _Leaf) -> int:
    return leaf.path_int


class SparseMerkleTree:
    """Mutable sparse Merkle tree; see the module docstring for the definition.

    With ``depth`` > 0 the tree is the subtree at that depth of a larger tree: every path it
    holds shares the nibbles above ``depth``, and ``root()`` is the subtree's digest.
    """

    def __init__(self, depth: int = 0) -> None:
        self._root: _Node = None
        self.depth = depth

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
        self._root = _update(self._root, leaves, ints, 0, len(leaves), self.depth)

    def root(self) -> bytes:
        """The root digest (kept current by every ``update``)."""
        return EMPTY if self._root is None else self._root.digest

    def leaves(self) -> int:
        """0, 1, or 2 for two or more: what combining subtree digests needs to know."""
        node = self._root
        return 0 if node is None else 1 if isinstance(node, _Leaf) else 2

    def subtrees(self) -> list[SparseMerkleTree]:
        """The 16 depth-1 subtrees of a depth-0 tree, sharing its nodes (use on a copy)."""
        if self.depth != 0:
            raise ValueError("only a whole tree splits into top-level subtrees")
        parts = [SparseMerkleTree(1) for _ in range(RADIX)]
        node = self._root
        if isinstance(node, _Branch):
            for part, child in zip(parts, node.children, strict=True):
                part._root = child
        elif node is not None:
            parts[node.path[0] >> _NIBBLE_BITS]._root = node
        return parts

    def prove(self, path: bytes) -> Proof:
        """Inclusion proof of ``path`` if present, else an exclusion proof."""
        path_int = int.from_bytes(path, "big")
        levels: list[tuple[bytes, ...]] = []
        node, depth = self._root, self.depth  # a subtree's root reads nibble ``depth`` first
        while isinstance(node, _Branch):
            nibble = _nibble(path_int, depth)
            digests = [
                bytes(node.digests[i : i + DIGEST_SIZE])
                for i in range(0, RADIX * DIGEST_SIZE, DIGEST_SIZE)
            ]
            levels.append(tuple(digests[:nibble] + digests[nibble + 1 :]))
            node = node.children[nibble]
            depth += 1
        if node is None:
            return Proof(tuple(levels), None, None)
        return Proof(tuple(levels), node.path, node.value_hash)


def combine_subtrees(parts: list[tuple[bytes, int]]) -> bytes:
    """The root of a whole tree from its 16 depth-1 subtrees' (digest, ``leaves()``)."""
    if len(parts) != RADIX:
        raise ValueError(f"need {RADIX} subtrees, got {len(parts)}")
    if sum(leaves for _, leaves in parts) >= 2:
        return branch_digest(digest for digest, _ in parts)
    return next((digest for digest, leaves in parts if leaves), EMPTY)


def verify(root: bytes, path: bytes, value_hash: bytes | None, proof: Proof) -> bool:
    """Check that ``path`` holds ``value_hash`` (or, with ``None``, is absent) under ``root``."""
    path_int = int.from_bytes(path, "big")
    if value_hash is not None:
        if proof.leaf_path != path or proof.leaf_value_hash != value_hash:
            return False
    elif proof.leaf_path == path:
        return False
    depth = len(proof.siblings)
    if depth > 2 * DIGEST_SIZE or any(len(level) != RADIX - 1 for level in proof.siblings):
        return False
    if proof.leaf_path is None or proof.leaf_value_hash is None:
        digest = EMPTY
    else:
        # The terminal leaf must lie on the proven path down to where the walk stopped.
        shift = 8 * DIGEST_SIZE - _NIBBLE_BITS * depth
        if int.from_bytes(proof.leaf_path, "big") >> shift != path_int >> shift:
            return False
        digest = leaf_digest(proof.leaf_path, proof.leaf_value_hash)
    for level in range(depth - 1, -1, -1):
        nibble = _nibble(path_int, level)
        siblings = proof.siblings[level]
        digest = branch_digest((*siblings[:nibble], digest, *siblings[nibble:]))
    return digest == root
