"""SettleFill and Trade over the tables: each side's order (for a fill) and position move,
with fees, the position's cash and open interest, as ``apply_settle_fill`` and
``apply_trade`` (with ``accounts.fill`` and ``accounts.change_cash``) define them.

A side is checked first (``side_check``: what its cash and position would become, or the
error the handler raises), then both sides are applied. The two sides are different
accounts (a fill between two orders of one account falls back), so one side's checks never
depend on the other's changes.
"""

from __future__ import annotations

from paraclear.clearing.kernels.codes import (
    E_FALLBACK,
    E_FILL_MISMATCH,
    E_INSUFFICIENT_MARGIN,
    E_OK,
    E_SELF_TRADE,
    E_UNAUTHORIZED,
    R_V1,
    R_V2,
    X_ACCOUNT,
    X_BUY,
    X_FEE,
    X_INST,
    X_MAKER,
    X_MAKER_NONCE,
    X_MAKER_ORDER,
    X_MAKER_POSITION,
    X_ORDER,
    X_ORDER_NONCE,
    X_POSITION,
    X_PRICE,
    X_SENDER,
    X_SIZE,
)
from paraclear.clearing.kernels.layout import (
    A_COLL,
    A_NPOS,
    A_RESV,
    A_WIDE,
    H_FEE_DELTA,
    H_FEE_TOUCH,
    H_OK,
    H_ORACLE,
    I_FIDX,
    I_OI_DELTA,
    I_OI_TOUCH,
    I_OK,
    I_OPTION,
    KIND_LIMIT,
    KIND_POST_ONLY,
    O_BUY,
    O_FILLED,
    O_INST,
    O_KIND,
    O_PRICE,
    O_REM,
    O_RESV,
    P_FIDX,
    P_QUOTE,
    P_SIZE,
    P_TOUCH,
    T_COLL,
    T_PORTFOLIO,
    Int64Array,
)
from paraclear.clearing.kernels.margin import (
    SIZE_SCALE,
    fill_fees,
    margin_shortfall,
    memo_moved,
    pending_funding,
)
from paraclear.clearing.kernels.rows import (
    LOG_POSITIONS,
    add_counter,
    apply_shrink,
    begin_apply,
    cash_after_begin,
    change_cash,
    fail,
    kept_reservation,
    live_order,
    touch_account,
    touch_row,
    tradable,
)
from paraclear.int128 import add_checked, mul_div_floor, sub_checked
from paraclear.jit import helper


@helper
def side_check(
    account: int,
    balance: int,
    position: int,
    delta: int,
    fee: int,
    cash: int,
    instrument: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    result: Int64Array,
) -> tuple[int, int, int, int, int]:  # pragma: no cover - compiled
    """One side pays ``fee`` and moves its position by ``delta`` for ``cash`` (``fill``),
    starting from cash ``balance``. Returns (status, cash after, new size, new quote, new
    funding index)."""
    if accounts[account, A_WIDE]:
        return E_FALLBACK, 0, 0, 0, 0
    if fee:
        status, balance = change_cash(balance, -fee, account, result)
        if status != E_OK:
            return status, 0, 0, 0, 0
    old = positions[position, P_SIZE]
    new, ok = add_checked(old, delta)
    if not ok or (old == 0 and accounts[account, A_NPOS] >= account_positions.shape[1]):
        return E_FALLBACK, 0, 0, 0, 0
    paid = cash if delta > 0 else -cash
    if instrument[I_OPTION]:
        status, balance = change_cash(balance, -paid, account, result)
        return status, balance, new, 0, 0
    quote = -paid
    if old != 0:
        funding, ok1 = pending_funding(instrument, old, positions[position, P_FIDX])
        carried, ok2 = sub_checked(positions[position, P_QUOTE], funding)
        quote, ok3 = add_checked(quote, carried)
        if not (ok1 and ok2 and ok3):
            return E_FALLBACK, 0, 0, 0, 0
    if new == 0:
        status, balance = change_cash(balance, quote, account, result)
        return status, balance, 0, 0, 0
    return E_OK, balance, new, quote, instrument[I_FIDX]


@helper
def side_apply(
    account: int,
    position: int,
    fee: int,
    at: int,
    balance: int,
    new: int,
    quote: int,
    funding_index: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> None:  # pragma: no cover - compiled
    """Apply what ``side_check`` allowed."""
    if fee:
        house[H_FEE_DELTA] += fee
        house[H_FEE_TOUCH] = 1
    if fee or instruments[at, I_OPTION] or new == 0:
        accounts[account, A_COLL] = balance
        touch_account(accounts, account, T_COLL, log, count)
    old = positions[position, P_SIZE]
    memo_moved(
        account, instruments[at], old, positions[position, P_QUOTE], positions[position, P_FIDX],
        new, quote, funding_index, accounts, house,
    )  # fmt: skip
    positions[position, P_SIZE] = new
    positions[position, P_QUOTE] = quote
    positions[position, P_FIDX] = funding_index
    touch_row(positions, position, P_TOUCH, LOG_POSITIONS, log, count)
    listed = accounts[account, A_NPOS]
    if old == 0 and new != 0:
        account_positions[account, listed] = position
        accounts[account, A_NPOS] = listed + 1
        touch_account(accounts, account, T_PORTFOLIO, log, count)
    elif old != 0 and new == 0:
        for at_list in range(listed):
            if account_positions[account, at_list] == position:
                account_positions[account, at_list] = account_positions[account, listed - 1]
                break
        accounts[account, A_NPOS] = listed - 1
        touch_account(accounts, account, T_PORTFOLIO, log, count)
    open_interest = max(new, 0) - max(old, 0)
    if open_interest:
        add_counter(instruments, at, I_OI_TOUCH, I_OI_DELTA, open_interest, log, count)


@helper
def _apply_sides(
    tx: Int64Array,
    result: Int64Array,
    taker: int,
    maker: int,
    taker_fee: int,
    maker_fee: int,
    taker_side: tuple[int, int, int, int],
    maker_side: tuple[int, int, int, int],
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    log: Int64Array,
    count: Int64Array,
) -> None:  # pragma: no cover - compiled
    """Apply both sides of a fill or trade, each (cash, size, quote, funding index) as
    ``side_check`` allowed, and record the fees."""
    at = tx[X_INST]
    for account, position, fee, side in (
        (taker, tx[X_POSITION], taker_fee, taker_side),
        (maker, tx[X_MAKER_POSITION], maker_fee, maker_side),
    ):
        side_apply(
            account, position, fee, at, side[0], side[1], side[2], side[3],
            accounts, account_positions, positions, instruments, house, log, count,
        )  # fmt: skip
    result[R_V1] = maker_fee
    result[R_V2] = taker_fee


@helper
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


@helper
def _order_check(
    accounts: Int64Array, orders: Int64Array, account: int, row: int, size: int
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """The reservation an order keeps when ``size`` of it fills (``shrink_order``), and
    whether its reservation total and filled size stay within int64."""
    keep, ok = kept_reservation(orders, row, orders[row, O_REM] - size)
    resv_ok = add_checked(accounts[account, A_RESV], keep - orders[row, O_RESV])[1]
    return keep, ok and resv_ok and add_checked(orders[row, O_FILLED], size)[1]


@helper
def _counters_fit(
    house: Int64Array,
    instruments: Int64Array,
    at: int,
    fees: tuple[int, int, int],
    positions: Int64Array,
    sides: tuple[tuple[int, int], tuple[int, int]],
) -> bool:  # pragma: no cover - compiled
    """Whether the block's fee pool and open interest deltas stay within int64 when the
    ``fees`` are added one by one, and each side's position row moves to its new size (the
    apply adds them in that order)."""
    fee_total = house[H_FEE_DELTA]
    for fee in fees:
        fee_total, ok = add_checked(fee_total, fee)
        if not ok:
            return False
    open_interest = instruments[at, I_OI_DELTA]
    for row, new in sides:
        old = positions[row, P_SIZE]
        open_interest, ok = add_checked(open_interest, max(new, 0) - max(old, 0))
        if not ok:
            return False
    return True


@helper
def fill(
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
        return fail(result, E_UNAUTHORIZED, 0, 0, 0)
    if not instruments[at, I_OK]:
        return E_FALLBACK
    instrument = instruments[at]
    status = tradable(instrument, price, size, time, result)
    if status == E_OK:
        status = live_order(orders, taker_row, taker, -1, result, tx[X_ORDER_NONCE])
    if status == E_OK:
        status = live_order(orders, maker_row, maker, -1, result, tx[X_MAKER_NONCE])
    if status != E_OK:
        return status
    reason = _match(tx, orders, taker_row, maker_row)
    if reason >= 0:
        return fail(result, E_FILL_MISMATCH, reason, 0, 0)
    cash, ok1 = mul_div_floor(price, size, SIZE_SCALE)
    maker_fee, taker_fee, ok2 = fill_fees(instrument, size, cash, house)
    taker_keep, ok3 = _order_check(accounts, orders, taker, taker_row, size)
    maker_keep, ok4 = _order_check(accounts, orders, maker, maker_row, size)
    if not (ok1 and ok2 and ok3 and ok4):
        return E_FALLBACK
    delta = size if orders[taker_row, O_BUY] else -size
    status, t_cash, t_size, t_quote, t_index = side_check(
        taker, accounts[taker, A_COLL], tx[X_POSITION], delta, taker_fee, cash, instrument,
        accounts, account_positions, positions, result,
    )  # fmt: skip
    if status != E_OK:
        return status
    status, m_cash, m_size, m_quote, m_index = side_check(
        maker, accounts[maker, A_COLL], tx[X_MAKER_POSITION], -delta, maker_fee, cash,
        instrument, accounts, account_positions, positions, result,
    )  # fmt: skip
    if status != E_OK:
        return status
    moves = ((tx[X_POSITION], t_size), (tx[X_MAKER_POSITION], m_size))
    if not _counters_fit(house, instruments, at, (0, taker_fee, maker_fee), positions, moves):
        return E_FALLBACK
    for account, row, keep in ((taker, taker_row, taker_keep), (maker, maker_row, maker_keep)):
        remaining = orders[row, O_REM] - size
        apply_shrink(accounts, orders, instruments, account, row, remaining, size, keep, log, count)
    _apply_sides(
        tx, result, taker, maker, taker_fee, maker_fee,
        (t_cash, t_size, t_quote, t_index), (m_cash, m_size, m_quote, m_index),
        accounts, account_positions, positions, instruments, house, log, count,
    )  # fmt: skip
    return E_OK


@helper
def _adds_risk(old: int, new: int) -> bool:  # pragma: no cover - compiled
    """``handlers.trading.increases_risk``."""
    return abs(new) > abs(old) or (new != 0 and (old > 0) != (new > 0))


@helper
def _trade_side(
    account: int,
    balance: int,
    position: int,
    delta: int,
    fee: int,
    cash: int,
    instrument: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    result: Int64Array,
) -> tuple[int, int, int, int, int]:  # pragma: no cover - compiled
    """``side_check``, then the initial margin check of the state it leaves when the
    position grows or flips (``apply_trade``)."""
    status, balance, new, quote, index = side_check(
        account, balance, position, delta, fee, cash, instrument, accounts,
        account_positions, positions, result,
    )  # fmt: skip
    if status != E_OK or not _adds_risk(positions[position, P_SIZE], new):
        return status, balance, new, quote, index
    required, available, ok = margin_shortfall(
        account, balance, 0, accounts, account_positions, positions, instruments, house,
        position, new, quote, index,
    )  # fmt: skip
    if not ok:
        return E_FALLBACK, 0, 0, 0, 0
    if available < required:
        return fail(result, E_INSUFFICIENT_MARGIN, account, required, available), 0, 0, 0, 0
    return E_OK, balance, new, quote, index


@helper
def trade(
    tx: Int64Array,
    result: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    time: int,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """``apply_trade``: the sender takes ``size`` at ``price`` from the maker."""
    taker, maker, at = tx[X_SENDER], tx[X_MAKER], tx[X_INST]
    price, size = tx[X_PRICE], tx[X_SIZE]
    status = E_OK
    if maker == taker:
        status = fail(result, E_SELF_TRADE, 0, 0, 0)
    elif at < 0 or not instruments[at, I_OK] or not house[H_OK]:
        return E_FALLBACK
    else:
        status = tradable(instruments[at], price, size, time, result)
    t_cash = t_size = t_quote = t_index = m_cash = m_size = m_quote = m_index = 0
    maker_fee = taker_fee = 0
    if status == E_OK:
        instrument = instruments[at]
        cash, ok1 = mul_div_floor(price, size, SIZE_SCALE)
        maker_fee, taker_fee, ok2 = fill_fees(instrument, size, cash, house)
        if not (ok1 and ok2):
            return E_FALLBACK
        delta = size if tx[X_BUY] else -size
        status, t_cash, t_size, t_quote, t_index = _trade_side(
            taker, cash_after_begin(tx, accounts), tx[X_POSITION], delta, taker_fee, cash,
            instrument, accounts, account_positions, positions, instruments, house, result,
        )  # fmt: skip
        if status == E_OK:
            status, m_cash, m_size, m_quote, m_index = _trade_side(
                maker, accounts[maker, A_COLL], tx[X_MAKER_POSITION], -delta, maker_fee, cash,
                instrument, accounts, account_positions, positions, instruments, house, result,
            )  # fmt: skip
    if status == E_FALLBACK:
        return E_FALLBACK
    if status == E_OK:
        fees = (tx[X_FEE], taker_fee, maker_fee)
        moves = ((tx[X_POSITION], t_size), (tx[X_MAKER_POSITION], m_size))
        if not _counters_fit(house, instruments, at, fees, positions, moves):
            return E_FALLBACK
    begin_apply(tx, accounts, house, log, count)
    if status != E_OK:
        return status
    _apply_sides(
        tx, result, taker, maker, taker_fee, maker_fee,
        (t_cash, t_size, t_quote, t_index), (m_cash, m_size, m_quote, m_index),
        accounts, account_positions, positions, instruments, house, log, count,
    )  # fmt: skip
    return E_OK
