"""The glue between transactions and the kernels: each transaction as a row of ``X_*``
columns (names resolved to table rows; a placement gets a new order row), and each result
row back as the receipt the handler would give, with its typed error or its event."""

from __future__ import annotations

from typing import Final

from paraclear.clearing import errors
from paraclear.clearing.events import (
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
    E_OK,
    E_ORDER_EXPIRED,
    E_REDUCE_ONLY,
    E_REMAINING_TOO_LARGE,
    E_SELF_TRADE,
    E_SELF_TRANSFER,
    E_TOO_MANY_ORDERS,
    E_UNAUTHORIZED,
    E_UNKNOWN_ORDER,
    FILL_REASONS,
    K_AMEND,
    K_CANCEL,
    K_CLOSE,
    K_DEPOSIT,
    K_FILL,
    K_PLACE,
    K_TRADE,
    K_TRANSFER,
    K_WITHDRAW,
    R_E1,
    R_E2,
    R_E3,
    R_STATUS,
    R_V1,
    R_V2,
)
from paraclear.clearing.kernels.layout import O_BUY, O_INST, O_LIVE, ORDER_KINDS
from paraclear.clearing.kernels.rows import MAX_BALANCE, MAX_OPEN_ORDERS
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
from paraclear.execution.result import ErrorInfo
from paraclear.state import TxFailure

_KIND_CODES: Final = {kind: code for code, kind in enumerate(ORDER_KINDS)}


def columns_of(tables: Tables, tx: Transaction) -> list[int]:
    """The transaction as a row of ``X_*`` columns. A placement's new order row is claimed,
    not cleared: clear the batch's (``Tables.clear_orders``) before running it."""
    sender = tables.account(tx.sender)
    if isinstance(tx, PlaceOrder):
        at = tables.instrument(tx.instrument)
        held = tables.find_order(sender, tx.nonce)
        live = held >= 0 and tables.orders[held, O_LIVE]
        row = -1 if live else tables.claim_order(sender, tx.nonce)
        position = tables.position(sender, at) if tx.reduce_only else -1
        return [
            K_PLACE, sender, tx.nonce, tx.fee, 1, at, tx.side is Side.BUY,
            _KIND_CODES[tx.kind.value], tx.price, tx.size, tx.reduce_only, tx.good_til,
            row, tx.nonce, -1, -1, -1, -1, position, -1, 0,
        ]  # fmt: skip
    if isinstance(tx, CancelOrder):
        return [
            K_CANCEL, sender, tx.nonce, tx.fee, 1, tables.instrument(tx.instrument), 0, 0, 0,
            0, 0, 0, tables.find_order(sender, tx.order), tx.order, -1, -1, -1, -1, -1, -1, 0,
        ]  # fmt: skip
    if isinstance(tx, AmendOrder):
        return [
            K_AMEND, sender, tx.nonce, tx.fee, 1, -1, 0, 0, tx.price, tx.size, 0, 0,
            tables.find_order(sender, tx.order), tx.order, -1, -1, -1, -1, -1, -1, 0,
        ]  # fmt: skip
    if isinstance(tx, SettleFill):
        at = tables.instrument(tx.instrument)
        taker, maker = tables.account(tx.taker), tables.account(tx.maker)
        return [
            K_FILL, sender, tx.nonce, tx.fee, 0, at, 0, 0, tx.price, tx.size, 0, 0,
            tables.find_order(taker, tx.taker_order), tx.taker_order, taker, maker,
            tables.find_order(maker, tx.maker_order), tx.maker_order,
            tables.position(taker, at), tables.position(maker, at), 0,
        ]  # fmt: skip
    if isinstance(tx, Trade):
        at = tables.instrument(tx.instrument)
        maker = tables.account(tx.maker)
        return [
            K_TRADE, sender, tx.nonce, tx.fee, 1, at, tx.side is Side.BUY, 0, tx.price,
            tx.size, 0, 0, -1, 0, -1, maker, -1, 0, tables.position(sender, at),
            tables.position(maker, at), 0,
        ]  # fmt: skip
    if isinstance(tx, Deposit | Withdraw | Transfer):
        kind = K_DEPOSIT if isinstance(tx, Deposit) else K_WITHDRAW
        to = -1
        if isinstance(tx, Transfer):
            kind, to = K_TRANSFER, tables.account(tx.to)
        return [
            kind, sender, tx.nonce, tx.fee, 1, -1, 0, 0, 0, tx.amount, 0, 0, -1, 0, -1, to,
            -1, 0, -1, -1, 0,
        ]  # fmt: skip
    assert isinstance(tx, CloseOrder)
    account = tables.account(tx.account)
    return [
        K_CLOSE, sender, tx.nonce, tx.fee, 0, tables.instrument(tx.instrument), 0, 0, 0, 0,
        0, 0, tables.find_order(account, tx.order), tx.order, account, -1, -1, -1, -1, -1,
        tx.remaining,
    ]  # fmt: skip


def receipt_of(
    tables: Tables, tx: Transaction, order_row: int, result: list[int], index: int
) -> Receipt:
    """The receipt of ``tx`` from its kernel result row (a list of ``R_*`` columns) and
    its ``X_ORDER`` column (the order row it named, or -1)."""
    status = result[R_STATUS]
    if status != E_OK:
        return Receipt(index, False, ErrorInfo.of(failure_of(tables, tx, order_row, result)))
    value = result[R_V1]
    event: object
    if isinstance(tx, PlaceOrder):
        event = OrderPlaced(
            account=tx.sender, order=tx.nonce, instrument=tx.instrument, side=tx.side.value,
            kind=tx.kind.value, price=tx.price, size=tx.size, reserved=value,
        )  # fmt: skip
    elif isinstance(tx, CancelOrder):
        event = OrderClosed(
            account=tx.sender, order=tx.order, instrument=tx.instrument, reason="cancelled",
            remaining=0, released=value,
        )  # fmt: skip
    elif isinstance(tx, AmendOrder):
        event = OrderAmended(
            account=tx.sender, order=tx.order, price=tx.price, size=tx.size, reserved=value
        )
    elif isinstance(tx, SettleFill):
        buys = tables.orders[order_row, O_BUY]
        event = OrderFilled(
            instrument=tx.instrument, taker=tx.taker, taker_order=tx.taker_order,
            maker=tx.maker, maker_order=tx.maker_order, taker_side="buy" if buys else "sell",
            size=tx.size, price=tx.price, maker_fee=value, taker_fee=result[R_V2],
        )  # fmt: skip
    elif isinstance(tx, Deposit):
        event = Deposited(account=tx.sender, amount=tx.amount)
    elif isinstance(tx, Withdraw):
        event = Withdrawn(account=tx.sender, amount=tx.amount)
    elif isinstance(tx, Transfer):
        event = Transferred(sender=tx.sender, to=tx.to, amount=tx.amount)
    elif isinstance(tx, Trade):
        event = TradeSettled(
            instrument=tx.instrument, maker=tx.maker, taker=tx.sender,
            taker_side=tx.side.value, size=tx.size, price=tx.price, maker_fee=value,
            taker_fee=result[R_V2],
        )  # fmt: skip
    else:
        assert isinstance(tx, CloseOrder)
        event = OrderClosed(
            account=tx.account, order=tx.order, instrument=tx.instrument, reason=tx.reason,
            remaining=tx.remaining, released=value,
        )  # fmt: skip
    return Receipt(index, True, None, (event,))


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
