"""SettleExpiry: cash-settle every position of an expired option series, then delist it.

The settlement price is the index's TWAP over the 30 minutes before expiry, fixed by the
first oracle update at or after expiry (``paraclear.clearing.twap``). The series' open
orders are closed with it, and their reservations released: ``accounts`` must name every
account with a position or an open order in the series.
"""

from __future__ import annotations

from paraclear.clearing import errors
from paraclear.clearing.accounts import change_cash, fill, read_instrument
from paraclear.clearing.events import CloseReason, Event, ExpirySettled
from paraclear.clearing.handlers.backstop import cover_deficit
from paraclear.clearing.handlers.common import account_access
from paraclear.clearing.handlers.market import require_role
from paraclear.clearing.handlers.orders import close_orders_of
from paraclear.clearing.instruments import Option
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import SettlementPrices
from paraclear.clearing.transactions import SettleExpiry
from paraclear.execution import BlockContext
from paraclear.numbers import SIZE_SCALE, div_ceil, div_floor
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k


def access_settle_expiry(tx: SettleExpiry) -> AccessSet:
    return account_access(
        (tx.sender, *tx.accounts),
        reads=(k.CONFIG, k.ORACLE_LOCK),
        writes=(
            k.INSTRUMENTS_LOCK,
            k.SERIES_LOCK,
            k.MARK_LOCK,
            k.QUOTE_LOCK,
            k.lock_of(k.open_interest(tx.instrument)),
            k.lock_of(k.order_count(tx.instrument)),
            k.lock_of(k.INSURANCE_FUND),
        ),
    )


def apply_settle_expiry(
    tx: SettleExpiry, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Longs receive size × payoff (rounded down), shorts pay it (rounded up); the rounding
    residual goes to the insurance fund. Fails unless ``accounts`` hold every position."""
    require_role(view, tx.sender, "oracle")
    inst = read_instrument(view, tx.instrument)
    if not isinstance(inst, Option):
        raise errors.WrongInstrumentKind(instrument=tx.instrument, expected="option")
    if ctx.time < inst.expiry:
        raise errors.NotExpired(instrument=tx.instrument, expiry=inst.expiry, time=ctx.time)
    settlement_price = _settlement_price(view, inst, tx.instrument)
    payoff = inst.intrinsic(settlement_price)
    open_interest = view.get_int(k.open_interest(tx.instrument))
    settled_long = settled_short = residual = positions = 0
    events: list[Event] = []
    for account in tx.accounts:
        events += close_orders_of(view, account, tx.instrument, CloseReason.DELISTED)
        position = view.get(k.position(account, tx.instrument))
        if position is None:
            continue
        size: int = position.size  # type: ignore[attr-defined]
        positions += 1
        if size > 0:
            settled_long += size
            amount = div_floor(size * payoff, SIZE_SCALE)
        else:
            settled_short -= size
            amount = -div_ceil(-size * payoff, SIZE_SCALE)
        residual -= amount
        fill(view, account, tx.instrument, inst, -size, 0)
        change_cash(view, account, amount, allow_negative=True)
        events += cover_deficit(view, account, ctx)
    if not settled_long == settled_short == open_interest:
        raise errors.IncompleteSettlement(
            instrument=tx.instrument,
            open_interest=open_interest,
            settled_long=settled_long,
            settled_short=settled_short,
        )
    orders_left = view.get_int(k.order_count(tx.instrument))
    if orders_left:
        raise errors.OpenOrdersLeft(instrument=tx.instrument, orders=orders_left)
    view.add(k.INSURANCE_FUND, residual)
    _delist(view, inst, tx.instrument)
    settled = ExpirySettled(
        instrument=tx.instrument,
        settlement_price=settlement_price,
        positions=positions,
        residual=residual,
    )
    return [settled, *events]


def _settlement_price(view: StateView, inst: Option, name: str) -> int:
    """The TWAP the first oracle update at or after expiry fixed. Raises NoMarketData."""
    prices = view.get(k.settlement_prices(inst.underlying))
    price = prices.price_at(inst.expiry) if isinstance(prices, SettlementPrices) else None
    if price is None:
        raise errors.NoMarketData(what=f"settlement price of {name}")
    return price


def _delist(view: StateView, inst: Option, name: str) -> None:
    view.set(k.instrument(name), None)
    view.set(k.mark(name), None)
    if view.get(k.quote(name)) is not None:
        view.set(k.quote(name), None)
    names = tuple(n for n in view.get(k.series(inst.underlying)) or () if n != name)  # type: ignore[attr-defined]
    view.set(k.series(inst.underlying), names or None)
