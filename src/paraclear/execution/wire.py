"""The compact encoding of receipts (the block store keeps a block's receipts in it).

A machine that names its events (an ``event_type`` attribute, msgspec-decodable) gets
msgpack, about ten times cheaper than pickling msgspec structs; any other, pickle.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgspec
from msgspec.structs import astuple

from paraclear.execution.result import ErrorInfo, Receipt


class WireCodec:
    """Encodes receipts for one state machine."""

    def __init__(self, machine: object) -> None:
        event_type = getattr(machine, "event_type", None)
        self._encoder = msgspec.msgpack.Encoder()
        self._receipts: msgspec.msgpack.Decoder[Any] | None = None
        if event_type is not None:
            events: Any = tuple[event_type, ...]  # type: ignore[valid-type]
            self._receipts = msgspec.msgpack.Decoder(
                list[tuple[int, bool, ErrorInfo | None, events]]
            )

    def encode_receipts(self, receipts: list[Receipt]) -> bytes:
        if self._receipts is None:
            return pickle.dumps(receipts, pickle.HIGHEST_PROTOCOL)
        return self._encoder.encode(list(map(astuple, receipts)))  # (index, ok, error, events)

    def decode_receipts(self, data: bytes) -> list[Receipt]:
        if self._receipts is None:
            return pickle.loads(data)  # type: ignore[no-any-return]
        return [Receipt(*row) for row in self._receipts.decode(data)]
