"""Compact encodings of what crosses process boundaries: transactions, receipts, state values.

A machine that names its types (``tx_type``, ``event_type`` attributes, msgspec-decodable)
gets msgpack for transactions and receipts, about ten times cheaper than pickling msgspec
structs. Anything else, and state values (whose types only the machine knows), go by pickle.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgspec

from paraclear.execution.result import ErrorInfo, Receipt


class WireCodec:
    """Encodes transactions and receipts for one state machine."""

    def __init__(self, machine: object) -> None:
        tx_type = getattr(machine, "tx_type", None)
        event_type = getattr(machine, "event_type", None)
        self._encoder = msgspec.msgpack.Encoder()
        self._txs: msgspec.msgpack.Decoder[Any] | None = None
        self._receipts: msgspec.msgpack.Decoder[Any] | None = None
        if tx_type is not None:
            self._txs = msgspec.msgpack.Decoder(list[tx_type])  # type: ignore[valid-type]
        if event_type is not None:
            events: Any = tuple[event_type, ...]  # type: ignore[valid-type]
            self._receipts = msgspec.msgpack.Decoder(
                list[tuple[int, bool, ErrorInfo | None, events]]
            )

    def encode_txs(self, txs: list[Any]) -> bytes:
        if self._txs is None:
            return pickle.dumps(txs, pickle.HIGHEST_PROTOCOL)
        return self._encoder.encode(txs)

    def decode_txs(self, data: bytes) -> list[Any]:
        if self._txs is None:
            return pickle.loads(data)  # type: ignore[no-any-return]
        return self._txs.decode(data)  # type: ignore[no-any-return]

    def encode_receipts(self, receipts: list[Receipt]) -> bytes:
        if self._receipts is None:
            return pickle.dumps(receipts, pickle.HIGHEST_PROTOCOL)
        return self._encoder.encode([(r.index, r.ok, r.error, r.events) for r in receipts])

    def decode_receipts(self, data: bytes) -> list[Receipt]:
        if self._receipts is None:
            return pickle.loads(data)  # type: ignore[no-any-return]
        return [Receipt(*row) for row in self._receipts.decode(data)]


def dumps(value: object) -> bytes:
    """Pickle at the highest protocol: state values and schedules."""
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    return pickle.loads(data)
