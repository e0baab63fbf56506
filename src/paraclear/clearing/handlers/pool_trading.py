"""PoolTrade (buy or sell an option series from the pool) and PoolHedge (its delta hedge).

Both name two account locks, the trader's (or hedge counterparty's) and the pool's, read
market data, and add to commutative counters only: the fee pool, the series' open interest
and the pool's statistics. The hedge is its own transaction rather than part of every trade:
hedging inside a trade would need a third account (the perpetual's counterparty) in every
trade's access set, and a desk hedges a band of accumulated delta, not each fill.
"""

from __future__ import annotations

from paraclear.clearing import errors
from paraclear.clearing.accounts import (
    change_cash,
    fill,
    read_config,
    read_instrument,
    read_mark,
    require_initial_margin,
)
from paraclear.clearing.events import Event, PoolHedged, PoolTraded
from paraclear.clearing.handlers.common import account_access
from paraclear.clearing.handlers.pool import POOL_READS
from paraclear.clearing.handlers.trading import increases_risk, option_fee, tradable_instrument
from paraclear.clearing.instruments import Option, Perpetual
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.pool import (
    POOL,
    check_limits,
    pool_price,
    pool_risk,
    read_pool_config,
    read_quote,
)
from paraclear.clearing.transactions import PoolHedge, PoolTrade, Side
from paraclear.execution import BlockContext
from paraclear.numbers import PPM, SIZE_SCALE, div_ceil, div_floor
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k

_STATS = (k.POOL_VOLUME, k.POOL_SPREAD)


def access_pool_trade(tx: PoolTrade) -> AccessSet:
    return account_access(
        (tx.sender, POOL),
        reads=POOL_READS,
        deltas=(k.open_interest(tx.instrument), *_STATS),
    )


def apply_pool_trade(
    tx: PoolTrade, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Fill the trader at the pool's price (the trader pays the house's option fee), then
    check the trader's margin and the pool's risk limits."""
    config = read_pool_config(view)
    inst = tradable_instrument(view, tx.instrument, ctx)
    if not isinstance(inst, Option):
        raise errors.WrongInstrumentKind(instrument=tx.instrument, expected="option")
    if tx.size % inst.lot_size:
        raise errors.NotMultiple(field="size", value=tx.size, step=inst.lot_size)
    quote = read_quote(view, tx.instrument)
    before = pool_risk(view)
    if before.nav_floor <= 0:
        raise errors.PoolInsolvent(nav=before.nav_floor)
    buys = tx.side is Side.BUY
    mark = read_mark(view, tx.instrument)
    index = mark.index
    priced = pool_price(
        quote,
        config,
        trader_buys=buys,
        size=tx.size,
        pool_vega=before.on(inst.underlying).vega,
        nav=before.nav_floor,
        index_value=index * inst.contract_size // SIZE_SCALE,
    )
    if priced.price > tx.limit_price if buys else priced.price < tx.limit_price:
        raise errors.PoolPriceLimit(price=priced.price, limit=tx.limit_price)
    if buys:
        cash, delta = div_ceil(priced.price * tx.size, SIZE_SCALE), tx.size
    else:
        cash, delta = div_floor(priced.price * tx.size, SIZE_SCALE), -tx.size
    fee = option_fee(read_config(view), index, inst, tx.size, cash)
    if fee:
        change_cash(view, tx.sender, -fee)
        view.add(k.FEE_POOL, fee)
    signed_cash = cash if buys else -cash
    if increases_risk(*fill(view, tx.sender, tx.instrument, inst, delta, signed_cash)):
        require_initial_margin(view, tx.sender, model)
    fill(view, POOL, tx.instrument, inst, -delta, -signed_cash)
    after = before.after_option_fill(tx.instrument, mark, quote, -delta, signed_cash)
    check_limits(config, model, after, before)
    view.add(k.POOL_VOLUME, cash)
    view.add(k.POOL_SPREAD, int(priced.half_spread * tx.size) // SIZE_SCALE)
    net = after.on(inst.underlying)
    return [
        PoolTraded(
            account=tx.sender,
            instrument=tx.instrument,
            side=tx.side.value,
            size=tx.size,
            price=priced.price,
            fee=fee,
            delta=net.delta,
            gamma=net.gamma,
            vega=net.vega,
            nav=after.nav_floor,
        )
    ]


def perpetual_of(underlying: str) -> str:
    return f"{underlying}-PERP"


def access_pool_hedge(tx: PoolHedge) -> AccessSet:
    return account_access(
        (tx.sender, POOL),
        reads=POOL_READS,
        deltas=(k.open_interest(perpetual_of(tx.underlying)),),
    )


def apply_pool_hedge(
    tx: PoolHedge, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Trade the perpetual that brings the pool's delta nearest zero (whole lots, at most
    ``max_size``) with the sender, at the mark ± the hedge fee in the sender's favour
    (rounded in the pool's).

    Fails with HedgeNotNeeded while the delta notional is within the hedge band."""
    config = read_pool_config(view)
    name = perpetual_of(tx.underlying)
    inst = read_instrument(view, name)
    if not isinstance(inst, Perpetual):
        raise errors.WrongInstrumentKind(instrument=name, expected="perpetual")
    risk = pool_risk(view)
    net = risk.on(tx.underlying)
    band = config.hedge_band_ppm * max(risk.nav_floor, 0) // PPM
    lots = abs(net.delta) * SIZE_SCALE // inst.contract_size // inst.lot_size
    lots = min(lots, tx.max_size // inst.lot_size)
    if net.delta_notional() <= band or lots == 0:
        raise errors.HedgeNotNeeded(
            underlying=tx.underlying, delta_notional=net.delta_notional(), band=band
        )
    pool_buys = net.delta < 0
    size = lots * inst.lot_size
    mark = read_mark(view, name).price
    if pool_buys:  # the fee goes to the counterparty; every rounding to the pool
        price = div_floor(mark * (PPM + config.hedge_fee_ppm), PPM)
        cash, delta = div_floor(price * size, SIZE_SCALE), size
    else:
        price = div_ceil(mark * (PPM - config.hedge_fee_ppm), PPM)
        cash, delta = div_ceil(price * size, SIZE_SCALE), -size
    signed_cash = cash if pool_buys else -cash
    fill(view, POOL, name, inst, delta, signed_cash)
    if increases_risk(*fill(view, tx.sender, name, inst, -delta, -signed_cash)):
        require_initial_margin(view, tx.sender, model)
    return [
        PoolHedged(
            counterparty=tx.sender,
            instrument=name,
            size=delta,
            price=price,
            delta_before=net.delta,
            delta_after=net.delta + delta * inst.contract_size // SIZE_SCALE,
        )
    ]
