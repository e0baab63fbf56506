"""The typed error of a transaction the kernels failed, from its result row: the error the
reference handler raises for the same transaction (``failure_of``), and the receipt's
``ErrorInfo`` of it, made once per batch where it repeats (``error_of``)."""

from __future__ import annotations

from typing import Final

from paraclear.clearing import errors
from paraclear.clearing.kernels.codes import (
    E_BALANCE_LIMIT,
    E_BANKRUPT,
    E_FILL_MISMATCH,
    E_INSTRUMENT_EXPIRED,
    E_INSUFFICIENT_COLLATERAL,
    E_INSUFFICIENT_FEE,
    E_INSUFFICIENT_MARGIN,
    E_INVALID_NONCE,
    E_NOT_MULTIPLE_PRICE,
    E_NOT_MULTIPLE_SIZE,
    E_ORDER_EXPIRED,
    E_REDUCE_ONLY,
    E_REMAINING_TOO_LARGE,
    E_SELF_TRADE,
    E_SELF_TRANSFER,
    E_TOO_MANY_ORDERS,
    E_UNAUTHORIZED,
    E_UNKNOWN_ORDER,
    FILL_REASONS,
    R_E1,
    R_E2,
    R_E3,
    R_STATUS,
)
from paraclear.clearing.kernels.layout import O_INST
from paraclear.clearing.kernels.rows import MAX_BALANCE, MAX_OPEN_ORDERS
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.transactions import PlaceOrder, SettleFill, Trade, Transaction
from paraclear.execution.result import ErrorInfo
from paraclear.state import TxFailure


def error_of(
    tables: Tables, tx: Transaction, order_row: int, outcome: list[int],
    seen: Seen,
) -> ErrorInfo:  # fmt: skip
    """The error of a failed result row (``failure_of``). One whose fields are the sender's
    name and the row's alone (every status but ``_NAMES_INSTRUMENT``'s) is made once per
    key in ``seen``: at full contention most of a batch fails the same way (an account at
    its open-order limit), and building each typed error costs microseconds."""
    if outcome[R_STATUS] in _NAMES_INSTRUMENT:
        return ErrorInfo.of(failure_of(tables, tx, order_row, outcome))
    key = (tx.sender, outcome[R_STATUS], outcome[R_E1], outcome[R_E2], outcome[R_E3])
    info = seen.get(key)
    if info is None:
        info = seen[key] = ErrorInfo.of(failure_of(tables, tx, order_row, outcome))
    return info


Seen = dict[tuple[str, int, int, int, int], ErrorInfo]
"""Errors made in one batch, by the sender's name and the result row's status and fields."""
_NAMES_INSTRUMENT: Final = frozenset({E_INSTRUMENT_EXPIRED, E_REDUCE_ONLY})
"""Failures whose error names the transaction's or its order's instrument."""


def failure_of(tables: Tables, tx: Transaction, order_row: int, result: list[int]) -> TxFailure:
    """The typed error the handler raises, from a kernel's result row (``order_row`` as in
    ``receipt_of``)."""
    status, e1, e2, e3 = (result[c] for c in (R_STATUS, R_E1, R_E2, R_E3))
    name = tables.account_names
    if status == E_INVALID_NONCE:
        return errors.InvalidNonce(account=tx.sender, expected=e1, got=e2)
    if status == E_INSUFFICIENT_FEE:
        return errors.InsufficientFee(account=tx.sender, fee=e1, collateral=e2)
    if status in (E_NOT_MULTIPLE_PRICE, E_NOT_MULTIPLE_SIZE):
        field = "price" if status == E_NOT_MULTIPLE_PRICE else "size"
        return errors.NotMultiple(field=field, value=e1, step=e2)
    if status == E_INSTRUMENT_EXPIRED:
        if isinstance(tx, PlaceOrder | SettleFill | Trade):
            instrument = tx.instrument
        else:
            row = tables.orders[order_row]
            instrument = tables.instrument_names[int(row[O_INST])]
        return errors.InstrumentExpired(instrument=instrument, expiry=e1, time=e2)
    if status == E_ORDER_EXPIRED:
        return errors.OrderExpired(good_til=e1, height=e2)
    if status == E_REDUCE_ONLY:
        assert isinstance(tx, PlaceOrder)
        return errors.ReduceOnlyWouldIncrease(
            account=tx.sender, instrument=tx.instrument, position=e1
        )
    if status == E_TOO_MANY_ORDERS:
        return errors.TooManyOrders(account=tx.sender, limit=MAX_OPEN_ORDERS)
    if status == E_BANKRUPT:
        return errors.AccountBankrupt(account=tx.sender, deficit=e1)
    if status == E_INSUFFICIENT_MARGIN:
        return errors.InsufficientMargin(account=name[e1], required=e2, available=e3)
    if status == E_SELF_TRADE:
        return errors.SelfTrade(account=tx.sender)
    if status == E_SELF_TRANSFER:
        return errors.Malformed(field="to", reason="transfer to oneself")
    if status == E_UNKNOWN_ORDER:
        return errors.UnknownOrder(account=name[e1], order=e2)
    if status == E_FILL_MISMATCH:
        return errors.FillMismatch(reason=FILL_REASONS[e1])
    if status == E_INSUFFICIENT_COLLATERAL:
        return errors.InsufficientCollateral(account=name[e1], required=e2, available=e3)
    if status == E_UNAUTHORIZED:
        return errors.Unauthorized(account=tx.sender, action="oracle")
    if status == E_REMAINING_TOO_LARGE:
        return errors.Malformed(field="remaining", reason="must be below the order's remaining")
    assert status == E_BALANCE_LIMIT, status
    return errors.BalanceLimit(account=name[e1], balance=e2, limit=MAX_BALANCE)
