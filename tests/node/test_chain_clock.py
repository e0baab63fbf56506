"""Block times after a restart: a simulated chain's time goes on from its latest block at
the wall clock's pace; a chain near the wall clock takes the wall clock."""

from __future__ import annotations

from paraclear.chain.chain_clock import MAX_CLOCK_GAP, chain_clock

WALL = 1_800_000_000.0


def test_a_chain_far_behind_the_wall_clock_continues_its_own_time() -> None:
    wall = [WALL]
    clock = chain_clock(1_780_000_000, lambda: wall[0])
    assert clock() == 1_780_000_000
    wall[0] += 90
    assert clock() == 1_780_000_090


def test_a_chain_ahead_of_the_wall_clock_continues_too() -> None:
    assert chain_clock(int(WALL) + 2 * MAX_CLOCK_GAP, lambda: WALL)() == WALL + 2 * MAX_CLOCK_GAP


def test_a_chain_near_the_wall_clock_or_new_takes_the_wall_clock() -> None:
    assert chain_clock(int(WALL) - MAX_CLOCK_GAP, lambda: WALL)() == WALL
    assert chain_clock(None, lambda: WALL)() == WALL


def test_modes_force_the_wall_clock_or_the_chains_time() -> None:
    assert chain_clock(1_000, lambda: WALL, "wall")() == WALL
    assert chain_clock(int(WALL) - 5, lambda: WALL, "chain")() == WALL - 5
