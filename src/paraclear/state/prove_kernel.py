"""The proofs of many paths of a ``CompiledTree`` in one compiled walk, and ``ProvenPaths``,
the arrays it returns, from which ``smt.Proof`` objects are made when they are read.

``CompiledTree.prove`` walks the tree in Python, turning each level's 16 child digests into
``bytes`` one by one (~20 µs a path on this box). ``prove_paths`` walks every path in one
``nogil`` call over the forest's arrays (``smt_kernel``'s layout: refs ``0`` empty, ``b + 1``
branch ``b``, ``-(l + 1)`` leaf ``l``) and writes, per level, the 15 sibling digests in
nibble order (the path's own child left out), as ``Proof.siblings`` lists them; and per path
the leaf where the walk ended. A ``Proof`` is then one ``struct`` unpacking per level.

The walk is ``CompiledTree.prove``'s: at depth 0 (a ``forest`` of 16 top-level parts) a tree
of fewer than two leaves is proven by its only leaf with no levels (or by nothing); else the
first level is the other 15 parts' digests and the walk goes on in the path's part from depth
1. At depth >= 1 it starts at the part's root. Depths are at most 64 (``smt_kernel``), so a
path has at most 64 levels and every index stays far below ``int64``'s range.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any, Final, overload

import numba
import numpy as np

from paraclear.jit import helper
from paraclear.state.smt import DIGEST_SIZE, RADIX, Proof
from paraclear.state.smt_kernel import META_ROOT

LEVEL_BYTES: Final = (RADIX - 1) * DIGEST_SIZE
"""One level of a proof: 15 sibling digests (480 bytes)."""

_LEVEL: Final = struct.Struct(f"{DIGEST_SIZE}s" * (RADIX - 1))

_jit: Any = numba.njit(nogil=True, cache=True, boundscheck=False)
_helper: Any = helper(boundscheck=False)


@_helper
def _lone_part(metas):  # type: ignore[no-untyped-def]
    """For a whole tree (16 parts): the part holding its only leaf, ``-1`` when it holds
    none, ``-2`` when it holds two or more (and proofs start at its top level)."""
    total, lone = 0, -1
    for n in range(RADIX):
        root = metas[n, META_ROOT]
        total += 0 if root == 0 else 1 if root < 0 else 2
        lone = n if root != 0 and lone < 0 else lone
    return lone if total < 2 else -2


@_helper
def _write_top(digests, part, out, row):  # type: ignore[no-untyped-def]
    """The digests of the 16 parts other than ``part`` into ``out[row]``, in order."""
    at = 0
    for n in range(RADIX):
        if n != part:
            for i in range(DIGEST_SIZE):
                out[row, at + i] = digests[n, i]
            at += DIGEST_SIZE


@_helper
def _write_level(kids, bdig, ldig, branch, nibble, out, row):  # type: ignore[no-untyped-def]
    """The digests of branch ``branch``'s children other than ``nibble`` (32 zero bytes for
    an empty one) into ``out[row]``, in nibble order."""
    at = 0
    for n in range(RADIX):
        if n == nibble:
            continue
        kid = np.int64(kids[branch, n])
        if kid > 0:  # three loops, not one with a choice per byte: ~4 times faster
            for i in range(DIGEST_SIZE):
                out[row, at + i] = bdig[kid - 1, i]
        elif kid < 0:
            for i in range(DIGEST_SIZE):
                out[row, at + i] = ldig[-kid - 1, i]
        else:
            for i in range(DIGEST_SIZE):
                out[row, at + i] = 0
        at += DIGEST_SIZE


@_helper
def _walk(forest, metas, digests, lone, index, depth0, paths, row, out, level, write):  # type: ignore[no-untyped-def]
    """Walk path ``row`` of ``paths`` from part ``index`` at ``depth0`` or, at depth 0, from
    the top of the whole tree (``lone``: ``_lone_part``); with ``write``, put its levels in
    ``out`` from row ``level`` on. Return ``(levels, part, ref)``: its number of levels and
    the part and ref where it ended (``ref`` 0: nothing; < 0: a leaf)."""
    part, depth, levels = np.int64(index), depth0, 0
    if depth0 == 0:
        if lone > -2:  # fewer than two leaves: no levels, and the one leaf if any
            return 0, max(lone, 0), np.int64(metas[lone, META_ROOT]) if lone >= 0 else 0
        part, depth, levels = np.int64(paths[row, 0] >> 4), 1, 1
        if write:
            _write_top(digests, part, out, level)
    kids, _, bdig, _, _, _, ldig, _ = forest[part]
    ref = np.int64(metas[part, META_ROOT])
    while ref > 0:
        byte = np.int64(paths[row, depth >> 1])
        nibble = (byte & 15) if depth & 1 else (byte >> 4)
        if write:
            _write_level(kids, bdig, ldig, ref - 1, nibble, out, level + levels)
        ref = np.int64(kids[ref - 1, nibble])
        levels += 1
        depth += 1
    return levels, part, ref


@_jit
def prove_paths(forest, metas, digests, index, depth0, paths):  # type: ignore[no-untyped-def]
    """The proofs of the paths ``paths`` (``uint8[n, 32]``) in the tree whose parts are
    ``forest`` (``metas`` and ``digests`` as ``CompiledTree`` keeps them): at ``depth0`` 0
    the whole tree of 16 parts, else part ``index`` at ``depth0``. Returns
    ``(siblings, ends, found, leaves)``: path ``i``'s levels are ``siblings[ends[i]:ends[i +
    1]]`` (``uint8[15 * 32]`` each), ``found[i]`` whether its walk ended at a leaf, and that
    leaf's path and value hash ``leaves[i, :32]`` and ``leaves[i, 32:]``."""
    n = len(paths)
    lone = _lone_part(metas) if depth0 == 0 else -2
    ends = np.zeros(n + 1, dtype=np.int64)
    unused = np.empty((0, LEVEL_BYTES), dtype=np.uint8)
    for row in range(n):
        levels, _, _ = _walk(
            forest, metas, digests, lone, index, depth0, paths, row, unused, 0, False
        )
        ends[row + 1] = ends[row] + levels
    siblings = np.empty((ends[n], LEVEL_BYTES), dtype=np.uint8)
    found = np.zeros(n, dtype=np.bool_)
    leaves = np.zeros((n, 2 * DIGEST_SIZE), dtype=np.uint8)
    for row in range(n):
        _, part, ref = _walk(
            forest, metas, digests, lone, index, depth0, paths, row, siblings, ends[row], True
        )
        if ref < 0:
            found[row] = True
            _, _, _, _, lpath, lvh, _, _ = forest[part]
            for i in range(DIGEST_SIZE):
                leaves[row, i] = lpath[-ref - 1, i]
                leaves[row, DIGEST_SIZE + i] = lvh[-ref - 1, i]
    return siblings, ends, found, leaves


class ProvenPaths(Sequence[Proof]):
    """The proofs ``prove_paths`` returned, as a sequence of ``Proof`` made when read (and
    not kept: reading one twice makes it twice). Holds its own arrays: later updates of the
    tree do not change it."""

    __slots__ = ("_ends", "_found", "_leaves", "_siblings")

    def __init__(self, arrays: tuple[Any, Any, Any, Any]) -> None:
        siblings, ends, found, leaves = arrays
        self._siblings = memoryview(siblings.reshape(-1))  # keeps the array, copies nothing
        self._ends: list[int] = ends.tolist()
        self._found: list[bool] = found.tolist()
        self._leaves = leaves.tobytes()

    def __len__(self) -> int:
        return len(self._found)

    @overload
    def __getitem__(self, i: int) -> Proof: ...
    @overload
    def __getitem__(self, i: slice) -> list[Proof]: ...
    def __getitem__(self, i: int | slice) -> Proof | list[Proof]:
        if isinstance(i, slice):
            return [self._proof(j) for j in range(*i.indices(len(self)))]
        return self._proof(range(len(self))[i])  # IndexError as a list raises it

    def __iter__(self) -> Iterator[Proof]:
        return map(self._proof, range(len(self)))

    def _proof(self, i: int) -> Proof:
        levels = self._siblings[LEVEL_BYTES * self._ends[i] : LEVEL_BYTES * self._ends[i + 1]]
        siblings = tuple(_LEVEL.iter_unpack(levels))
        if not self._found[i]:
            return Proof(siblings, None, None)
        at = 2 * DIGEST_SIZE * i
        leaf = self._leaves
        return Proof(
            siblings, leaf[at : at + DIGEST_SIZE], leaf[at + DIGEST_SIZE : at + 2 * DIGEST_SIZE]
        )
