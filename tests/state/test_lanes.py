"""``lanes.hash_lanes`` (messages grouped by length, hashed ``LANES`` at a time) gives
``hashlib``'s BLAKE2b-256 of every message: groups of every size around ``LANES``, lengths
around the block boundaries, the empty message, and long messages hashed one at a time."""

from __future__ import annotations

import hashlib
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state.blake2b import LANES
from paraclear.state.lanes import LONG, hash_lanes


def _hashed(messages: list[bytes]) -> list[bytes]:
    offsets = np.zeros(len(messages) + 1, dtype=np.int64)
    np.cumsum([len(message) for message in messages], out=offsets[1:])
    data = np.frombuffer(bytearray(b"".join(messages) or b"\0"), dtype=np.uint8)
    out = np.zeros((len(messages), 32), dtype=np.uint8)
    hash_lanes(data, offsets, out)
    return [row.tobytes() for row in out]


def _reference(messages: list[bytes]) -> list[bytes]:
    return [hashlib.blake2b(message, digest_size=32).digest() for message in messages]


LENGTHS = st.sampled_from([0, 1, 7, 8, 9, 33, 127, 128, 129, 255, 256, 257, LONG - 1, LONG])


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(LENGTHS, st.integers(0, 2**32)), max_size=3 * LANES + 5))
def test_messages_of_few_lengths_hash_as_hashlib(drawn: list[tuple[int, int]]) -> None:
    messages = [random.Random(seed).randbytes(length) for length, seed in drawn]
    assert _hashed(messages) == _reference(messages)


def test_every_group_size_up_to_three_lane_sets_and_long_messages_hash_as_hashlib() -> None:
    rng = random.Random(5)
    messages = [
        rng.randbytes(length)
        for size in range(3 * LANES + 2)
        for length in (size * 11 % 300,) * size
    ]
    messages += [rng.randbytes(LONG + 1000), b"", rng.randbytes(5 * LONG)]
    rng.shuffle(messages)
    assert _hashed(messages) == _reference(messages)
