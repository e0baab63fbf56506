"""What a task gave back, and the errors of the runners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")

INSTALL_HINT = "pip install 'paraclear[cluster]'"


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """The result of item ``index``, or the error (``"Type: message"``) its task raised."""

    index: int
    value: R | None
    error: str | None = None
    worker_seconds: float = 0.0
    """Wall time of the task in the worker, as the runner measured it."""

    @property
    def ok(self) -> bool:
        return self.error is None


class MissingRay(ImportError):
    """``--ray`` without Ray installed."""

    def __init__(self) -> None:
        super().__init__(f"Ray is not installed; install it with: {INSTALL_HINT}")


class WorkerLost(RuntimeError):
    """Local workers kept dying: the pool was restarted ``restarts`` times."""

    def __init__(self, restarts: int, unfinished: int) -> None:
        super().__init__(
            f"worker processes died {restarts + 1} times; {unfinished} items unfinished"
        )
        self.unfinished = unfinished
