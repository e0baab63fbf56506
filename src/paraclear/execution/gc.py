"""Pausing Python's cyclic garbage collector while a block runs.

A block allocates hundreds of thousands of short-lived objects over a heap that holds the
whole state, so the collector's generation-2 passes, triggered by allocation counts, walk
the state again and again: without a pause they cost a quarter to three quarters of a
trade-heavy block's time (measured, on this machine). Transaction code makes few cycles
(chiefly failures' tracebacks); they are collected when the pause ends, once per block.
Every executor uses this, the sequential one included, so speedups compare like with like.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore its previous state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
