"""Local backend: forked worker processes (``concurrent.futures``), restarted if one dies."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from paraclear.cluster.outcome import Outcome, WorkerLost
from paraclear.cluster.timed import Timed

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_RESTARTS = 3


def run_local(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    *,
    restarts: int = DEFAULT_RESTARTS,
) -> Iterator[Outcome[R]]:
    """Run ``fn`` on every item on ``workers`` forked processes, yielding outcomes as they
    finish. When a worker dies (the pool breaks), a new pool runs the unfinished items
    again, up to ``restarts`` times; then raises ``WorkerLost``."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    pending = dict(enumerate(items))
    timed = Timed(fn)
    context = multiprocessing.get_context("fork")
    for _ in range(restarts + 1):
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(timed, item): index for index, item in pending.items()}
            try:
                for future in as_completed(futures):
                    index = futures[future]
                    yield _outcome(index, future)
                    del pending[index]
            except BrokenProcessPool:
                continue
        return
    raise WorkerLost(restarts, len(pending))


def _outcome(index: int, future: Future[tuple[R, float]]) -> Outcome[R]:
    """The outcome of a finished future; re-raises ``BrokenProcessPool``."""
    try:
        value, seconds = future.result()
    except BrokenProcessPool:
        raise
    except Exception as error:
        return Outcome(index, None, f"{type(error).__name__}: {error}")
    return Outcome(index, value, None, seconds)
