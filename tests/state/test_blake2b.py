"""The compiled BLAKE2b-256 against hashlib, bit for bit."""

import hashlib
import random

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state.blake2b import (
    LANES,
    blake2b_256,
    compress_lanes,
    hash_many,
    lane_words,
    start_lanes,
)
from paraclear.state.compiled import PARALLEL_MIN_VALUES, hash_rows, set_threads


def reference(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def test_every_length_around_the_block_boundaries_matches_hashlib():
    rng = random.Random(7)
    for length in [*range(0, 300), 511, 512, 513, 1024, 4097]:
        data = rng.randbytes(length)
        assert blake2b_256(data) == reference(data), length


@given(st.lists(st.binary(max_size=400), max_size=30))
@settings(max_examples=100, deadline=None)
def test_a_batch_over_one_buffer_matches_one_hashlib_call_per_message(messages):
    offsets = np.zeros(len(messages) + 1, dtype=np.int64)
    np.cumsum([len(m) for m in messages], out=offsets[1:])
    data = np.frombuffer(bytearray(b"".join(messages) or b"\0"), dtype=np.uint8)
    out = np.empty((len(messages), 32), dtype=np.uint8)
    hash_many(data, offsets, out)
    assert [row.tobytes() for row in out] == [reference(m) for m in messages]


def test_all_ones_bytes_and_the_known_empty_digest():
    assert blake2b_256(b"\xff" * 1000) == reference(b"\xff" * 1000)
    assert blake2b_256(b"").hex().startswith("0e5751c026e543b2e8ab2eb06099daa1")


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("count", [PARALLEL_MIN_VALUES - 1, PARALLEL_MIN_VALUES, 9_001])
def test_hash_rows_on_threads_matches_hashlib_for_every_message(threads, count):
    rng = random.Random(count)
    messages = [rng.randbytes(rng.randrange(0, 200)) for _ in range(count)]
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum([len(m) for m in messages], out=offsets[1:])
    data = np.frombuffer(bytearray(b"".join(messages)), dtype=np.uint8)
    out = np.zeros((count, 32), dtype=np.uint8)
    previous = set_threads(threads)
    try:
        hash_rows(data, offsets, out)
    finally:
        set_threads(previous)
    assert [row.tobytes() for row in out] == [reference(m) for m in messages]


@numba.njit(cache=False)
def _hash_lanes(words, length):  # type: ignore[no-untyped-def]
    """Hash ``LANES`` messages of ``length`` bytes given as their little-endian words by
    lane (``words[w, lane]``, zero-padded to whole blocks) with ``compress_lanes``."""
    h = np.empty((8, LANES), dtype=np.uint64)
    start_lanes(h)
    blocks = max(1, (length + 127) // 128)
    for block in range(blocks):
        v12, v14 = lane_words(min(128 * (block + 1), length), block == blocks - 1)
        compress_lanes(h, np.ascontiguousarray(words[16 * block : 16 * block + 16]), v12, v14)
    return h


@pytest.mark.parametrize("length", [0, 1, 7, 8, 65, 127, 128, 129, 255, 256, 300, 513])
def test_eight_lanes_at_once_match_hashlib_for_every_lane(length):
    rng = random.Random(length)
    messages = [rng.randbytes(length) for _ in range(LANES)]
    padded = max(1, (length + 127) // 128) * 128
    words = np.stack(
        [np.frombuffer(m.ljust(padded, b"\0"), dtype="<u8") for m in messages], axis=1
    ).astype(np.uint64)
    h = _hash_lanes(np.ascontiguousarray(words), length)
    digests = [h[:4, lane].astype("<u8").tobytes() for lane in range(LANES)]
    assert digests == [reference(m) for m in messages]
