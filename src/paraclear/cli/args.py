"""Argument types that check ranges, so that bad input gets a one-line error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def number_in(kind: type[N], low: N, high: N) -> Callable[[str], N]:
    """An argparse type: a ``kind`` number within ``[low, high]``."""

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {high}]")
        return value

    return parse


def add_engine_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--engine reference|compiled`` (default compiled), for commands that execute blocks."""
    from paraclear.clearing import ENGINES

    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="compiled",
        help=f"how {what} runs transactions: 'compiled' runs the order flow (placements, "
        "cancels, amends, fills, closes) as compiled kernels over columnar tables, with "
        "results identical to 'reference', the readable handlers that are the "
        "specification (default compiled; the kernels compile once, on first use)",
    )


def add_spread_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--spread measured|model`` (default measured), for commands with a parallel
    executor."""
    from paraclear.execution import SPREADS

    parser.add_argument(
        "--spread",
        choices=SPREADS,
        default="measured",
        help=f"how {what} decides to spread a block over its workers: 'measured' weighs "
        "the schedule's rounds by what a spread transaction has cost against one run in "
        "the executor's own thread on this machine, so blocks that would lose run there "
        "(default); 'model' takes the schedule's model alone: the workers run every block "
        "it would spread",
    )


def int_in(low: int, high: int) -> Callable[[str], int]:
    return number_in(int, low, high)


def float_in(low: float, high: float) -> Callable[[str], float]:
    return number_in(float, low, high)


def int_list(low: int, high: int) -> Callable[[str], list[int]]:
    one = int_in(low, high)

    def parse(text: str) -> list[int]:
        return [one(part) for part in text.split(",") if part.strip()]

    return parse


def float_list(low: float, high: float) -> Callable[[str], list[float]]:
    one = float_in(low, high)

    def parse(text: str) -> list[float]:
        return [one(part) for part in text.split(",") if part.strip()]

    return parse
