"""The order in which the warm-up's processes claim steps (``paraclear.warmup_claims``)."""

from __future__ import annotations

import threading

import pytest

from paraclear.warmup_claims import Claims

_WEIGHTS = {"tree": 9.0, "margin": 5.0, "orders": 3.0, "fills": 3.0, "run": 2.0, "vol": 2.5}
_NEEDS = {"orders": ("margin",), "fills": ("margin",), "run": ("orders", "fills")}


def _claims(names: tuple[str, ...] = ("tree", "margin", "orders", "fills", "run", "vol")) -> Claims:
    return Claims(names, _WEIGHTS, _NEEDS)


def test_the_longest_chain_of_work_goes_first_and_ties_keep_the_listed_order() -> None:
    # margin 5 + orders 3 + run 2 = 10 > tree 9; orders and fills tie (3 + 2): listed order
    assert _claims().order == ("margin", "tree", "orders", "fills", "vol", "run")


def test_a_step_is_claimed_only_after_what_it_needs_has_finished() -> None:
    claims = _claims()
    assert [claims.claim(), claims.claim()] == ["margin", "tree"]
    assert claims.claim() == "vol"  # orders and fills wait for margin, still running
    claims.finished("margin")
    assert [claims.claim(), claims.claim()] == ["orders", "fills"]
    claims.finished("orders")
    claims.finished("fills")
    assert claims.claim() == "run"
    assert claims.claim() is None


def test_a_claimer_with_nothing_ready_waits_for_the_steps_running_elsewhere() -> None:
    claims = Claims(("margin", "orders"), _WEIGHTS, _NEEDS)
    assert claims.claim() == "margin"
    got: list[str | None] = []
    waiting = threading.Thread(target=lambda: got.append(claims.claim()))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive() and got == []
    claims.finished("margin")
    waiting.join(10)
    assert got == ["orders"]


def test_a_step_taken_out_of_turn_takes_what_it_needs_with_it() -> None:
    claims = _claims()
    claims.take("run")  # compiling run compiles orders, fills and margin in passing
    assert [claims.claim(), claims.claim(), claims.claim()] == ["tree", "vol", None]


def test_steps_that_are_not_listed_are_not_waited_for() -> None:
    claims = Claims(("run", "vol"), _WEIGHTS, _NEEDS)
    assert [claims.claim(), claims.claim(), claims.claim()] == ["vol", "run", None]


def test_a_cycle_of_needs_is_refused() -> None:
    with pytest.raises(ValueError, match="need each other"):
        Claims(("a", "b"), {}, {"a": ("b",), "b": ("a",)})
