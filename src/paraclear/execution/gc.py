"""Pausing Python's cyclic garbage collector while a block runs, and sparing it the heap.

A block allocates hundreds of thousands of short-lived objects over a heap that holds the
whole state, so the collector's generation-2 passes, triggered by allocation counts, walk
the state again and again: without a pause they cost a quarter to three quarters of a
trade-heavy block's time (measured, on this machine). Transaction code makes few cycles
(chiefly failures' tracebacks). Every executor uses this, the sequential one included, so
speedups compare like with like.

When the pause ends, what the block left alive (new state values, keys, receipts) moves to
the permanent generation (``gc.freeze``, which scans nothing) instead of being owed to the
collector: otherwise the first allocation after the block walked every young object of the
block, and every few blocks the collector walked the whole heap again (measured on 10,000-
order blocks, load ~4: 15 ms per block in generation 0, 22-28 ms every other block in
generation 1, 250 ms every sixth block in generation 2; none of them found any garbage).
Objects frozen so are still freed by reference counting; only reference cycles among them
wait, for the full collection that runs, over everything, once ``FULL_COLLECTION_EVERY``
pauses and ``FULL_COLLECTION_SECONDS`` have both passed since the last. A full collection
walks the whole heap (60-130 ms in a node process, measured: numba's and the modules'
objects, not only the state), so a count of pauses alone stalled a node under light
traffic, whose blocks are a few transactions a few milliseconds apart, every ten seconds;
blocks are rarely slower than 60 ms, so for a node the minute is the bound, and for big
blocks the pauses are.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic
from typing import Final

FULL_COLLECTION_EVERY: Final = 1_000
FULL_COLLECTION_SECONDS: Final = 60.0
"""Pauses, and wall seconds, between full collections (with the permanent generation
unfrozen): together, the bound on how long a reference cycle made in a block waits."""


class _Since:
    """Pauses and the time since the last full collection."""

    def __init__(self) -> None:
        self.pauses = 0
        self.started = monotonic()


_since = _Since()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block; after it, freeze what the block left
    alive (see the module) and restore the collector's previous state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            settle()
            gc.enable()


def settle() -> None:
    """Move every object the collector tracks to the permanent generation, after a full
    collection of everything (frozen objects included) when one is due (see the module)."""
    since = _since
    since.pauses += 1
    if since.pauses >= FULL_COLLECTION_EVERY and (
        monotonic() - since.started >= FULL_COLLECTION_SECONDS
    ):
        gc.unfreeze()
        gc.collect()
        since.pauses, since.started = 0, monotonic()
    gc.freeze()
