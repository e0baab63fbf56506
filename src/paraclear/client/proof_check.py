"""Check the node's proofs on the client's side, trusting nothing but hashing.

    answer = client.call("public/get_proof", {"account": me.account})
    header = client.call("public/get_block_header", {"height": answer["height"]})
    assert verify_account_proof(header, answer)
    collateral = record_values(answer)[keys.collateral(me.account)]

``verify_records(root, answer)`` checks each record of a ``get_proof`` or ``get_totals``
answer: its ``encoded`` bytes (canonical msgpack) hash to the value hash its proof ends in,
and the proof leads from the key's tree path to ``root`` (an absent key: an exclusion
proof). ``verify_account_proof`` also checks that every record lies under the account's
lock and that the records are the account's whole set (its positions and open orders as its
own portfolio and order list name them). ``decode_value`` turns ``encoded`` back into the
exact typed value. Malformed answers verify as ``False``, never raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from paraclear.clearing.records import Bankruptcy, OpenOrder, Position
from paraclear.state import keys as k
from paraclear.state.codec import encode
from paraclear.state.keys import (
    AccountField,
    Field,
    Key,
    OrderKey,
    PositionKey,
    UnknownKey,
    parse_key,
)
from paraclear.state.smt import Proof
from paraclear.state.store import verify_value

Answer = Mapping[str, Any]
_TYPES: dict[Field, type[Any]] = {
    Field.BANKRUPTCY: Bankruptcy,
    Field.PORTFOLIO: tuple[str, ...],
    Field.OPEN_ORDERS: tuple[int, ...],
}


def decode_value(key: Key, encoded: bytes) -> object:
    """The typed value of ``key`` from its canonical msgpack (ints unless named above)."""
    return msgspec.msgpack.decode(encoded, type=_type_of(key))


def _type_of(key: Key) -> type[Any]:
    """The type of ``key``'s value (int for any key not named in ``_TYPES``)."""
    try:
        parsed = parse_key(key)
    except UnknownKey:
        return int
    match parsed:
        case AccountField(_, field):
            return _TYPES.get(field, int)
        case PositionKey():
            return Position
        case OrderKey():
            return OpenOrder
    return int


def decode_proof(raw: Mapping[str, Any]) -> Proof:
    def unhex(value: Any) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    return Proof(
        tuple(tuple(bytes.fromhex(d) for d in level) for level in raw["siblings"]),
        unhex(raw["leaf_path"]),
        unhex(raw["leaf_value_hash"]),
    )


def record_values(answer: Answer) -> dict[Key, object]:
    """Each record's key and typed value (``None``: absent), decoded from ``encoded``."""
    values: dict[Key, object] = {}
    for record in answer["records"]:
        key = tuple(record["key"])
        encoded = record["encoded"]
        values[key] = None if encoded is None else decode_value(key, bytes.fromhex(encoded))
    return values


def verify_records(root: bytes, answer: Answer) -> bool:
    """True if every record of ``answer`` is proven under ``root``."""
    try:
        for record in answer["records"]:
            key = tuple(record["key"])
            encoded = record["encoded"]
            value = None if encoded is None else decode_value(key, bytes.fromhex(encoded))
            if value is not None and encode(value) != bytes.fromhex(encoded):
                return False  # not the canonical encoding of what it decodes to
            if not verify_value(root, key, value, decode_proof(record["proof"])):
                return False
        return True
    except (KeyError, TypeError, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        return False


def root_of(header_or_root: Answer | bytes | str, answer: Answer) -> bytes | None:
    """The root to check against: a header's (if it is of the answer's height), or as given."""
    if isinstance(header_or_root, bytes):
        return header_or_root
    if isinstance(header_or_root, str):
        return bytes.fromhex(header_or_root)
    if header_or_root.get("height") != answer.get("height"):
        return None
    return bytes.fromhex(header_or_root["state_root"])


def verify_account_proof(
    header_or_root: Answer | bytes | str, answer: Answer, *, orders: bool = True
) -> bool:
    """True if ``answer`` (of ``public/get_proof``) proves the account's whole record set
    under the root of ``header_or_root`` (a ``get_block_header`` answer, or a root); with
    ``orders`` False (asked with ``orders: false``) its open orders' own records may be
    left out (their list is still required)."""
    try:
        root = root_of(header_or_root, answer)
        account = answer["account"]
        if root is None or not verify_records(root, answer):
            return False
        values = record_values(answer)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    if any(key[:2] != k.account_lock(account) for key in values):
        return False
    names = values.get(k.portfolio(account)) or ()
    nonces = values.get(k.open_orders(account)) or ()
    assert isinstance(names, tuple) and isinstance(nonces, tuple)
    needed = {k.collateral(account), k.portfolio(account), k.open_orders(account)}
    needed |= {k.position(account, name) for name in names}
    if orders:
        needed |= {k.order(account, nonce) for nonce in nonces}
    return needed <= values.keys()
