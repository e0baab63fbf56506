"""Hashing a sparse Merkle (sub)tree's changed nodes after its walk (``smt_kernel.update``):
the changed leaves, then the dirty branches level by level, deepest first, ``LANES`` messages
at a time (``blake2b.compress_lanes``: one compression of eight messages for about the time
of one). A leaf's message is 65 bytes (one compression), a branch's 513 (five). Messages are
read as little-endian words straight from the digest rows (no byte copies); the module
refuses to import on a big-endian machine.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from paraclear.borrowed import borrowed
from paraclear.jit import helper
from paraclear.state.blake2b import (
    LANES,
    LITTLE_ENDIAN,
    compress_lanes,
    lane_words,
    start_lanes,
)

_BRANCH_MSG: Final = 1 + 16 * 32
_LEAF_MSG: Final = 1 + 32 + 32
_helper: Any = helper(boundscheck=False)
if not LITTLE_ENDIAN:  # digests are read as little-endian words (``_hash_leaves``)
    raise ImportError("the compiled sparse Merkle tree needs a little-endian machine")


@_helper
def _put_digests(h, rows, first, count, digests):  # type: ignore[no-untyped-def]
    """Set the digests (``uint64[n, 4]`` words) of ``rows[first:first + count]`` from the
    first ``count`` lanes of the states ``h``."""
    for lane in range(count):
        row = rows[first + lane]
        for i in range(4):
            digests[row, i] = h[i, lane]


@_helper
def _hash_leaves(lpath, lvh, ldig, rows, n, h, m):  # type: ignore[no-untyped-def]
    """Set the digest ``H(0x00 ‖ path ‖ value_hash)`` of leaves ``rows[:n]``, ``LANES`` at a
    time. The 65-byte message is read as words: the leading byte shifts every word of path
    and value hash by 8 bits (message word ``w`` is ``x[w] << 8 | x[w - 1] >> 56``)."""
    paths, values, digests = lpath.view(np.uint64), lvh.view(np.uint64), ldig.view(np.uint64)
    v12, v14 = lane_words(_LEAF_MSG, True)
    for first in range(0, n, LANES):
        count = min(LANES, n - first)
        start_lanes(h)
        for lane in range(count):  # the other lanes hash what they hold, unread
            row = rows[first + lane]
            carry = np.uint64(0)
            for w in range(8):
                x = paths[row, w] if w < 4 else values[row, w - 4]
                m[w, lane] = (x << np.uint64(8)) | carry
                carry = x >> np.uint64(56)
            m[8, lane] = carry
            for w in range(9, 16):
                m[w, lane] = np.uint64(0)
        compress_lanes(h, m, v12, v14)
        _put_digests(h, rows, first, count, digests)


@_helper
def _hash_branches(kids, bdig, ldig, rows, n, h, m, words):  # type: ignore[no-untyped-def]
    """Set the digest ``H(0x01 ‖ 16 child digests)`` of branches ``rows[:n]``, ``LANES`` at a
    time (their children's digests must be current: hash deeper branches first). The
    513-byte message is five blocks of the children's words shifted by the leading byte;
    ``words`` (``uint64[64, LANES]``) holds each lane's 64 child words."""
    branches, leaves = bdig.view(np.uint64), ldig.view(np.uint64)
    for first in range(0, n, LANES):
        count = min(LANES, n - first)
        start_lanes(h)
        for lane in range(count):  # the other lanes hash what they hold, unread
            row = rows[first + lane]
            for c in range(16):
                ref = kids[row, c]
                for i in range(4):
                    if ref > 0:
                        words[4 * c + i, lane] = branches[ref - 1, i]
                    elif ref < 0:
                        words[4 * c + i, lane] = leaves[-ref - 1, i]
                    else:
                        words[4 * c + i, lane] = np.uint64(0)
        for block in range(5):
            if block < 4:  # each lane loop branch-free: one vector operation a word
                for w in range(16):
                    at = 16 * block + w
                    if at == 0:
                        for lane in range(LANES):
                            m[0, lane] = (words[0, lane] << np.uint64(8)) | np.uint64(1)
                        continue
                    for lane in range(LANES):
                        high = words[at, lane] << np.uint64(8)
                        m[w, lane] = high | (words[at - 1, lane] >> np.uint64(56))
            else:
                for lane in range(LANES):
                    m[0, lane] = words[63, lane] >> np.uint64(56)
                for w in range(1, 16):
                    for lane in range(LANES):
                        m[w, lane] = np.uint64(0)
            v12, v14 = lane_words(min(128 * (block + 1), _BRANCH_MSG), block == 4)
            compress_lanes(h, m, v12, v14)
        _put_digests(h, rows, first, count, branches)


@_helper
def _deepest_first(branches, depths, nb):  # type: ignore[no-untyped-def]
    """``branches[:nb]`` ordered by depth, deepest first (``depths``: each one's), by a
    counting sort over the levels present; and where each level's run ends (``ends[d]`` for
    the ``d``-th deepest level)."""
    deepest, shallowest = depths[0], depths[0]
    for j in range(1, nb):
        deepest, shallowest = max(deepest, depths[j]), min(shallowest, depths[j])
    levels = deepest - shallowest + 1
    ends = np.zeros(levels + 1, dtype=np.int64)
    for j in range(nb):
        ends[deepest - depths[j] + 1] += 1
    for d in range(levels):
        ends[d + 1] += ends[d]
    order = np.empty(nb, dtype=np.int64)
    for j in range(nb):
        slot = deepest - depths[j]
        order[ends[slot]] = branches[j]
        ends[slot] += 1  # ends[d] becomes where level d's run ends
    return order, ends[:levels]


@_helper
def hash_dirty(kids, bdig, lpath, lvh, ldig, leaves, nl, branches, depths, nb, lanes):  # type: ignore[no-untyped-def]
    """Hash the leaves ``leaves[:nl]``, then the branches ``branches[:nb]`` deepest first
    (``depths``: each one's depth), so that every branch is hashed after its children.
    Its arrays are ``borrowed`` for the hashing (the caller holds them)."""
    h, m, words = borrowed(lanes[0]), borrowed(lanes[1]), borrowed(lanes[2])
    kids, bdig, ldig = borrowed(kids), borrowed(bdig), borrowed(ldig)
    lpath, lvh, leaves = borrowed(lpath), borrowed(lvh), borrowed(leaves)
    _hash_leaves(lpath, lvh, ldig, leaves, nl, h, m)
    if nb == 0:
        return
    order, ends = _deepest_first(branches, depths, nb)
    lo = 0
    for hi in ends:  # one level's branches after another
        if hi > lo:
            _hash_branches(kids, bdig, ldig, order[lo:hi], hi - lo, h, m, words)
        lo = hi
