"""``hash_lanes``: BLAKE2b-256 of many messages of any lengths, ``LANES`` at a time.

``blake2b.compress_lanes`` compresses one block of ``LANES`` messages of one length in about
the time of one scalar compression. A block's values are short (1 to a few hundred bytes:
an integer, a position, a portfolio) and of few distinct lengths, so they are grouped by
length (a counting sort) and each group hashed ``LANES`` at a time; a group's last few are
hashed in lanes too, the spare lanes repeating its first message (a lane costs nothing).
Messages of ``LONG`` bytes or more are rare (a long list of open orders) and are hashed one
at a time (``blake2b.hash_into``), so that the counting sort stays small; so are batches of
fewer than ``FEW`` (a small block's commit), whose sort would cost more than it saves.

Same digests as ``blake2b.hash_many`` (the tests compare both with ``hashlib``).
"""

from __future__ import annotations

from typing import Any, Final

import numba
import numpy as np

from paraclear.borrowed import borrowed
from paraclear.jit import helper
from paraclear.state.blake2b import (
    BLOCK_SIZE,
    DIGEST_SIZE,
    LANES,
    LITTLE_ENDIAN,
    compress_lanes,
    hash_into,
    lane_words,
    load64,
    start_lanes,
)

LONG: Final = 4_096
"""Messages at least this long are hashed one at a time."""
FEW: Final = 16
"""Batches of fewer messages are hashed one at a time: a handful seldom share a length, and
sorting them cost more than it saved (5 messages: 1.2 µs one at a time)."""

_helper: Any = helper(boundscheck=False)


@_helper
def _load_block(m, lane, data, start, count):  # type: ignore[no-untyped-def]
    """Message words of ``data[start:start + count]`` (0..128 bytes, zero-padded) into
    column ``lane`` of ``m`` (``uint64[16, LANES]``), little-endian as BLAKE2b reads them."""
    full = count >> 3
    for w in range(full):
        m[w, lane] = load64(data, start + 8 * w)
    for w in range(full, 16):
        m[w, lane] = np.uint64(0)
    for i in range(8 * full, count):
        m[i >> 3, lane] |= np.uint64(data[start + i]) << np.uint64(8 * (i & 7))


@_helper
def _hash_group(data, offsets, order, first, count, length, h, m, out, words):  # type: ignore[no-untyped-def]
    """Hash messages ``order[first:first + count]`` (``count`` <= ``LANES``), each
    ``length`` bytes, into their rows of ``out`` (flat, ``DIGEST_SIZE`` bytes a row; or of
    ``words``, the same memory as ``uint64``, where they read as BLAKE2b's words: a digest
    put as four words, not 32 bytes, took a fifth of the time here)."""
    start_lanes(h)
    blocks = max(1, (length + BLOCK_SIZE - 1) // BLOCK_SIZE)
    for block in range(blocks):
        at = block * BLOCK_SIZE
        for lane in range(LANES):
            message = order[first + lane] if lane < count else order[first]
            _load_block(m, lane, data, offsets[message] + at, min(BLOCK_SIZE, length - at))
        v12, v14 = lane_words(min(at + BLOCK_SIZE, length), block == blocks - 1)
        compress_lanes(h, m, v12, v14)
    for lane in range(count):
        row = order[first + lane] * DIGEST_SIZE
        if LITTLE_ENDIAN:
            for i in range(DIGEST_SIZE // 8):
                words[(row >> 3) + i] = h[i, lane]
        else:
            for i in range(DIGEST_SIZE):
                out[row + i] = np.uint8((h[i >> 3, lane] >> np.uint64(8 * (i & 7))) & 0xFF)


@numba.njit(nogil=True, cache=True, boundscheck=False)
def hash_lanes(data: Any, offsets: Any, out: Any) -> None:  # pragma: no cover - compiled
    """Hash message ``i`` = ``data[offsets[i]:offsets[i + 1]]`` into row ``i`` of ``out``
    (``uint8[len(offsets) - 1, 32]``), messages of one length ``LANES`` at a time (fewer
    than ``FEW`` messages one at a time)."""
    flat = out.reshape(-1)
    count = len(offsets) - 1
    scratch = np.empty(24, dtype=np.uint64)
    longest = -1
    for i in range(count):  # the long ones (and all of a few) one at a time
        length = offsets[i + 1] - offsets[i]
        if length >= LONG or count < FEW:
            hash_into(data, offsets[i], length, flat, i * DIGEST_SIZE, scratch)
        else:
            longest = max(longest, length)
    if longest < 0:
        return
    starts = np.zeros(longest + 2, dtype=np.int64)
    for i in range(count):  # counting sort by length: how many of each
        length = offsets[i + 1] - offsets[i]
        if length <= longest:
            starts[length + 1] += 1
    for length in range(longest + 1):
        starts[length + 1] += starts[length]
    order = np.empty(starts[longest + 1], dtype=np.int64)
    filled = starts.copy()
    for i in range(count):
        length = offsets[i + 1] - offsets[i]
        if length <= longest:
            order[filled[length]] = i
            filled[length] += 1
    h = np.empty((8, LANES), dtype=np.uint64)
    m = np.empty((16, LANES), dtype=np.uint64)
    # the caller's arrays borrowed: each group's call counts no references to them
    words, flat = borrowed(flat.view(np.uint64)), borrowed(flat)
    data, offsets = borrowed(data), borrowed(offsets)
    for length in range(longest + 1):
        for first in range(starts[length], starts[length + 1], LANES):
            group = min(LANES, starts[length + 1] - first)
            _hash_group(data, offsets, order, first, group, length, h, m, flat, words)
