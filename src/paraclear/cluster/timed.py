"""A task wrapped so that the worker measures its own time (importable, so picklable)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Timed(Generic[T, R]):
    """Calls ``fn(item)`` and returns ``(result, seconds)``."""

    def __init__(self, fn: Callable[[T], R]) -> None:
        self.fn = fn

    def __call__(self, item: T) -> tuple[R, float]:
        started = time.perf_counter()
        result = self.fn(item)
        return result, time.perf_counter() - started
