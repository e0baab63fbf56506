"""The order-flow transactions in compiled code: PlaceOrder, CancelOrder, AmendOrder,
SettleFill and CloseOrder over the tables, each the same check-then-apply as its handler in
``clearing.handlers.orders`` (the specification), with the machine's ``begin`` (nonce, fee).

Each kernel first checks everything, in the handler's order, so that a failure reports the
error the handler would raise first; only then does it change rows. A failure applies only
``begin``; ``E_FALLBACK`` applies nothing and hands the transaction to the reference handler
(an error the kernels do not reproduce, a value beyond int64, an account holding more
positions than its row has room for, a fill between two orders of one account).

``run_orders`` runs a table of transactions from ``start`` and stops at the first fallback,
returning its index (or the count when all ran). Every row it changes is marked and listed
in ``log`` (accounts, positions, orders, instruments) for ``Tables.flush``.
"""

from __future__ import annotations

from typing import Final

import numba

from paraclear.clearing.kernels.codes import (
    E_BALANCE_LIMIT,
    E_BANKRUPT,
    E_FALLBACK,
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
    E_TOO_MANY_ORDERS,
    E_UNAUTHORIZED,
    E_UNKNOWN_ORDER,
    K_AMEND,
    K_CANCEL,
    K_CLOSE,
    K_FILL,
    K_PLACE,
    R_E1,
    R_E2,
    R_E3,
    R_STATUS,
    R_V1,
    R_V2,
    X_ACCOUNT,
    X_BUY,
    X_CONSUMES,
    X_FEE,
    X_GTB,
    X_INST,
    X_KIND,
    X_KIND_CODE,
    X_MAKER,
    X_MAKER_NONCE,
    X_MAKER_ORDER,
    X_MAKER_POSITION,
    X_NONCE,
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
    A_COLL,
    A_NONCE,
    A_NORD,
    A_NPOS,
    A_RESV,
    A_TOUCH,
    A_WIDE,
    H_FEE_DELTA,
    H_FEE_TOUCH,
    H_OK,
    H_ORACLE,
    I_EXPIRY,
    I_FIDX,
    I_LOT,
    I_OC_DELTA,
    I_OC_TOUCH,
    I_OI_DELTA,
    I_OI_TOUCH,
    I_OK,
    I_OPTION,
    I_TICK,
    KIND_LIMIT,
    KIND_POST_ONLY,
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
    P_FIDX,
    P_QUOTE,
    P_SIZE,
    P_TOUCH,
    T_COLL,
    T_NONCE,
    T_ORDERS,
    T_PORTFOLIO,
    T_RESV,
    Int64Array,
)
from paraclear.clearing.kernels.margin import (
    SIZE_SCALE,
    fill_fees,
    margin_shortfall,
    pending_funding,
    reservation,
)
from paraclear.int128 import add_checked, mul_div_floor, sub_checked

MAX_OPEN_ORDERS: Final = 200
MAX_BALANCE: Final = 10**17
LOG_ACCOUNTS: Final = 0
LOG_POSITIONS: Final = 1
LOG_ORDERS: Final = 2
LOG_INSTRUMENTS: Final = 3


@numba.njit(cache=True, nogil=True)
def _log(log: Int64Array, count: Int64Array, which: int, row: int) -> None:  # pragma: no cover
    log[which, count[which]] = row
    count[which] += 1


@numba.njit(cache=True, nogil=True)
def _touch_account(
    accounts: Int64Array, row: int, bit: int, log: Int64Array, count: Int64Array
) -> None:  # pragma: no cover - compiled
    if accounts[row, A_TOUCH] == 0:
        _log(log, count, LOG_ACCOUNTS, row)
    accounts[row, A_TOUCH] |= bit


@numba.njit(cache=True, nogil=True)
def _touch_row(
    table: Int64Array, row: int, column: int, which: int, log: Int64Array, count: Int64Array
) -> None:  # pragma: no cover - compiled
    if table[row, column] == 0:
        _log(log, count, which, row)
        table[row, column] = 1


@numba.njit(cache=True, nogil=True)
def _add_counter(
    instruments: Int64Array,
    row: int,
    touch: int,
    delta: int,
    amount: int,
    log: Int64Array,
    count: Int64Array,
) -> None:  # pragma: no cover - compiled
    if instruments[row, I_OI_TOUCH] == 0 and instruments[row, I_OC_TOUCH] == 0:
        _log(log, count, LOG_INSTRUMENTS, row)
    instruments[row, touch] = 1
    instruments[row, delta] += amount


@numba.njit(cache=True, nogil=True)
def _fail(result: Int64Array, status: int, e1: int, e2: int, e3: int) -> int:  # pragma: no cover
    result[R_STATUS] = status
    result[R_E1] = e1
    result[R_E2] = e2
    result[R_E3] = e3
    return status


# --- begin: nonce and fee ------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _begin_check(
    tx: Int64Array, accounts: Int64Array, house: Int64Array, result: Int64Array
) -> int:  # pragma: no cover - compiled
    """``ClearingMachine.begin``'s checks. E_OK, a failure, or E_FALLBACK."""
    sender = tx[X_SENDER]
    if accounts[sender, A_WIDE]:
        return E_FALLBACK
    if not tx[X_CONSUMES]:
        return E_OK
    expected = accounts[sender, A_NONCE]
    if tx[X_NONCE] != expected:
        return _fail(result, E_INVALID_NONCE, expected, tx[X_NONCE], 0)
    balance = accounts[sender, A_COLL]
    if tx[X_FEE] > balance:
        return _fail(result, E_INSUFFICIENT_FEE, tx[X_FEE], balance, 0)
    if not add_checked(house[H_FEE_DELTA], tx[X_FEE])[1]:
        return E_FALLBACK
    return E_OK


@numba.njit(cache=True, nogil=True)
def _cash_after_begin(tx: Int64Array, accounts: Int64Array) -> int:  # pragma: no cover
    fee = tx[X_FEE] if tx[X_CONSUMES] else 0
    return accounts[tx[X_SENDER], A_COLL] - fee


@numba.njit(cache=True, nogil=True)
def _begin_apply(
    tx: Int64Array, accounts: Int64Array, house: Int64Array, log: Int64Array, count: Int64Array
) -> None:  # pragma: no cover - compiled
    if not tx[X_CONSUMES]:
        return
    sender = tx[X_SENDER]
    accounts[sender, A_NONCE] += 1
    _touch_account(accounts, sender, T_NONCE, log, count)
    if tx[X_FEE]:
        accounts[sender, A_COLL] -= tx[X_FEE]
        _touch_account(accounts, sender, T_COLL, log, count)
        house[H_FEE_DELTA] += tx[X_FEE]
        house[H_FEE_TOUCH] = 1


# --- shared checks -------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _tradable(
    instrument: Int64Array, price: int, size: int, time: int, result: Int64Array
) -> int:  # pragma: no cover - compiled
    """``tradable_instrument`` (expiry) then ``check_steps``."""
    if instrument[I_OPTION] and time >= instrument[I_EXPIRY]:
        return _fail(result, E_INSTRUMENT_EXPIRED, instrument[I_EXPIRY], time, 0)
    if price % instrument[I_TICK]:
        return _fail(result, E_NOT_MULTIPLE_PRICE, price, instrument[I_TICK], 0)
    if size % instrument[I_LOT]:
        return _fail(result, E_NOT_MULTIPLE_SIZE, size, instrument[I_LOT], 0)
    return E_OK


@numba.njit(cache=True, nogil=True)
def _live_order(
    orders: Int64Array, row: int, account: int, instrument: int, result: Int64Array, nonce: int
) -> int:  # pragma: no cover - compiled
    """``read_order``: the order row is live (in ``instrument`` unless it is -1)."""
    if row < 0 or not orders[row, O_LIVE]:
        return _fail(result, E_UNKNOWN_ORDER, account, nonce, 0)
    if instrument >= 0 and orders[row, O_INST] != instrument:
        return _fail(result, E_UNKNOWN_ORDER, account, nonce, 0)
    return E_OK


@numba.njit(cache=True, nogil=True)
def _shrink(
    orders: Int64Array, row: int, remaining: int
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``shrink_order``'s reservation kept for ``remaining`` (rounded toward releasing)."""
    if remaining == 0:
        return 0, True
    return mul_div_floor(orders[row, O_RESV], remaining, orders[row, O_REM])


@numba.njit(cache=True, nogil=True)
def _apply_shrink(
    accounts: Int64Array,
    orders: Int64Array,
    instruments: Int64Array,
    account: int,
    row: int,
    remaining: int,
    filled: int,
    keep: int,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """Leave ``remaining`` open (0 closes the order); returns the reservation released."""
    released = orders[row, O_RESV] - keep
    if remaining:
        orders[row, O_REM] = remaining
        orders[row, O_FILLED] += filled
        orders[row, O_RESV] = keep
    else:
        orders[row, O_LIVE] = 0
        accounts[account, A_NORD] -= 1
        _touch_account(accounts, account, T_ORDERS, log, count)
        _add_counter(instruments, orders[row, O_INST], I_OC_TOUCH, I_OC_DELTA, -1, log, count)
    _touch_row(orders, row, O_TOUCH, LOG_ORDERS, log, count)
    if released:
        accounts[account, A_RESV] -= released
        _touch_account(accounts, account, T_RESV, log, count)
    return released


# --- the transactions ----------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _place(
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
    cash = _cash_after_begin(tx, accounts)
    price, size, is_buy = tx[X_PRICE], tx[X_SIZE], tx[X_BUY] == 1
    status = _tradable(instrument, price, size, time, result)
    if status == E_OK and tx[X_GTB] and tx[X_GTB] < height:
        status = _fail(result, E_ORDER_EXPIRED, tx[X_GTB], height, 0)
    if status == E_OK and tx[X_REDUCE]:
        held = positions[tx[X_POSITION], P_SIZE] if tx[X_POSITION] >= 0 else 0
        if held == 0 or (held > 0) == is_buy:
            status = _fail(result, E_REDUCE_ONLY, held, 0, 0)
    if status == E_OK and accounts[sender, A_NORD] >= MAX_OPEN_ORDERS:
        status = _fail(result, E_TOO_MANY_ORDERS, 0, 0, 0)
    if status == E_OK and accounts[sender, A_BANK]:
        status = _fail(result, E_BANKRUPT, -cash, 0, 0)
    reserve = 0
    if status == E_OK:
        reserve, ok = reservation(instrument, is_buy, price, size, house)
        required, available, ok2 = margin_shortfall(
            sender, cash, reserve, accounts, account_positions, positions, instruments, house
        )
        if not (ok and ok2 and add_checked(accounts[sender, A_RESV], reserve)[1]):
            return E_FALLBACK
        if available < required:
            status = _fail(result, E_INSUFFICIENT_MARGIN, required, available, 0)
    _begin_apply(tx, accounts, house, log, count)
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
    _touch_row(orders, row, O_TOUCH, LOG_ORDERS, log, count)
    accounts[sender, A_NORD] += 1
    _touch_account(accounts, sender, T_ORDERS, log, count)
    if reserve:
        accounts[sender, A_RESV] += reserve
        _touch_account(accounts, sender, T_RESV, log, count)
    _add_counter(instruments, at, I_OC_TOUCH, I_OC_DELTA, 1, log, count)
    result[R_V1] = reserve
    return E_OK


@numba.njit(cache=True, nogil=True)
def _cancel(
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
    status = _live_order(orders, row, sender, tx[X_INST], result, tx[X_ORDER_NONCE])
    _begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    result[R_V1] = _apply_shrink(accounts, orders, instruments, sender, row, 0, 0, 0, log, count)
    return E_OK


@numba.njit(cache=True, nogil=True)
def _amend(
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
    status = _live_order(orders, row, sender, -1, result, tx[X_ORDER_NONCE])
    reserve = at = 0
    if status == E_OK:
        at = orders[row, O_INST]
        if not instruments[at, I_OK] or not house[H_OK]:
            return E_FALLBACK
        status = _tradable(instruments[at], price, size, time, result)
    if status == E_OK:
        reserve, ok = reservation(instruments[at], orders[row, O_BUY] == 1, price, size, house)
        if not ok:
            return E_FALLBACK
        more = reserve - orders[row, O_RESV]
        if not add_checked(accounts[sender, A_RESV], more)[1]:
            return E_FALLBACK
        if more > 0:
            required, available, ok = margin_shortfall(
                sender,
                _cash_after_begin(tx, accounts),
                more,
                accounts,
                account_positions,
                positions,
                instruments,
                house,
            )
            if not ok:
                return E_FALLBACK
            if available < required:
                status = _fail(result, E_INSUFFICIENT_MARGIN, required, available, 0)
    _begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    more = reserve - orders[row, O_RESV]
    orders[row, O_PRICE] = price
    orders[row, O_REM] = size
    orders[row, O_RESV] = reserve
    _touch_row(orders, row, O_TOUCH, LOG_ORDERS, log, count)
    if more:
        accounts[sender, A_RESV] += more
        _touch_account(accounts, sender, T_RESV, log, count)
    result[R_V1] = reserve
    return E_OK


@numba.njit(cache=True, nogil=True)
def _close(
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
        return _fail(result, E_UNAUTHORIZED, 0, 0, 0)
    status = _live_order(orders, row, account, tx[X_INST], result, tx[X_ORDER_NONCE])
    if status != E_OK:
        return status
    if remaining >= orders[row, O_REM]:
        return _fail(result, E_REMAINING_TOO_LARGE, 0, 0, 0)
    keep, ok = _shrink(orders, row, remaining)
    if not ok:
        return E_FALLBACK
    result[R_V1] = _apply_shrink(
        accounts, orders, instruments, account, row, remaining, 0, keep, log, count
    )
    return E_OK


@numba.njit(cache=True, nogil=True)
def _change_cash(
    before: int, amount: int, account: int, result: Int64Array
) -> tuple[int, int]:  # pragma: no cover - compiled
    """``accounts.change_cash`` (not allowing negative): (status, balance after)."""
    after, ok = add_checked(before, amount)
    if not ok:
        return E_FALLBACK, 0
    if after < 0 and amount < 0:
        return _fail(result, E_INSUFFICIENT_COLLATERAL, account, -amount, before), 0
    if after > MAX_BALANCE and amount > 0:
        return _fail(result, E_BALANCE_LIMIT, account, after, 0), 0
    return E_OK, after


@numba.njit(cache=True, nogil=True)
def _leg(
    account: int,
    row: int,
    position: int,
    delta: int,
    fee: int,
    cash: int,
    size: int,
    instrument: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    orders: Int64Array,
    result: Int64Array,
) -> tuple[int, int, int, int, int, int]:  # pragma: no cover - compiled
    """The checks of one side of ``apply_settle_fill``: its order shrinks by ``size``, it
    pays ``fee``, its position moves by ``delta`` for ``cash``. Returns (status, reservation
    kept, collateral after, new size, new quote, new funding index)."""
    if accounts[account, A_WIDE]:
        return E_FALLBACK, 0, 0, 0, 0, 0
    keep, ok = _shrink(orders, row, orders[row, O_REM] - size)
    if not ok or not add_checked(accounts[account, A_RESV], keep - orders[row, O_RESV])[1]:
        return E_FALLBACK, 0, 0, 0, 0, 0
    balance = accounts[account, A_COLL]
    if fee:
        status, balance = _change_cash(balance, -fee, account, result)
        if status != E_OK:
            return status, 0, 0, 0, 0, 0
    old = positions[position, P_SIZE]
    new, ok = add_checked(old, delta)
    if not ok:
        return E_FALLBACK, 0, 0, 0, 0, 0
    if old == 0 and accounts[account, A_NPOS] >= account_positions.shape[1]:
        return E_FALLBACK, 0, 0, 0, 0, 0
    paid = cash if delta > 0 else -cash
    if instrument[I_OPTION]:
        status, balance = _change_cash(balance, -paid, account, result)
        return status, keep, balance, new, 0, 0
    quote = -paid
    if old != 0:
        funding, ok1 = pending_funding(instrument, old, positions[position, P_FIDX])
        carried, ok2 = sub_checked(positions[position, P_QUOTE], funding)
        quote, ok3 = add_checked(quote, carried)
        if not (ok1 and ok2 and ok3):
            return E_FALLBACK, 0, 0, 0, 0, 0
    if new == 0:
        status, balance = _change_cash(balance, quote, account, result)
        return status, keep, balance, 0, 0, 0
    return E_OK, keep, balance, new, quote, instrument[I_FIDX]


@numba.njit(cache=True, nogil=True)
def _apply_leg(
    account: int,
    row: int,
    position: int,
    fee: int,
    size: int,
    at: int,
    leg: tuple[int, int, int, int, int, int],
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    orders: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> None:  # pragma: no cover - compiled
    _, keep, balance, new, quote, funding_index = leg
    remaining = orders[row, O_REM] - size
    _apply_shrink(accounts, orders, instruments, account, row, remaining, size, keep, log, count)
    if fee:
        house[H_FEE_DELTA] += fee
        house[H_FEE_TOUCH] = 1
    if fee or instruments[at, I_OPTION] or new == 0:
        accounts[account, A_COLL] = balance
        _touch_account(accounts, account, T_COLL, log, count)
    old = positions[position, P_SIZE]
    positions[position, P_SIZE] = new
    positions[position, P_QUOTE] = quote
    positions[position, P_FIDX] = funding_index
    _touch_row(positions, position, P_TOUCH, LOG_POSITIONS, log, count)
    listed = accounts[account, A_NPOS]
    if old == 0 and new != 0:
        account_positions[account, listed] = position
        accounts[account, A_NPOS] = listed + 1
        _touch_account(accounts, account, T_PORTFOLIO, log, count)
    elif old != 0 and new == 0:
        for at_list in range(listed):
            if account_positions[account, at_list] == position:
                account_positions[account, at_list] = account_positions[account, listed - 1]
                break
        accounts[account, A_NPOS] = listed - 1
        _touch_account(accounts, account, T_PORTFOLIO, log, count)
    open_interest = max(new, 0) - max(old, 0)
    if open_interest:
        _add_counter(instruments, at, I_OI_TOUCH, I_OI_DELTA, open_interest, log, count)


@numba.njit(cache=True, nogil=True)
def _match(
    tx: Int64Array, orders: Int64Array, taker: int, maker: int
) -> int:  # pragma: no cover - compiled
    """``_check_match``: the index of the first reason in ``FILL_REASONS``, or -1."""
    at, size, price = tx[X_INST], tx[X_SIZE], tx[X_PRICE]
    if orders[taker, O_INST] != at or orders[maker, O_INST] != at:
        return 0
    if orders[taker, O_BUY] == orders[maker, O_BUY]:
        return 1
    if size > orders[taker, O_REM] or size > orders[maker, O_REM]:
        return 2
    if price != orders[maker, O_PRICE]:
        return 3
    limit = orders[taker, O_PRICE]
    if (price > limit) if orders[taker, O_BUY] else (price < limit):
        return 4
    if orders[maker, O_KIND] != KIND_LIMIT and orders[maker, O_KIND] != KIND_POST_ONLY:
        return 5
    return -1


@numba.njit(cache=True, nogil=True)
def _fill(
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
    """``apply_settle_fill``."""
    taker, maker, at = tx[X_ACCOUNT], tx[X_MAKER], tx[X_INST]
    taker_row, maker_row = tx[X_ORDER], tx[X_MAKER_ORDER]
    price, size = tx[X_PRICE], tx[X_SIZE]
    if taker == maker or not house[H_OK]:
        return E_FALLBACK
    if tx[X_SENDER] != house[H_ORACLE]:
        return _fail(result, E_UNAUTHORIZED, 0, 0, 0)
    if not instruments[at, I_OK]:
        return E_FALLBACK
    instrument = instruments[at]
    status = _tradable(instrument, price, size, time, result)
    if status == E_OK:
        status = _live_order(orders, taker_row, taker, -1, result, tx[X_ORDER_NONCE])
    if status == E_OK:
        status = _live_order(orders, maker_row, maker, -1, result, tx[X_MAKER_NONCE])
    if status != E_OK:
        return status
    reason = _match(tx, orders, taker_row, maker_row)
    if reason >= 0:
        return _fail(result, E_FILL_MISMATCH, reason, 0, 0)
    cash, ok = mul_div_floor(price, size, SIZE_SCALE)
    maker_fee, taker_fee, ok2 = fill_fees(instrument, size, cash, house)
    if not (ok and ok2 and add_checked(house[H_FEE_DELTA], maker_fee + taker_fee)[1]):
        return E_FALLBACK
    delta = size if orders[taker_row, O_BUY] else -size
    first = _leg(
        taker, taker_row, tx[X_POSITION], delta, taker_fee, cash, size, instrument,
        accounts, account_positions, positions, orders, result,
    )  # fmt: skip
    if first[0] != E_OK:
        return first[0]
    second = _leg(
        maker, maker_row, tx[X_MAKER_POSITION], -delta, maker_fee, cash, size, instrument,
        accounts, account_positions, positions, orders, result,
    )  # fmt: skip
    if second[0] != E_OK:
        return second[0]
    _apply_leg(
        taker, taker_row, tx[X_POSITION], taker_fee, size, at, first,
        accounts, account_positions, positions, orders, instruments, house, log, count,
    )  # fmt: skip
    _apply_leg(
        maker, maker_row, tx[X_MAKER_POSITION], maker_fee, size, at, second,
        accounts, account_positions, positions, orders, instruments, house, log, count,
    )  # fmt: skip
    result[R_V1] = maker_fee
    result[R_V2] = taker_fee
    return E_OK


@numba.njit(cache=True, nogil=True)
def run_orders(
    txs: Int64Array,
    results: Int64Array,
    start: int,
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
    """Run ``txs[start:]`` in order; return the index of the first that falls back (its
    row in ``results`` unset, nothing of it applied), or ``len(txs)``."""
    for at in range(start, txs.shape[0]):
        tx, result = txs[at], results[at]
        result[:] = 0
        status = _begin_check(tx, accounts, house, result)
        if status == E_OK:
            kind = tx[X_KIND]
            if kind == K_PLACE:
                status = _place(
                    tx, result, accounts, account_positions, positions, orders, instruments,
                    house, height, time, log, count,
                )  # fmt: skip
            elif kind == K_CANCEL:
                status = _cancel(tx, result, accounts, orders, instruments, house, log, count)
            elif kind == K_AMEND:
                status = _amend(
                    tx, result, accounts, account_positions, positions, orders, instruments,
                    house, time, log, count,
                )  # fmt: skip
            elif kind == K_FILL:
                status = _fill(
                    tx, result, accounts, account_positions, positions, orders, instruments,
                    house, time, log, count,
                )  # fmt: skip
            elif kind == K_CLOSE:
                status = _close(tx, result, accounts, orders, instruments, house, log, count)
            else:
                status = E_FALLBACK
        if status == E_FALLBACK:
            result[:] = 0
            return at
        result[R_STATUS] = status
    return txs.shape[0]
