"""Where a node's block times come from, so that a chain's clock never jumps.

A block's time is ``max(previous block's time, clock())``. The clock is the wall clock,
unless the chain's time is simulated: a chain whose latest block is more than
``MAX_CLOCK_GAP`` away from the wall clock when the node starts (a demo chain of another
day, a simulated market run ahead of time) continues from its latest block at the wall
clock's pace, so that serving it again does not jump to today and expire every option at
once. ``mode`` forces either: ``"wall"`` always takes the wall clock (a production chain
back after a long outage catches up with real time), ``"chain"`` always continues.

>>> clock = chain_clock(1_000, lambda: 5_000_000.0, "auto")
>>> clock()
1000.0
>>> chain_clock(4_999_990, lambda: 5_000_000.0, "auto")()
5000000.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

ClockMode = Literal["auto", "wall", "chain"]
CLOCK_MODES: Final = ("auto", "wall", "chain")
MAX_CLOCK_GAP: Final = 86_400
"""Seconds between the chain's latest block and the wall clock beyond which, in ``auto``
mode, the chain's time counts as simulated."""


def chain_clock(
    last_time: int | None, wall: Callable[[], float], mode: ClockMode = "auto"
) -> Callable[[], float]:
    """The clock of a node whose chain's latest block has time ``last_time`` (None: no
    block yet), given the wall clock ``wall`` (Unix seconds)."""
    if mode == "wall" or last_time is None:
        return wall
    started = wall()
    if mode == "auto" and abs(started - last_time) <= MAX_CLOCK_GAP:
        return wall
    return lambda: last_time + (wall() - started)
