"""Ray backend: one Ray task per item, retried by Ray when its worker dies.

``address=None`` starts an embedded Ray instance on this machine with ``workers`` CPUs and
stops it afterwards; ``"auto"`` joins the instance started here with ``ray start --head``;
any other address (``HOST:PORT``, ``ray://HOST:PORT``) joins that cluster, whose workers
must have paraclear installed. If Ray is already initialised in this process (a test's
cluster), it is used as it is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, TypeVar

from paraclear.cluster.outcome import MissingRay, Outcome
from paraclear.cluster.timed import Timed

T = TypeVar("T")
R = TypeVar("R")

MAX_RETRIES = 3
"""Times Ray reruns a task whose worker process died."""


def import_ray() -> ModuleType:
    """The ``ray`` module. Raises ``MissingRay`` (with the install command) without it."""
    try:
        return importlib.import_module("ray")
    except ImportError as error:
        raise MissingRay() from error


def run_ray(
    fn: Callable[[T], R],
    items: Sequence[T],
    address: str | None,
    workers: int,
) -> Iterator[Outcome[R]]:
    """Run ``fn`` on every item as Ray tasks, yielding outcomes as they finish."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        _init(ray, address, workers)
    try:
        remote = ray.remote(max_retries=MAX_RETRIES)(_call)
        task = ray.put(Timed(fn))  # stored once, passed to every task by reference
        refs: dict[Any, int] = {
            remote.remote(task, item): index for index, item in enumerate(items)
        }
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                yield _outcome(ray, refs.pop(ref), ref)
    finally:
        if started_here:
            ray.shutdown()


def _call(task: Timed[T, R], item: T) -> tuple[R, float]:
    """The Ray task: ``task`` arrives resolved from the object store."""
    return task(item)


def _init(ray: ModuleType, address: str | None, workers: int) -> None:
    options: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
    if address is None:
        options.update(num_cpus=workers, include_dashboard=False)
    else:
        options["address"] = address
    ray.init(**options)


def _outcome(ray: ModuleType, index: int, ref: Any) -> Outcome[R]:
    try:
        value, seconds = ray.get(ref)
    except Exception as error:
        cause = getattr(error, "cause", None) or error
        return Outcome(index, None, f"{type(cause).__name__}: {cause}")
    return Outcome(index, value, None, seconds)
