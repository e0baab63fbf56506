"""Lookups in the clearing state that the chain and the API share: the listed instruments,
an underlying's oracle record, and order ids (an order's account and the nonce of the
``PlaceOrder`` that opened it).
"""

from __future__ import annotations

from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.records import OracleData
from paraclear.state import State
from paraclear.state import keys as k


def listed_instruments(state: State) -> list[Instrument]:
    """Every listed instrument, by name.

    Scans a copy of the key list (taken in one step under the GIL, so a producer thread
    committing meanwhile cannot break the iteration). A node with many accounts should
    keep an index instead.
    """
    found: list[Instrument] = []
    for key, value in list(state.data.items()):
        if (
            key[:2] == k.INSTRUMENTS_LOCK
            and len(key) == 3
            and isinstance(value, Option | Perpetual)
        ):
            found.append(value)
    return sorted(found, key=lambda instrument: instrument.name)


def oracle_of(state: State, underlying: str) -> OracleData | None:
    value = state.data.get(k.oracle(underlying))
    return value if isinstance(value, OracleData) else None


def order_id(account: str, nonce: int) -> str:
    """An order's id, in the API and in the books: its account and the nonce of the
    ``PlaceOrder`` that opened it."""
    return f"{account}-{nonce}"


def parse_order_id(text: str) -> tuple[str, int]:
    """(account, nonce) of an ``order_id``; raises ValueError if it is not one."""
    account, _, nonce = text.rpartition("-")
    if not account or not nonce.isdigit():
        raise ValueError(f"not an order id: {text!r}")
    return account, int(nonce)
