"""``paused_gc``: the collector is off inside a block and back on after it; what the block
left alive is frozen, not scanned; a reference cycle made in a block is still collected, by
the full collection that runs once every ``FULL_COLLECTION_EVERY`` pauses."""

from __future__ import annotations

import gc
import weakref

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


def test_a_cycle_made_in_a_block_is_collected_within_a_full_period() -> None:
    with paused_gc():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
    pauses = 0
    while alive() is not None and pauses <= FULL_COLLECTION_EVERY:
        with paused_gc():
            pauses += 1
    assert alive() is None
    assert pauses <= FULL_COLLECTION_EVERY
