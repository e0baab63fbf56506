"""The access sets of the common transaction types as fixed shapes (``Slot``s), so that the
parallel executor gets a whole block's lock ids in bulk (``ClearingMachine.access_batch``)
instead of one ``AccessSet`` per transaction.

Each shape must say exactly what its handler's access function says (``handlers``);
``tests/clearing/test_access_shapes.py`` checks them against each other on random blocks.
Types without a shape here are asked one by one.
"""

from __future__ import annotations

from typing import Final

from paraclear.clearing.handlers.common import FEE_POOL_LOCK
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    Deposit,
    PlaceOrder,
    SettleFill,
    Trade,
    Transfer,
    Withdraw,
)
from paraclear.execution.access_batch import DELTA, READ, WRITE, Slot
from paraclear.state import keys as k


def _write_account(field: str) -> Slot:
    return Slot(WRITE, k.account_lock("")[0], field)


def _constant(kind: int, lock: tuple[str, ...]) -> Slot:
    return Slot(kind, lock[0], name=lock[1])


_MARKET: Final = tuple(_constant(READ, lock) for lock in k.MARKET_LOCKS)
_FEES: Final = _constant(DELTA, FEE_POOL_LOCK)
_NET_DEPOSITS: Final = _constant(DELTA, k.lock_of(k.NET_DEPOSITS))
_ORDER_COUNT: Final = Slot(DELTA, k.order_count("")[0], "instrument")
_OPEN_INTEREST: Final = Slot(DELTA, k.open_interest("")[0], "instrument")

SHAPES: Final[dict[type, tuple[Slot, ...]]] = {
    PlaceOrder: (_write_account("sender"), *_MARKET, _FEES, _ORDER_COUNT),
    CancelOrder: (_write_account("sender"), _FEES, _ORDER_COUNT),
    AmendOrder: (_write_account("sender"), *_MARKET, _FEES),
    SettleFill: (
        *(_write_account("taker"), _write_account("maker")),
        *(*_MARKET, _FEES, _OPEN_INTEREST, _ORDER_COUNT),
    ),
    CloseOrder: (
        *(_write_account("account"), _constant(READ, k.lock_of(k.CONFIG))),
        *(_FEES, _ORDER_COUNT),
    ),
    Trade: (_write_account("sender"), _write_account("maker"), *_MARKET, _FEES, _OPEN_INTEREST),
    Deposit: (_write_account("sender"), _FEES, _NET_DEPOSITS),
    Withdraw: (_write_account("sender"), *_MARKET, _FEES, _NET_DEPOSITS),
    Transfer: (_write_account("sender"), _write_account("to"), *_MARKET, _FEES),
}
"""The slots of each shaped type's access set (as its handler's access function)."""
