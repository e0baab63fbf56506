"""``paused_gc``: the collector is off inside a block and back on after it; what the block
left alive is frozen, not scanned; a reference cycle made in a block is still collected, by
the full collection that runs once ``FULL_COLLECTION_EVERY`` pauses and
``FULL_COLLECTION_SECONDS`` have passed."""

from __future__ import annotations

import gc
import weakref
from time import monotonic

import pytest

from paraclear.execution import gc as pgc
from paraclear.execution.gc import FULL_COLLECTION_EVERY, paused_gc


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_the_collector_is_paused_in_a_block_and_what_survives_it_is_frozen() -> None:
    frozen_before = gc.get_freeze_count()
    with paused_gc():
        assert not gc.isenabled()
        kept = [[n] for n in range(1_000)]  # tracked containers that outlive the block
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(kept)
    assert gc.get_count()[0] < len(kept)  # nothing of the block is owed to generation 0


def test_a_nested_pause_leaves_the_outer_one_in_charge() -> None:
    with paused_gc():
        with paused_gc():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled_and_nothing_is_frozen() -> None:
    gc.disable()
    try:
        frozen_before = gc.get_freeze_count()
        with paused_gc():
            kept = [[n] for n in range(100)]
        assert not gc.isenabled()
        assert gc.get_freeze_count() == frozen_before
        assert len(kept) == 100
    finally:
        gc.enable()


def _cycle_in_a_block() -> weakref.ref[_Node]:
    with paused_gc():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
    return alive


def test_a_cycle_made_in_a_block_is_collected_within_a_full_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pgc, "FULL_COLLECTION_SECONDS", 0.0)
    alive = _cycle_in_a_block()
    pauses = 0
    while alive() is not None and pauses <= FULL_COLLECTION_EVERY:
        with paused_gc():
            pauses += 1
    assert alive() is None
    assert pauses <= FULL_COLLECTION_EVERY


def test_many_quick_pauses_wait_for_the_seconds_before_a_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pgc, "FULL_COLLECTION_SECONDS", 3_600.0)
    monkeypatch.setattr(pgc._since, "started", monotonic())
    alive = _cycle_in_a_block()
    for _ in range(2 * FULL_COLLECTION_EVERY):
        with paused_gc():
            pass
    assert alive() is not None  # no full collection yet: an hour has not passed
    monkeypatch.setattr(pgc._since, "started", monotonic() - 3_600.0)
    with paused_gc():
        pass
    assert alive() is None
