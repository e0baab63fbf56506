"""What every order-flow kernel shares: marking changed rows for ``Tables.flush``,
recording a failure, the machine's ``begin`` (nonce and fee), and the checks and changes of
cash and open orders that ``clearing.accounts`` and ``clearing.handlers.orders`` define.

Kernels check everything first, in the handler's order, and change rows only after: a
failure applies only ``begin``; ``E_FALLBACK`` applies nothing and hands the transaction to
the reference handler. Every row a kernel changes is marked and listed in ``log``
(accounts, positions, orders, instruments).
"""

from __future__ import annotations

from typing import Final

from paraclear.clearing.kernels.codes import (
    E_BALANCE_LIMIT,
    E_FALLBACK,
    E_INSTRUMENT_EXPIRED,
    E_INSUFFICIENT_COLLATERAL,
    E_INSUFFICIENT_FEE,
    E_INVALID_NONCE,
    E_NOT_MULTIPLE_PRICE,
    E_NOT_MULTIPLE_SIZE,
    E_OK,
    E_UNKNOWN_ORDER,
    R_E1,
    R_E2,
    R_E3,
    R_STATUS,
    X_CONSUMES,
    X_FEE,
    X_NONCE,
    X_SENDER,
)
from paraclear.clearing.kernels.layout import (
    A_COLL,
    A_NONCE,
    A_NORD,
    A_RESV,
    A_TOUCH,
    A_WIDE,
    H_FEE_DELTA,
    H_FEE_TOUCH,
    I_EXPIRY,
    I_LOT,
    I_OC_DELTA,
    I_OC_TOUCH,
    I_OI_TOUCH,
    I_OPTION,
    I_TICK,
    O_FILLED,
    O_INST,
    O_LIVE,
    O_REM,
    O_RESV,
    O_TOUCH,
    T_COLL,
    T_NONCE,
    T_ORDERS,
    T_RESV,
    Int64Array,
)
from paraclear.int128 import add_checked, mul_div_floor
from paraclear.jit import helper

MAX_OPEN_ORDERS: Final = 200
MAX_BALANCE: Final = 10**17
LOG_ACCOUNTS: Final = 0
LOG_POSITIONS: Final = 1
LOG_ORDERS: Final = 2
LOG_INSTRUMENTS: Final = 3


@helper
def log_row(log: Int64Array, count: Int64Array, which: int, row: int) -> None:  # pragma: no cover
    log[which, count[which]] = row
    count[which] += 1


@helper
def touch_account(
    accounts: Int64Array, row: int, bit: int, log: Int64Array, count: Int64Array
) -> None:  # pragma: no cover - compiled
    if accounts[row, A_TOUCH] == 0:
        log_row(log, count, LOG_ACCOUNTS, row)
    accounts[row, A_TOUCH] |= bit


@helper
def touch_row(
    table: Int64Array, row: int, column: int, which: int, log: Int64Array, count: Int64Array
) -> None:  # pragma: no cover - compiled
    if table[row, column] == 0:
        log_row(log, count, which, row)
        table[row, column] = 1


@helper
def add_counter(
    instruments: Int64Array,
    row: int,
    touch: int,
    delta: int,
    amount: int,
    log: Int64Array,
    count: Int64Array,
) -> None:  # pragma: no cover - compiled
    if instruments[row, I_OI_TOUCH] == 0 and instruments[row, I_OC_TOUCH] == 0:
        log_row(log, count, LOG_INSTRUMENTS, row)
    instruments[row, touch] = 1
    instruments[row, delta] += amount


@helper
def fail(result: Int64Array, status: int, e1: int, e2: int, e3: int) -> int:  # pragma: no cover
    result[R_STATUS] = status
    result[R_E1] = e1
    result[R_E2] = e2
    result[R_E3] = e3
    return status


# --- begin: nonce and fee ------------------------------------------------------------------


@helper
def begin_check(
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
        return fail(result, E_INVALID_NONCE, expected, tx[X_NONCE], 0)
    balance = accounts[sender, A_COLL]
    if tx[X_FEE] and tx[X_FEE] > balance:
        return fail(result, E_INSUFFICIENT_FEE, tx[X_FEE], balance, 0)
    if not add_checked(house[H_FEE_DELTA], tx[X_FEE])[1]:
        return E_FALLBACK
    return E_OK


@helper
def cash_after_begin(tx: Int64Array, accounts: Int64Array) -> int:  # pragma: no cover
    fee = tx[X_FEE] if tx[X_CONSUMES] else 0
    return accounts[tx[X_SENDER], A_COLL] - fee


@helper
def begin_apply(
    tx: Int64Array, accounts: Int64Array, house: Int64Array, log: Int64Array, count: Int64Array
) -> None:  # pragma: no cover - compiled
    if not tx[X_CONSUMES]:
        return
    sender = tx[X_SENDER]
    accounts[sender, A_NONCE] += 1
    touch_account(accounts, sender, T_NONCE, log, count)
    if tx[X_FEE]:
        accounts[sender, A_COLL] -= tx[X_FEE]
        touch_account(accounts, sender, T_COLL, log, count)
        house[H_FEE_DELTA] += tx[X_FEE]
        house[H_FEE_TOUCH] = 1


# --- shared checks -------------------------------------------------------------------------


@helper
def tradable(
    instrument: Int64Array, price: int, size: int, time: int, result: Int64Array
) -> int:  # pragma: no cover - compiled
    """``tradable_instrument`` (expiry) then ``check_steps``."""
    if instrument[I_OPTION] and time >= instrument[I_EXPIRY]:
        return fail(result, E_INSTRUMENT_EXPIRED, instrument[I_EXPIRY], time, 0)
    if price % instrument[I_TICK]:
        return fail(result, E_NOT_MULTIPLE_PRICE, price, instrument[I_TICK], 0)
    if size % instrument[I_LOT]:
        return fail(result, E_NOT_MULTIPLE_SIZE, size, instrument[I_LOT], 0)
    return E_OK


@helper
def live_order(
    orders: Int64Array, row: int, account: int, instrument: int, result: Int64Array, nonce: int
) -> int:  # pragma: no cover - compiled
    """``read_order``: the order row is live (in ``instrument`` unless it is -1)."""
    if row < 0 or not orders[row, O_LIVE]:
        return fail(result, E_UNKNOWN_ORDER, account, nonce, 0)
    if instrument >= 0 and orders[row, O_INST] != instrument:
        return fail(result, E_UNKNOWN_ORDER, account, nonce, 0)
    return E_OK


@helper
def kept_reservation(
    orders: Int64Array, row: int, remaining: int
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``shrink_order``'s reservation kept for ``remaining`` (rounded toward releasing)."""
    if remaining == 0:
        return 0, True
    return mul_div_floor(orders[row, O_RESV], remaining, orders[row, O_REM])


@helper
def apply_shrink(
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
        touch_account(accounts, account, T_ORDERS, log, count)
        add_counter(instruments, orders[row, O_INST], I_OC_TOUCH, I_OC_DELTA, -1, log, count)
    touch_row(orders, row, O_TOUCH, LOG_ORDERS, log, count)
    if released:
        accounts[account, A_RESV] -= released
        touch_account(accounts, account, T_RESV, log, count)
    return released


# --- the transactions ----------------------------------------------------------------------


@helper
def change_cash(
    before: int, amount: int, account: int, result: Int64Array
) -> tuple[int, int]:  # pragma: no cover - compiled
    """``accounts.change_cash`` (not allowing negative): (status, balance after)."""
    after, ok = add_checked(before, amount)
    if not ok:
        return E_FALLBACK, 0
    if after < 0 and amount < 0:
        return fail(result, E_INSUFFICIENT_COLLATERAL, account, -amount, before), 0
    if after > MAX_BALANCE and amount > 0:
        return fail(result, E_BALANCE_LIMIT, account, after, 0), 0
    return E_OK, after
