"""The receipts' wire form: each receipt as the array ``[index, ok, error, events]``."""

from __future__ import annotations

import msgspec

from paraclear.execution import Receipt
from paraclear.execution.result import ErrorInfo
from paraclear.execution.wire import WireCodec


class Made(msgspec.Struct, frozen=True, tag="made"):
    name: str
    amount: int


class Gone(msgspec.Struct, frozen=True, tag="gone"):
    name: str


class Machine:
    event_type = Made | Gone


def test_receipts_encode_as_arrays_of_their_four_fields_and_decode_back() -> None:
    receipts = [
        Receipt(0, True, None, (Made("a", 5), Gone("b"))),
        Receipt(1, False, ErrorInfo("InvalidNonce", "account=a", (("account", "a"),))),
        Receipt(2, True, None, (Gone("c"),)),
    ]
    codec = WireCodec(Machine())
    data = codec.encode_receipts(receipts)
    rows = [[r.index, r.ok, r.error, list(r.events)] for r in receipts]
    assert data == msgspec.msgpack.encode(rows)
    assert codec.decode_receipts(data) == receipts
