"""``EngineTimings``: where the compiled engine's time goes, part by part. Nothing here is
consensus: the figures vary run to run and nothing reads them but reports."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from paraclear.clearing.machine import ClearingMachine

PARTS: Final = ("glue", "kernels", "receipts", "flush", "reference", "loads")
"""The parts of ``EngineTimings`` in seconds, in the order reports show them."""


@dataclass
class EngineTimings:
    """Wall seconds the compiled engine spent in each part of its batches, and what its
    kernels ran, accumulated since the engine started (``since`` gives one stretch, such as
    a block). The parts do not overlap; what they leave of a batch is its loop and
    dispatch."""

    glue: float = 0.0
    """Transactions turned into rows of integers (``_columns``), the arrays built around
    them, the rows the kernels touched and the order rows of placements that opened none
    given back."""
    kernels: float = 0.0
    """The ``run_orders`` calls (numba's dispatch included, a few microseconds a call)."""
    receipts: float = 0.0
    """Receipt objects and their events built from the kernels' result rows."""
    flush: float = 0.0
    """``Tables.flush``: changed rows written back into the block's pending writes."""
    reference: float = 0.0
    """Transactions the reference handlers ran, and their writes routed into the tables
    (their access sets are timed by the block run: ``BlockMetrics.access_seconds``)."""
    loads: float = 0.0
    """Tables loaded from a state and the block's pending writes."""
    kernel_txs: int = 0
    """Transactions the kernels ran (included; a fallback is counted under ``reference``)."""
    kernel_calls: int = 0
    """``run_orders`` calls."""

    @property
    def seconds(self) -> float:
        """The parts together."""
        return self.glue + self.kernels + self.receipts + self.flush + self.reference + self.loads

    @property
    def kernel_tps(self) -> float | None:
        """Transactions per second of the kernels alone (None before they ran any)."""
        return self.kernel_txs / self.kernels if self.kernel_txs and self.kernels > 0 else None

    def copy(self) -> EngineTimings:
        """A snapshot of the figures so far."""
        return replace(self)

    def since(self, earlier: EngineTimings) -> EngineTimings:
        """What was added after ``earlier`` (a ``copy`` taken then)."""
        return EngineTimings(
            **{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)}
        )


def engine_timings(machine: ClearingMachine) -> EngineTimings | None:
    """The timings of ``machine``'s compiled engine (None for the reference engine)."""
    timings = getattr(machine.batch_runner, "timings", None)
    return timings if isinstance(timings, EngineTimings) else None
