"""Deposit, Withdraw and Transfer over the tables, as ``clearing.handlers.funds`` defines
them: a credit ends a bankruptcy once the balance is back at zero or more; a debit takes
only free collateral (what no margin requirement or open order needs)."""

from __future__ import annotations

from paraclear.clearing.kernels.codes import (
    E_BANKRUPT,
    E_FALLBACK,
    E_INSUFFICIENT_COLLATERAL,
    E_OK,
    E_SELF_TRANSFER,
    X_MAKER,
    X_SENDER,
    X_SIZE,
)
from paraclear.clearing.kernels.layout import (
    A_BANK,
    A_COLL,
    A_RESV,
    A_WIDE,
    H_DEPOSITS_DELTA,
    H_DEPOSITS_TOUCH,
    H_OK,
    T_BANK,
    T_COLL,
    Int64Array,
)
from paraclear.clearing.kernels.margin import NO_ROW, ZERO, equity_and_initial
from paraclear.clearing.kernels.rows import begin_apply, cash_after_begin, change_cash, fail
from paraclear.clearing.kernels.rows import touch_account as touch
from paraclear.int128 import add_checked, sub_checked
from paraclear.jit import helper


@helper
def _free_collateral(
    account: int,
    cash: int,
    amount: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    result: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``debit_free_collateral``'s checks for taking ``amount`` of ``cash``."""
    if accounts[account, A_BANK]:
        deficit, ok = sub_checked(0, cash)  # -(-2^63) does not fit
        return fail(result, E_BANKRUPT, deficit, 0, 0) if ok else E_FALLBACK
    equity, initial, ok1 = equity_and_initial(
        account, cash, accounts, account_positions, positions, instruments, house,
        NO_ROW, ZERO, ZERO, ZERO,
    )  # fmt: skip
    spare, ok2 = sub_checked(equity, initial)
    spare, ok3 = sub_checked(spare, accounts[account, A_RESV])
    if not (ok1 and ok2 and ok3):
        return E_FALLBACK
    free = spare if spare < cash else cash
    if amount > free:
        return fail(result, E_INSUFFICIENT_COLLATERAL, account, amount, max(free, 0))
    return E_OK


@helper
def _credit(
    account: int, balance: int, accounts: Int64Array, log: Int64Array, count: Int64Array
) -> None:  # pragma: no cover - compiled
    """Set the balance a credit left; a balance of zero or more ends a bankruptcy."""
    accounts[account, A_COLL] = balance
    touch(accounts, account, T_COLL, log, count)
    if balance >= 0 and accounts[account, A_BANK]:
        accounts[account, A_BANK] = 0
        touch(accounts, account, T_BANK, log, count)


@helper
def _count_deposits(house: Int64Array, amount: int) -> None:  # pragma: no cover - compiled
    house[H_DEPOSITS_DELTA] += amount
    house[H_DEPOSITS_TOUCH] = 1


@helper
def deposit(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_deposit``."""
    sender, amount = tx[X_SENDER], tx[X_SIZE]
    if not add_checked(house[H_DEPOSITS_DELTA], amount)[1]:
        return E_FALLBACK
    status, balance = change_cash(cash_after_begin(tx, accounts), amount, sender, result)
    if status == E_FALLBACK:
        return E_FALLBACK
    begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    _credit(sender, balance, accounts, log, count)
    _count_deposits(house, amount)
    return E_OK


@helper
def withdraw(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_withdraw``."""
    sender, amount = tx[X_SENDER], tx[X_SIZE]
    if not house[H_OK] or not add_checked(house[H_DEPOSITS_DELTA], -amount)[1]:
        return E_FALLBACK
    cash = cash_after_begin(tx, accounts)
    status = _free_collateral(
        sender, cash, amount, accounts, account_positions, positions, instruments, house, result
    )
    if status == E_FALLBACK:
        return E_FALLBACK
    begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    accounts[sender, A_COLL] = cash - amount
    touch(accounts, sender, T_COLL, log, count)
    _count_deposits(house, -amount)
    return E_OK


@helper
def transfer(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_transfer``."""
    sender, to, amount = tx[X_SENDER], tx[X_MAKER], tx[X_SIZE]
    if not house[H_OK] or accounts[to, A_WIDE]:
        return E_FALLBACK
    cash = cash_after_begin(tx, accounts)
    balance = 0
    if to == sender:
        status = fail(result, E_SELF_TRANSFER, 0, 0, 0)
    else:
        status = _free_collateral(
            sender, cash, amount, accounts, account_positions, positions, instruments, house,
            result,
        )  # fmt: skip
        if status == E_OK:
            status, balance = change_cash(accounts[to, A_COLL], amount, to, result)
    if status == E_FALLBACK:
        return E_FALLBACK
    begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    accounts[sender, A_COLL] = cash - amount
    touch(accounts, sender, T_COLL, log, count)
    _credit(to, balance, accounts, log, count)
    return E_OK
