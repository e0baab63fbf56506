"""The per-connection token bucket and its flood detection (a fake clock)."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from paraclear.api.limits import TokenBucket, deeper_than, nesting_depth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=100, burst=10, clock=clock)
    assert sum(bucket.take() for _ in range(20)) == 10
    clock.now = 1.0
    assert sum(bucket.take() for _ in range(20)) == 10


def test_persistent_flood_accumulates_strikes_but_backing_off_is_forgiven() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=100, burst=10, clock=clock)
    for step in range(50):  # twice the rate for half a second
        clock.now = step * 0.01
        bucket.take()
        bucket.take()
    assert 20 < bucket.strikes < 50 and not bucket.flooding(50)
    for step in range(50, 300):
        clock.now = step * 0.01
        bucket.take()
        bucket.take()
    assert bucket.flooding(50)
    clock.now += 60
    assert bucket.take() and not bucket.flooding(50)


# --- nesting depth, measured before parsing ------------------------------------------------


def reference_depth(text: str) -> int:
    """The readable rule: walk the text; a quote after an odd run of backslashes neither
    opens nor closes a string (in JSON, backslashes occur only inside strings)."""
    depth = deepest = run = 0
    inside = False
    for char in text:
        if char == '"' and run % 2 == 0:
            inside = not inside
        elif char in "[{" and not inside:
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and not inside:
            depth -= 1
        run = run + 1 if char == "\\" else 0
    return deepest


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text('[]{}"\\a'), inner),
    max_leaves=40,
)


@given(json_values)
def test_nesting_depth_agrees_with_a_walk_over_every_json_value(value: object) -> None:
    text = msgspec.json.encode(value)
    assert nesting_depth(text) == reference_depth(text.decode())


@given(st.text(alphabet='[]{}"\\ab', max_size=60))
def test_nesting_depth_agrees_with_a_walk_on_arbitrary_text(text: str) -> None:
    assert nesting_depth(text.encode()) == reference_depth(text)


def test_deep_frames_are_found_and_brackets_in_strings_do_not_count() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert nesting_depth(deep) == 100_000 and deeper_than(deep, 32)
    assert not deeper_than(b'{"label": "' + b"[" * 1_000 + b'"}', 32)
    assert not deeper_than(b'["\\\\", [[1]]]', 3) and deeper_than(b'["\\\\", [[[1]]]]', 3)
    assert nesting_depth(b"") == 0 and nesting_depth(b"1") == 0


@given(st.text(alphabet='[]{}"\\ab', max_size=80), st.integers(0, 6))
def test_deeper_than_agrees_with_the_walk_on_arbitrary_text(text: str, limit: int) -> None:
    """Its reductions (brackets and quotes only, strings dropped, pairs removed) answer as
    the readable walk does, balanced or not, with or without backslashes."""
    assert deeper_than(text.encode(), limit) == (reference_depth(text) > limit)


@given(json_values, st.integers(0, 6))
def test_deeper_than_agrees_with_the_walk_over_every_json_value(value: object, limit: int) -> None:
    text = msgspec.json.encode(value)
    assert deeper_than(text, limit) == (reference_depth(text.decode()) > limit)
