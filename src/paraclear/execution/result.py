"""Receipts and the result of a block, identical across executors (metrics aside)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from paraclear.execution.metrics import BlockMetrics
from paraclear.state import Key, TxFailure
from paraclear.state.codec import encode


class ErrorInfo(msgspec.Struct, frozen=True, gc=False):
    """A failure's typed error: its class name and typed fields, in declaration order."""

    code: str
    message: str
    details: tuple[tuple[str, int | str], ...] = ()

    @classmethod
    def of(cls, failure: TxFailure) -> ErrorInfo:
        return cls(failure.code, failure.message, failure.details)


class Receipt(msgspec.Struct, frozen=True, gc=False):
    """The outcome of one transaction: success and its events, or the error it failed with."""

    index: int
    ok: bool
    error: ErrorInfo | None = None
    events: tuple[object, ...] = ()


@dataclass
class BlockResult:
    """Receipts, the write set and the state root of a block, plus its metrics."""

    receipts: list[Receipt]
    write_set: dict[Key, object]
    state_root: bytes
    metrics: BlockMetrics

    @property
    def events(self) -> list[object]:
        return [event for receipt in self.receipts for event in receipt.events]

    def consensus_bytes(self) -> bytes:
        """Canonical encoding of everything executors must agree on (not metrics)."""
        writes = sorted(self.write_set.items())
        return encode((self.receipts, writes, self.state_root))
