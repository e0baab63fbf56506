"""The glue between transactions and the kernels: each transaction as a row of ``X_*``
columns (names resolved to table rows; a placement gets a new order row), and each result
row back as the receipt the handler would give, with its typed error or its event.

It is Python run for every transaction of a block, so it is written for that, a batch at a
time: one function per transaction type, found by the exact type, makes the type's row as a
tuple; a known name is one dict lookup (a new one goes through ``Tables``, which gives it
the next row, in the order the batch names it); all rows go into one array at once. The
events of each kind are made by one comprehension, by position; enum members are read by
``_value_`` (``.value`` is a property, several times dearer); a typed error that repeats in
a batch is built once (``failures``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, Final

import numpy as np

from paraclear.clearing.events import (
    CloseReason,
    Deposited,
    OrderAmended,
    OrderClosed,
    OrderFilled,
    OrderPlaced,
    TradeSettled,
    Transferred,
    Withdrawn,
)
from paraclear.clearing.kernels.codes import (
    E_OK,
    K_AMEND,
    K_CANCEL,
    K_CLOSE,
    K_DEPOSIT,
    K_FILL,
    K_PLACE,
    K_TRADE,
    K_TRANSFER,
    K_WITHDRAW,
    R_STATUS,
    R_V1,
    R_V2,
    X_FIELDS,
    X_KIND,
    X_MAKER_ORDER,
    X_ORDER,
    X_ORDER_NONCE,
    X_SENDER,
)
from paraclear.clearing.kernels.failures import Seen, error_of
from paraclear.clearing.kernels.flush import SMALL, BoolArray
from paraclear.clearing.kernels.layout import O_BUY, O_LIVE, ORDER_KINDS, Int64Array
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    Deposit,
    PlaceOrder,
    SettleFill,
    Side,
    Trade,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import Receipt

_KIND_CODES: Final = {kind: code for code, kind in enumerate(ORDER_KINDS)}


def columns_of(tables: Tables, txs: Sequence[Transaction]) -> Int64Array:
    """The transactions (each of a ``KERNEL_TYPES`` type) as a table of ``X_*`` columns, one
    row each, in one pass: each type's row is a tuple, the tuples go into one flat list and
    that list into the array at once. A placement's new order row is claimed, not cleared:
    clear the batch's (``Tables.clear_orders``) before running it."""
    flat: list[int] = []
    for tx in txs:
        flat += _ROWS[type(tx)](tables, tx)
    columns = np.fromiter(flat, dtype=np.int64, count=len(flat)).reshape(len(txs), X_FIELDS)
    _hand_back_repeats(tables, columns)
    return columns


def _hand_back_repeats(tables: Tables, columns: Int64Array) -> None:
    """Hand a placement of the same order (account and nonce) as a placement before it in
    the batch back to the handler (``X_ORDER`` -1: ``E_FALLBACK``; its nonce fails first),
    give the row it claimed back and leave the order, and what names it after, on the
    first one's row: at most one of them opens the order (the nonce is taken once)."""
    claimed = np.flatnonzero((columns[:, X_KIND] == K_PLACE) & (columns[:, X_ORDER] >= 0))
    keys = columns[claimed][:, [X_SENDER, X_ORDER_NONCE]]
    if not _repeats(keys):
        return
    first: dict[tuple[int, int], int] = {}
    handed: dict[int, int] = {}
    for at, account, nonce, row in zip(
        claimed.tolist(), *keys.T.tolist(), columns[claimed, X_ORDER].tolist(), strict=True
    ):
        kept = first.setdefault((account, nonce), row)
        if kept != row:
            tables.free_orders.append(row)
            tables.order_row[(account, nonce)] = handed[row] = kept
            columns[at, X_ORDER] = -1
    for column in (X_ORDER, X_MAKER_ORDER):
        named = columns[:, column]
        for row, kept in handed.items():
            named[named == row] = kept


def _repeats(keys: Int64Array) -> bool:
    """Whether two rows of ``keys`` (account, nonce) are equal."""
    if len(keys) < SMALL:
        return len(set(map(tuple, keys.tolist()))) < len(keys)
    ordered = keys[np.lexsort((keys[:, 1], keys[:, 0]))]
    return bool((ordered[1:] == ordered[:-1]).all(axis=1).any())


def _place_row(tables: Tables, tx: PlaceOrder) -> tuple[int, ...]:
    sender = tables.account_row.get(tx.sender)
    at = tables.instrument_row.get(tx.instrument)
    if sender is None or at is None:
        sender, at = tables.account(tx.sender), tables.instrument(tx.instrument)
    held = tables.order_row.get((sender, tx.nonce), -1)
    live = held >= 0 and tables.orders[held, O_LIVE]
    row = -1 if live else tables.claim_order(sender, tx.nonce)
    position = _position(tables, sender, at) if tx.reduce_only else -1
    return (
        K_PLACE, sender, tx.nonce, tx.fee, 1, at, tx.side is Side.BUY,
        _KIND_CODES[tx.kind._value_], tx.price, tx.size, tx.reduce_only, tx.good_til,
        row, tx.nonce, -1, -1, -1, -1, position, -1, 0,
    )  # fmt: skip


def _cancel_row(tables: Tables, tx: CancelOrder) -> tuple[int, ...]:
    sender = tables.account_row.get(tx.sender)
    at = tables.instrument_row.get(tx.instrument)
    if sender is None or at is None:
        sender, at = tables.account(tx.sender), tables.instrument(tx.instrument)
    return (
        K_CANCEL, sender, tx.nonce, tx.fee, 1, at, 0, 0, 0, 0, 0, 0,
        tables.order_row.get((sender, tx.order), -1), tx.order, -1, -1, -1, -1, -1, -1, 0,
    )  # fmt: skip


def _amend_row(tables: Tables, tx: AmendOrder) -> tuple[int, ...]:
    sender = tables.account_row.get(tx.sender)
    if sender is None:
        sender = tables.account(tx.sender)
    return (
        K_AMEND, sender, tx.nonce, tx.fee, 1, -1, 0, 0, tx.price, tx.size, 0, 0,
        tables.order_row.get((sender, tx.order), -1), tx.order, -1, -1, -1, -1, -1, -1, 0,
    )  # fmt: skip


def _fill_row(tables: Tables, tx: SettleFill) -> tuple[int, ...]:
    accounts = tables.account_row
    sender, taker, maker = accounts.get(tx.sender), accounts.get(tx.taker), accounts.get(tx.maker)
    at = tables.instrument_row.get(tx.instrument)
    if sender is None or at is None or taker is None or maker is None:
        sender, at = tables.account(tx.sender), tables.instrument(tx.instrument)
        taker, maker = tables.account(tx.taker), tables.account(tx.maker)
    orders = tables.order_row
    return (
        K_FILL, sender, tx.nonce, tx.fee, 0, at, 0, 0, tx.price, tx.size, 0, 0,
        orders.get((taker, tx.taker_order), -1), tx.taker_order, taker, maker,
        orders.get((maker, tx.maker_order), -1), tx.maker_order,
        _position(tables, taker, at), _position(tables, maker, at), 0,
    )  # fmt: skip


def _position(tables: Tables, account: int, at: int) -> int:
    row = tables.position_row.get((account, at))
    return tables.position(account, at) if row is None else row


def _close_row(tables: Tables, tx: CloseOrder) -> tuple[int, ...]:
    sender = tables.account(tx.sender)
    account = tables.account(tx.account)
    return (
        K_CLOSE, sender, tx.nonce, tx.fee, 0, tables.instrument(tx.instrument), 0, 0, 0, 0,
        0, 0, tables.order_row.get((account, tx.order), -1), tx.order, account, -1, -1, -1,
        -1, -1, tx.remaining,
    )  # fmt: skip


def _trade_row(tables: Tables, tx: Trade) -> tuple[int, ...]:
    sender = tables.account(tx.sender)
    at = tables.instrument(tx.instrument)
    maker = tables.account(tx.maker)
    return (
        K_TRADE, sender, tx.nonce, tx.fee, 1, at, tx.side is Side.BUY, 0, tx.price,
        tx.size, 0, 0, -1, 0, -1, maker, -1, 0, tables.position(sender, at),
        tables.position(maker, at), 0,
    )  # fmt: skip


def _funds_row(tables: Tables, tx: Deposit | Withdraw | Transfer) -> tuple[int, ...]:
    sender = tables.account(tx.sender)
    kind, to = (K_DEPOSIT if isinstance(tx, Deposit) else K_WITHDRAW), -1
    if isinstance(tx, Transfer):
        kind, to = K_TRANSFER, tables.account(tx.to)
    return (
        kind, sender, tx.nonce, tx.fee, 1, -1, 0, 0, 0, tx.amount, 0, 0, -1, 0, -1, to,
        -1, 0, -1, -1, 0,
    )  # fmt: skip


_ROWS: Final[dict[type, Callable[[Tables, Any], tuple[int, ...]]]] = {
    PlaceOrder: _place_row,
    CancelOrder: _cancel_row,
    AmendOrder: _amend_row,
    SettleFill: _fill_row,
    CloseOrder: _close_row,
    Trade: _trade_row,
    Deposit: _funds_row,
    Withdraw: _funds_row,
    Transfer: _funds_row,
}
"""Each kernel type's row of ``X_*`` columns; the names it holds resolved to table rows
in the order the type names them (a name seen first gets the next row)."""


def receipts_of(
    tables: Tables, txs: Sequence[Transaction], columns: Int64Array, results: Int64Array,
    first: int,
) -> list[Receipt]:  # fmt: skip
    """The receipts of ``txs`` (indices from ``first``) from the kernels' result rows and
    the columns they were run with: the events of each kind (``X_KIND``) that succeeded
    built together (``_EVENTS``), every receipt made as a success, and the failures
    replaced after."""
    count = len(txs)
    succeeded = results[:count, R_STATUS] == E_OK
    kinds = columns[:count, X_KIND]
    events: list[object] = [None] * count
    for kind, rows in _succeeded_by_kind(kinds, succeeded).items():
        at = rows.tolist()
        buys = _buys(tables, columns[rows, X_ORDER]) if kind == K_FILL else []
        values = results[rows, R_V1].tolist(), results[rows, R_V2].tolist()
        made = _EVENTS[kind](list(map(txs.__getitem__, at)), *values, buys)
        for index, event in zip(at, made, strict=True):
            events[index] = event
    indices = range(first, first + count)
    receipts = list(map(Receipt, indices, repeat(True), repeat(None), zip(events)))
    if not succeeded.all():  # the failed rows converted at once (a block can fail mostly)
        seen: Seen = {}
        failed = np.flatnonzero(~succeeded)
        for index, row, outcome in zip(
            failed.tolist(), columns[failed, X_ORDER].tolist(), results[failed].tolist(),
            strict=True,
        ):  # fmt: skip
            error = error_of(tables, txs[index], row, outcome, seen)
            receipts[index] = Receipt(first + index, False, error)
    return receipts


def _succeeded_by_kind(kinds: Int64Array, succeeded: BoolArray) -> dict[int, Int64Array]:
    """The rows of each kind (``X_KIND``) that succeeded, by kind."""
    if len(kinds) >= SMALL:
        return {
            kind: np.flatnonzero(succeeded & (kinds == kind))
            for kind in np.unique(kinds[succeeded]).tolist()
        }
    rows: dict[int, list[int]] = {}
    for at, (kind, ok) in enumerate(zip(kinds.tolist(), succeeded.tolist(), strict=True)):
        if ok:
            rows.setdefault(kind, []).append(at)
    return {kind: np.array(at, dtype=np.int64) for kind, at in rows.items()}


def _buys(tables: Tables, rows: Int64Array) -> list[int]:
    """Whether each order row buys (0 for -1: no row)."""
    buys: list[int] = np.where(rows >= 0, tables.orders[np.maximum(rows, 0), O_BUY], 0).tolist()
    return buys


_Values = list[int]
"""Each transaction's ``R_V1`` or ``R_V2``."""


def _placed(txs: list[PlaceOrder], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [
        OrderPlaced(
            tx.sender, tx.nonce, tx.instrument, tx.side._value_, tx.kind._value_, tx.price,
            tx.size, value,
        )
        for tx, value in zip(txs, v1, strict=True)
    ]  # fmt: skip


def _cancelled(txs: list[CancelOrder], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [
        OrderClosed(tx.sender, tx.order, tx.instrument, CloseReason.CANCELLED, 0, value)
        for tx, value in zip(txs, v1, strict=True)
    ]


def _amended(txs: list[AmendOrder], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [
        OrderAmended(tx.sender, tx.order, tx.price, tx.size, value)
        for tx, value in zip(txs, v1, strict=True)
    ]


def _filled(txs: list[SettleFill], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [
        OrderFilled(
            tx.instrument, tx.taker, tx.taker_order, tx.maker, tx.maker_order,
            "buy" if buy else "sell", tx.size, tx.price, maker_fee, taker_fee,
        )
        for tx, maker_fee, taker_fee, buy in zip(txs, v1, v2, buys, strict=True)
    ]  # fmt: skip


def _closed(txs: list[CloseOrder], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [
        OrderClosed(tx.account, tx.order, tx.instrument, tx.reason, tx.remaining, value)
        for tx, value in zip(txs, v1, strict=True)
    ]


def _traded(txs: list[Trade], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [
        TradeSettled(
            tx.instrument, tx.maker, tx.sender, tx.side._value_, tx.size, tx.price, maker_fee,
            taker_fee,
        )
        for tx, maker_fee, taker_fee in zip(txs, v1, v2, strict=True)
    ]  # fmt: skip


def _deposited(txs: list[Deposit], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [Deposited(tx.sender, tx.amount) for tx in txs]


def _withdrawn(txs: list[Withdraw], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [Withdrawn(tx.sender, tx.amount) for tx in txs]


def _transferred(txs: list[Transfer], v1: _Values, v2: _Values, buys: list[int]) -> list[object]:
    return [Transferred(tx.sender, tx.to, tx.amount) for tx in txs]


_EVENTS: Final[dict[int, Callable[[list[Any], _Values, _Values, list[int]], list[object]]]] = {
    K_PLACE: _placed,
    K_CANCEL: _cancelled,
    K_AMEND: _amended,
    K_FILL: _filled,
    K_CLOSE: _closed,
    K_TRADE: _traded,
    K_DEPOSIT: _deposited,
    K_WITHDRAW: _withdrawn,
    K_TRANSFER: _transferred,
}
"""Each kernel kind's events, from its transactions that succeeded, their ``R_V1``, ``R_V2``
and (a fill) whether the taker's order buys; built by position, in the order
``clearing.events`` declares the fields (the differential tests compare every field with
the handlers'), one comprehension per kind rather than one call per transaction."""
