"""Argument types that check ranges, so that bad input gets a one-line error."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {high}]")
        return value

    return parse


def float_in(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {high}]")
        return value

    return parse


def int_list(low: int, high: int) -> Callable[[str], list[int]]:
    one = int_in(low, high)

    def parse(text: str) -> list[int]:
        return [one(part) for part in text.split(",") if part.strip()]

    return parse
