"""PlaceOrder, CancelOrder, AmendOrder and CloseOrder over the tables, each the same
check-then-apply as its handler in ``clearing.handlers.orders`` (the specification)."""

from __future__ import annotations

from paraclear.clearing.kernels.codes import (
    E_BANKRUPT,
    E_FALLBACK,
    E_INSUFFICIENT_MARGIN,
    E_OK,
    E_ORDER_EXPIRED,
    E_REDUCE_ONLY,
    E_REMAINING_TOO_LARGE,
    E_TOO_MANY_ORDERS,
    E_UNAUTHORIZED,
    R_V1,
    X_ACCOUNT,
    X_BUY,
    X_GTB,
    X_INST,
    X_KIND_CODE,
    X_ORDER,
    X_ORDER_NONCE,
    X_POSITION,
    X_PRICE,
    X_REDUCE,
    X_REMAINING,
    X_SENDER,
    X_SIZE,
)
from paraclear.clearing.kernels.layout import (
    A_BANK,
    A_NORD,
    A_RESV,
    A_WIDE,
    H_OK,
    H_ORACLE,
    I_OC_DELTA,
    I_OC_TOUCH,
    I_OK,
    O_BUY,
    O_FILLED,
    O_GTB,
    O_INST,
    O_KIND,
    O_LIVE,
    O_PRICE,
    O_REDUCE,
    O_REM,
    O_RESV,
    O_TOUCH,
    P_SIZE,
    T_ORDERS,
    T_RESV,
    Int64Array,
)
from paraclear.clearing.kernels.margin import NO_ROW, ZERO, margin_shortfall, reservation
from paraclear.clearing.kernels.rows import (
    LOG_ORDERS,
    MAX_OPEN_ORDERS,
    add_counter,
    apply_shrink,
    begin_apply,
    cash_after_begin,
    fail,
    kept_reservation,
    live_order,
    touch_account,
    touch_row,
    tradable,
)
from paraclear.int128 import add_checked, sub_checked
from paraclear.jit import helper


@helper
def place(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    orders: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    height: int,
    time: int,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_place_order``."""
    sender, at = tx[X_SENDER], tx[X_INST]
    if tx[X_ORDER] < 0 or not instruments[at, I_OK] or not house[H_OK]:
        return E_FALLBACK
    instrument = instruments[at]
    cash = cash_after_begin(tx, accounts)
    price, size, is_buy = tx[X_PRICE], tx[X_SIZE], tx[X_BUY] == 1
    status = tradable(instrument, price, size, time, result)
    if status == E_OK and tx[X_GTB] and tx[X_GTB] < height:
        status = fail(result, E_ORDER_EXPIRED, tx[X_GTB], height, 0)
    if status == E_OK and tx[X_REDUCE]:
        held = positions[tx[X_POSITION], P_SIZE] if tx[X_POSITION] >= 0 else 0
        if held == 0 or (held > 0) == is_buy:
            status = fail(result, E_REDUCE_ONLY, held, 0, 0)
    if status == E_OK and accounts[sender, A_NORD] >= MAX_OPEN_ORDERS:
        status = fail(result, E_TOO_MANY_ORDERS, 0, 0, 0)
    if status == E_OK and accounts[sender, A_BANK]:
        deficit, ok = sub_checked(0, cash)  # -(-2^63) does not fit
        if not ok:
            return E_FALLBACK
        status = fail(result, E_BANKRUPT, deficit, 0, 0)
    reserve = 0
    if status == E_OK:
        reserve, ok = reservation(instruments, at, is_buy, price, size, house)
        required, available, ok2 = margin_shortfall(
            sender, cash, reserve, accounts, account_positions, positions, instruments, house,
            NO_ROW, ZERO, ZERO, ZERO,
        )  # fmt: skip
        if not (ok and ok2 and add_checked(accounts[sender, A_RESV], reserve)[1]):
            return E_FALLBACK
        if available < required:
            status = fail(result, E_INSUFFICIENT_MARGIN, sender, required, available)
    begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    row = tx[X_ORDER]
    orders[row, O_LIVE] = 1
    orders[row, O_INST] = at
    orders[row, O_BUY] = tx[X_BUY]
    orders[row, O_KIND] = tx[X_KIND_CODE]
    orders[row, O_PRICE] = price
    orders[row, O_REM] = size
    orders[row, O_FILLED] = 0
    orders[row, O_RESV] = reserve
    orders[row, O_REDUCE] = tx[X_REDUCE]
    orders[row, O_GTB] = tx[X_GTB]
    touch_row(orders, row, O_TOUCH, LOG_ORDERS, log, count)
    accounts[sender, A_NORD] += 1
    touch_account(accounts, sender, T_ORDERS, log, count)
    if reserve:
        accounts[sender, A_RESV] += reserve
        touch_account(accounts, sender, T_RESV, log, count)
    add_counter(instruments, at, I_OC_TOUCH, I_OC_DELTA, 1, log, count)
    result[R_V1] = reserve
    return E_OK


@helper
def cancel(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    orders: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_cancel_order``."""
    sender, row = tx[X_SENDER], tx[X_ORDER]
    status = live_order(orders, row, sender, tx[X_INST], result, tx[X_ORDER_NONCE])
    begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    result[R_V1] = apply_shrink(accounts, orders, instruments, sender, row, 0, 0, 0, log, count)
    return E_OK


@helper
def amend(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    orders: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    time: int,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_amend_order``."""
    sender, row = tx[X_SENDER], tx[X_ORDER]
    price, size = tx[X_PRICE], tx[X_SIZE]
    status = live_order(orders, row, sender, -1, result, tx[X_ORDER_NONCE])
    reserve = at = 0
    if status == E_OK:
        at = orders[row, O_INST]
        if not instruments[at, I_OK] or not house[H_OK]:
            return E_FALLBACK
        status = tradable(instruments[at], price, size, time, result)
    if status == E_OK:
        reserve, ok = reservation(instruments, at, orders[row, O_BUY] == 1, price, size, house)
        if not ok:
            return E_FALLBACK
        more = reserve - orders[row, O_RESV]
        if not add_checked(accounts[sender, A_RESV], more)[1]:
            return E_FALLBACK
        if more > 0:
            required, available, ok = margin_shortfall(
                sender,
                cash_after_begin(tx, accounts),
                more,
                accounts,
                account_positions,
                positions,
                instruments,
                house,
                NO_ROW,
                ZERO,
                ZERO,
                ZERO,
            )
            if not ok:
                return E_FALLBACK
            if available < required:
                status = fail(result, E_INSUFFICIENT_MARGIN, sender, required, available)
    begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    more = reserve - orders[row, O_RESV]
    orders[row, O_PRICE] = price
    orders[row, O_REM] = size
    orders[row, O_RESV] = reserve
    touch_row(orders, row, O_TOUCH, LOG_ORDERS, log, count)
    if more:
        accounts[sender, A_RESV] += more
        touch_account(accounts, sender, T_RESV, log, count)
    result[R_V1] = reserve
    return E_OK


@helper
def close(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    orders: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_close_order``."""
    account, row, remaining = tx[X_ACCOUNT], tx[X_ORDER], tx[X_REMAINING]
    if accounts[account, A_WIDE] or not house[H_OK]:
        return E_FALLBACK
    if tx[X_SENDER] != house[H_ORACLE]:
        return fail(result, E_UNAUTHORIZED, 0, 0, 0)
    status = live_order(orders, row, account, tx[X_INST], result, tx[X_ORDER_NONCE])
    if status != E_OK:
        return status
    if remaining >= orders[row, O_REM]:
        return fail(result, E_REMAINING_TOO_LARGE, 0, 0, 0)
    keep, ok = kept_reservation(orders, row, remaining)
    if not ok:
        return E_FALLBACK
    result[R_V1] = apply_shrink(
        accounts, orders, instruments, account, row, remaining, 0, keep, log, count
    )
    return E_OK
