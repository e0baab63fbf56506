"""``run_tasks``: the one entry point over both backends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from paraclear.cluster.outcome import Outcome
from paraclear.cluster.pool import run_local
from paraclear.cluster.ray_backend import run_ray

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Backend:
    """Where tasks run: ``workers`` local processes (``ray=False``), or Ray (an embedded
    instance of ``workers`` CPUs if ``address`` is None, else the cluster at ``address``)."""

    workers: int = 0
    """0: every core of this machine."""
    ray: bool = False
    address: str | None = None

    @property
    def cores(self) -> int:
        return self.workers or os.cpu_count() or 1

    def describe(self) -> str:
        if not self.ray:
            return f"local, {self.cores} worker processes"
        if self.address is None:
            return f"Ray (embedded, {self.cores} CPUs)"
        return f"Ray at {self.address}"


def run_tasks(fn: Callable[[T], R], items: Sequence[T], backend: Backend) -> Iterator[Outcome[R]]:
    """Apply ``fn`` to every item on ``backend``, yielding each outcome as it finishes."""
    if backend.ray:
        return run_ray(fn, items, backend.address, backend.cores)
    return run_local(fn, items, backend.cores)
