"""Margin, reservations and fees in compiled code: the arithmetic of
``clearing.margin.StandardMargin`` and ``PortfolioMargin`` (``risk.portfolio``),
``accounts.equity`` and ``handlers.orders.reservation`` over the tables' rows.

Every product that could leave int64 goes through ``paraclear.int128`` (exact, or refused);
every sum is checked. A refused step makes the transaction ``FALLBACK``: the reference
handler runs it instead, with Python's unbounded integers, so the result is always the
specification's. Functions return ``(value, ok)``.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from paraclear.clearing.kernels.layout import (
    A_MEMO,
    A_MEMO_INITIAL,
    A_MEMO_VALUE,
    A_NPOS,
    A_RESV,
    H_EPOCH,
    H_FIELDS,
    H_INITIAL_DEN,
    H_INITIAL_NUM,
    H_MAKER,
    H_OPTION_CAP,
    H_OPTION_FEE,
    H_PORTFOLIO,
    H_SCENARIOS,
    H_SHORT_BASE,
    H_SHORT_FLOOR,
    H_TAKER,
    I_CALL,
    I_CSIZE,
    I_FIDX,
    I_FIELDS,
    I_IM,
    I_INDEX,
    I_LOT,
    I_MARK,
    I_OK,
    I_OPTION,
    I_PNL_OK,
    I_STRIKE,
    P_FIDX,
    P_INST,
    P_QUOTE,
    P_SIZE,
    Int64Array,
)
from paraclear.int128 import (
    abs_checked,
    add_checked,
    mul3_div_ceil,
    mul_checked,
    mul_div_ceil,
    mul_div_floor,
    sub_checked,
)
from paraclear.jit import helper

SIZE_SCALE: Final = 1_000_000
PPM: Final = 1_000_000
MARGIN_SCALE: Final = PPM * SIZE_SCALE
NO_ROW: Final = np.int64(-1)
"""``changed`` of a margin check of the account as it is."""
ZERO: Final = np.int64(0)
SAFE_BOUND: Final = float(2**62)
"""Below this float bound on Σ |size| × max |risk array|, int64 sums are exact."""


@helper
def ppm_of_ceil(amount: int, rate: int) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``numbers.ppm_of_ceil``: ceil(amount × rate / 1e6)."""
    return mul_div_ceil(amount, rate, PPM)


@helper
def pending_funding(
    instrument: Int64Array, size: int, funding_index: int
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``accounts.pending_funding`` of a perpetual position."""
    steps, ok = sub_checked(instrument[I_FIDX], funding_index)
    return mul_checked(size // instrument[I_LOT], steps) if ok else (0, False)


@helper
def short_option_initial(
    instrument: Int64Array, size: int, house: Int64Array
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """The standard initial requirement of a short option position (``size`` < 0)."""
    spot, ok1 = mul_div_floor(instrument[I_INDEX], instrument[I_CSIZE], SIZE_SCALE)
    strike, ok2 = mul_div_floor(instrument[I_STRIKE], instrument[I_CSIZE], SIZE_SCALE)
    if not (ok1 and ok2):
        return 0, False
    # spot and strike are >= 0 (positive index, strike and contract size), so their
    # difference fits
    out_of_money = max(strike - spot, 0) if instrument[I_CALL] else max(spot - strike, 0)
    base, ok3 = mul_checked(house[H_SHORT_BASE], spot)
    otm, ok4 = mul_checked(PPM, out_of_money)
    floor, ok5 = mul_checked(house[H_SHORT_FLOOR], spot)
    mark, ok6 = mul_checked(PPM, instrument[I_MARK])
    less_otm, ok7 = sub_checked(base, otm)
    if not (ok3 and ok4 and ok5 and ok6 and ok7):
        return 0, False
    per_contract, ok8 = add_checked(max(less_otm, floor), mark)
    if not ok8:
        return 0, False
    charge, ok9 = mul_div_floor(per_contract, size, MARGIN_SCALE)
    return -charge, ok9 and charge != -(2**63)


@helper
def initial_term(
    instrument: Int64Array, size: int, house: Int64Array
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """One position's term of ``StandardMargin.requirement(...).initial``."""
    mark = instrument[I_MARK]
    if not instrument[I_OPTION]:
        magnitude, ok = abs_checked(size)
        if not ok:
            return 0, False
        return mul3_div_ceil(mark, magnitude, instrument[I_IM], MARGIN_SCALE)
    if size > 0:
        return mul_div_ceil(mark, size, SIZE_SCALE)
    if size < 0:
        return short_option_initial(instrument, size, house)
    return 0, True


@helper
def value_term(
    instrument: Int64Array, size: int, quote: int, funding_index: int
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """One position's term of ``accounts.equity``: its value at the mark, rounded down,
    for a perpetual with its quote cash and less its unsettled funding."""
    value, ok = mul_div_floor(instrument[I_MARK], size, SIZE_SCALE)
    if not ok or instrument[I_OPTION]:
        return value, ok
    funding, ok = pending_funding(instrument, size, funding_index)
    total, ok2 = add_checked(quote, value)
    if not (ok and ok2):
        return 0, False
    return sub_checked(total, funding)


@helper
def worst_initial(
    rows: Int64Array, sizes: Int64Array, count: int, instruments: Int64Array, house: Int64Array
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``PortfolioMargin.requirement(...).initial`` of positions ``sizes[j]`` in the
    instruments of rows ``rows[j]`` (``risk.portfolio``): the worst covered scenario loss of
    Σ |size| × the side's risk array, then the policy's ceiling. Not ok where the reference
    raises (an instrument without risk arrays) or leaves int64 arithmetic (the same float
    bound as ``risk.portfolio._account_worst``)."""
    scenarios = house[H_SCENARIOS]
    bound = 0.0
    for j in range(count):
        if sizes[j] == 0:
            continue
        instrument = instruments[rows[j]]
        if not instrument[I_PNL_OK]:
            return 0, False
        side = I_FIELDS if sizes[j] > 0 else I_FIELDS + scenarios
        peak = 0.0
        for s in range(scenarios):
            peak = max(peak, abs(float(instrument[side + s])))
        bound += abs(float(sizes[j])) * peak
    if not bound < SAFE_BOUND:
        return 0, False
    worst = 0
    for s in range(scenarios):
        total = 0
        for j in range(count):
            size = sizes[j]
            if size != 0:
                side = I_FIELDS if size > 0 else I_FIELDS + scenarios
                total += (size if size > 0 else -size) * instruments[rows[j], side + s]
        total //= SIZE_SCALE
        if total < 0:
            covered, ok = mul_div_floor(total, house[H_FIELDS + s], PPM)
            if not ok:
                return 0, False
            worst = max(worst, -covered)
    return mul_div_ceil(worst, house[H_INITIAL_NUM], house[H_INITIAL_DEN])


@helper
def _portfolio_initial(
    account: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    changed: int,
    size: int,
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``worst_initial`` of the account's positions, ``changed`` at ``size``."""
    listed = accounts[account, A_NPOS]
    rows = np.empty(listed + 1, dtype=np.int64)
    sizes = np.empty(listed + 1, dtype=np.int64)
    seen = False
    for at in range(listed):
        row = account_positions[account, at]
        rows[at] = positions[row, P_INST]
        sizes[at] = size if row == changed else positions[row, P_SIZE]
        seen = seen or row == changed
    count = listed
    if changed >= 0 and not seen:
        rows[count] = positions[changed, P_INST]
        sizes[count] = size
        count += 1
    return worst_initial(rows, sizes, count, instruments, house)


@helper
def _add_terms(
    equity: int,
    initial: int,
    instrument: Int64Array,
    size: int,
    quote: int,
    index: int,
    house: Int64Array,
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """Add one position's value and (under standard margin) initial requirement to the
    running sums."""
    value, ok1 = value_term(instrument, size, quote, index)
    term, ok2 = (0, True) if house[H_PORTFOLIO] else initial_term(instrument, size, house)
    equity, ok3 = add_checked(equity, value)
    initial, ok4 = add_checked(initial, term)
    return equity, initial, ok1 and ok2 and ok3 and ok4


@helper
def memo(
    account: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
) -> bool:  # pragma: no cover - compiled
    """Make the account's memo of its positions' terms current (``A_MEMO``: the sums of
    their ``value_term`` and ``initial_term`` at this epoch's marks), walking them once an
    epoch; False (the memo left stale) where the walk would be not ok: an instrument
    without a usable mark, or a sum past int64. The memo's sums are exact, so a margin check
    from them gives the walk's result; ``fills.side_apply`` keeps them as it moves a
    position, and the tables mark them stale when anything else writes one."""
    epoch = house[H_EPOCH]
    if accounts[account, A_MEMO] == epoch:
        return True
    value, initial, ok = _walk(
        account, 0, accounts, account_positions, positions, instruments, house, NO_ROW, 0, 0, 0
    )
    if not ok:
        return False
    accounts[account, A_MEMO_VALUE] = value
    accounts[account, A_MEMO_INITIAL] = initial
    accounts[account, A_MEMO] = epoch
    return True


@helper
def _moved(
    value: int,
    initial: int,
    instrument: Int64Array,
    old: int,
    old_quote: int,
    old_index: int,
    new: int,
    quote: int,
    index: int,
    house: Int64Array,
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """Sums of positions' terms (``value``, ``initial``) with one position in
    ``instrument`` moved from ``old`` (its quote and funding index; a live one's terms are in
    the sums) to ``new``, whose terms are added unless both are flat (as the walk adds a
    listed position at any size); not ok where the instrument has no usable mark or a term
    or a sum cannot be had."""
    if not instrument[I_OK]:
        return 0, 0, False
    if old != 0:
        gone, gone_initial, ok1 = _add_terms(0, 0, instrument, old, old_quote, old_index, house)
        value, ok2 = sub_checked(value, gone)
        initial, ok3 = sub_checked(initial, gone_initial)
        if not (ok1 and ok2 and ok3):
            return 0, 0, False
    if old == 0 and new == 0:
        return value, initial, True
    return _add_terms(value, initial, instrument, new, quote, index, house)


@helper
def memo_moved(
    account: int,
    instrument: Int64Array,
    old: int,
    old_quote: int,
    old_index: int,
    new: int,
    quote: int,
    index: int,
    accounts: Int64Array,
    house: Int64Array,
) -> None:  # pragma: no cover - compiled
    """Keep a current memo as a position of the account moves from ``old`` (its quote and
    funding index) to ``new`` (a closed position leaves the sums: flat with no quote, its
    terms are 0); leave it stale where ``_moved`` is not ok (the walk is then not ok
    either, and so must be the next check)."""
    if accounts[account, A_MEMO] != house[H_EPOCH]:
        return
    value, initial, ok = _moved(
        accounts[account, A_MEMO_VALUE], accounts[account, A_MEMO_INITIAL], instrument,
        old, old_quote, old_index, new, quote if new != 0 else 0, index, house,
    )  # fmt: skip
    if ok:
        accounts[account, A_MEMO_VALUE] = value
        accounts[account, A_MEMO_INITIAL] = initial
    else:
        accounts[account, A_MEMO] = 0


@helper
def _from_memo(
    account: int,
    collateral: int,
    accounts: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    changed: int,
    size: int,
    quote: int,
    index: int,
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """``equity_and_initial``'s equity and standard initial requirement from a current
    memo, with ``changed`` as the walk takes it (``_moved``); not ok where a term or a sum
    cannot be had (the walk then decides)."""
    value, initial = accounts[account, A_MEMO_VALUE], accounts[account, A_MEMO_INITIAL]
    if changed >= 0:
        position = positions[changed]
        value, initial, ok = _moved(
            value, initial, instruments[position[P_INST]], position[P_SIZE],
            position[P_QUOTE], position[P_FIDX], size, quote, index, house,
        )  # fmt: skip
        if not ok:
            return 0, 0, False
    equity, ok = add_checked(collateral, value)
    return equity, initial, ok


@helper
def equity_and_initial(
    account: int,
    collateral: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    changed: int,
    size: int,
    quote: int,
    index: int,
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """(equity, initial requirement, ok) of ``account`` with ``collateral`` as its cash,
    and, if ``changed`` is a position row, that position as (``size``, ``quote``,
    ``index``) instead of its row (a check of the state a fill would leave). Not ok if a
    position's instrument has no usable mark (the reference raises NoMarketData) or a sum
    leaves int64."""
    from_memo = memo(account, accounts, account_positions, positions, instruments, house)
    if from_memo:
        equity, initial, from_memo = _from_memo(
            account, collateral, accounts, positions, instruments, house, changed, size,
            quote, index,
        )  # fmt: skip
    if not from_memo:
        equity, initial, ok = _walk(
            account, collateral, accounts, account_positions, positions, instruments, house,
            changed, size, quote, index,
        )  # fmt: skip
        if not ok:
            return 0, 0, False
    if house[H_PORTFOLIO]:
        initial, ok = _portfolio_initial(
            account, accounts, account_positions, positions, instruments, house, changed, size
        )
        return equity, initial, ok
    return equity, initial, True


@helper
def _walk(
    account: int,
    collateral: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    changed: int,
    size: int,
    quote: int,
    index: int,
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """``equity_and_initial``'s equity and standard initial requirement, position by
    position (the readable form of the memo's sums)."""
    equity, initial, seen = collateral, 0, False
    for at in range(accounts[account, A_NPOS]):
        row = account_positions[account, at]
        position = positions[row]
        instrument = instruments[position[P_INST]]
        if not instrument[I_OK]:
            return 0, 0, False
        if row == changed:
            seen = True
            equity, initial, ok = _add_terms(equity, initial, instrument, size, quote, index, house)
        else:
            equity, initial, ok = _add_terms(
                equity, initial, instrument, position[P_SIZE], position[P_QUOTE],
                position[P_FIDX], house,
            )  # fmt: skip
        if not ok:
            return 0, 0, False
    if changed >= 0 and not seen and size != 0:
        instrument = instruments[positions[changed, P_INST]]
        if not instrument[I_OK]:
            return 0, 0, False
        equity, initial, ok = _add_terms(equity, initial, instrument, size, quote, index, house)
        if not ok:
            return 0, 0, False
    return equity, initial, True


@helper
def margin_shortfall(
    account: int,
    collateral: int,
    extra: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    changed: int,
    size: int,
    quote: int,
    index: int,
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """``require_initial_margin``: (required, available, ok); the check fails when
    available < required. ``changed`` and the rest: as in ``equity_and_initial``."""
    equity, initial, ok = equity_and_initial(
        account, collateral, accounts, account_positions, positions, instruments, house,
        changed, size, quote, index,
    )  # fmt: skip
    if not ok:
        return 0, 0, False
    required, ok1 = add_checked(initial, accounts[account, A_RESV])
    required, ok2 = add_checked(required, extra)
    return required, equity, ok1 and ok2


@helper
def fill_fees(
    instrument: Int64Array, size: int, cash: int, house: Int64Array
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """``handlers.trading.fill_fees``: (maker fee, taker fee, ok)."""
    if not instrument[I_OPTION]:
        maker, ok1 = ppm_of_ceil(cash, house[H_MAKER])
        taker, ok2 = ppm_of_ceil(cash, house[H_TAKER])
        return maker, taker, ok1 and ok2
    per_contract, ok1 = mul_div_floor(instrument[I_INDEX], instrument[I_CSIZE], SIZE_SCALE)
    underlying, ok2 = mul_div_floor(per_contract, size, SIZE_SCALE)
    by_underlying, ok3 = ppm_of_ceil(underlying, house[H_OPTION_FEE])
    cap, ok4 = ppm_of_ceil(cash, house[H_OPTION_CAP])
    fee = min(by_underlying, cap)
    return fee, fee, ok1 and ok2 and ok3 and ok4


@helper
def reservation(
    instruments: Int64Array,
    instrument_row: int,
    is_buy: bool,
    price: int,
    size: int,
    house: Int64Array,
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``handlers.orders.reservation``: the order's standalone initial margin, what its
    price pays beyond the mark, and its largest fee."""
    instrument = instruments[instrument_row]
    signed = size if is_buy else -size
    if house[H_PORTFOLIO]:
        alone = np.empty(1, dtype=np.int64)
        alone[0] = signed
        row = np.empty(1, dtype=np.int64)
        row[0] = instrument_row
        initial, ok1 = worst_initial(row, alone, 1, instruments, house)
    else:
        initial, ok1 = initial_term(instrument, signed, house)
    beyond, ok2 = sub_checked(price, instrument[I_MARK])
    beyond, ok3 = mul_div_ceil(beyond, signed, SIZE_SCALE)
    cash, ok4 = mul_div_ceil(price, size, SIZE_SCALE)
    maker, taker, ok5 = fill_fees(instrument, size, cash, house)
    total, ok6 = add_checked(initial, max(beyond, 0))
    total, ok7 = add_checked(total, max(maker, taker))
    return total, ok1 and ok2 and ok3 and ok4 and ok5 and ok6 and ok7
