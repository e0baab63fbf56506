"""``PickedKeys`` (a ``HashedWrites``' keys as picks from lists of keys) reads as the plain
list of the keys it picks: its length, each key from either end, slices, iteration, a few
keys by position, and the deleted keys ``HashedWrites.gone`` hands to ``State.apply``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state import Key
from paraclear.state.hashed import FEW_LISTED, HashedWrites, PickedKeys, picked_keys

SOURCES = st.lists(
    st.tuples(st.integers(0, 12), st.booleans(), st.lists(st.integers(0, 11), max_size=8)),
    max_size=5,
)


def _parts(
    drawn: list[tuple[int, bool, list[int]]],
) -> tuple[list[tuple[list[Key], np.ndarray | None]], list[Key]]:
    """Parts of ``PickedKeys`` (a source of ``size`` keys, all of it or picks in range)
    and the plain list of the keys they pick."""
    parts: list[tuple[list[Key], np.ndarray | None]] = []
    want: list[Key] = []
    for number, (size, whole, picks) in enumerate(drawn):
        source: list[Key] = [("acct", f"s{number}", str(i)) for i in range(size)]
        chosen = [pick for pick in picks if pick < size]
        parts.append((source, None if whole else np.array(chosen, dtype=np.int64)))
        want += source if whole else [source[pick] for pick in chosen]
    return parts, want


@settings(max_examples=150, deadline=None)
@given(SOURCES, st.data())
def test_picked_keys_read_as_the_list_of_the_keys_they_pick(
    drawn: list[tuple[int, bool, list[int]]], data: st.DataObject
) -> None:
    parts, want = _parts(drawn)
    keys, listed = PickedKeys(parts), picked_keys(parts)
    for source, _ in parts:  # appended to after: what it picked stays as it was
        source.append(("acct", "later", "x"))
    assert len(keys) == len(want)
    assert list(listed) == want
    assert bool(keys) == bool(want)
    assert [keys[at] for at in range(-len(want), len(want))] == want + want
    at = sorted(data.draw(st.sets(st.integers(0, max(len(want) - 1, 0)))) if want else [])
    assert keys.picked(np.array(at, dtype=np.int64)) == [want[i] for i in at]
    assert keys[1:-1] == want[1:-1]
    assert list(keys) == want
    assert keys.picked(np.array(at, dtype=np.int64)) == [want[i] for i in at]  # from the list
    for outside in (len(want), -len(want) - 1):
        with pytest.raises(IndexError):
            keys[outside]


@settings(max_examples=100, deadline=None)
@given(SOURCES, st.data())
def test_the_keys_hashed_writes_delete_are_those_flagged(
    drawn: list[tuple[int, bool, list[int]]], data: st.DataObject
) -> None:
    parts, want = _parts(drawn)
    flags = data.draw(st.lists(st.booleans(), min_size=len(want), max_size=len(want)))
    deleted = np.array(flags, dtype=np.bool_)
    rows = np.zeros((len(want), 32), dtype=np.uint8)
    gone = [key for key, flag in zip(want, flags, strict=True) if flag]
    assert HashedWrites(PickedKeys(parts), rows, rows, deleted).gone() == gone
    assert HashedWrites(want, rows, rows, deleted).gone() == gone


def test_picked_keys_are_a_plain_list_below_few_listed_and_picked_from_it_on() -> None:
    source: list[Key] = [("acct", f"a{i}", "nonce") for i in range(200)]
    for count in (0, FEW_LISTED - 1, FEW_LISTED, 150):
        picks = np.arange(count, dtype=np.int64)[::-1].copy()
        keys = picked_keys([(source, picks), ([("oi", "BTC")], None)])
        assert isinstance(keys, list) == (count + 1 < FEW_LISTED)
        assert list(keys) == [*source[:count][::-1], ("oi", "BTC")]
