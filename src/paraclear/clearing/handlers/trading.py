"""Trade (a matched fill) and Liquidate (a liquidator takes over a position at the mark)."""

from __future__ import annotations

from paraclear.clearing import errors
from paraclear.clearing.accounts import (
    change_cash,
    fill,
    margin_status,
    read_config,
    read_instrument,
    read_mark,
    require_initial_margin,
)
from paraclear.clearing.events import Event, Liquidated, TradeSettled
from paraclear.clearing.handlers.backstop import require_liquidation_order, sync_bankruptcy
from paraclear.clearing.handlers.common import MARKET_READS, account_access
from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.liquidation import step_limit
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import HouseConfig, MarkData
from paraclear.clearing.transactions import Liquidate, Side, Trade
from paraclear.execution import BlockContext
from paraclear.numbers import SIZE_SCALE, div_floor, ppm_of_ceil
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k


def access_trade(tx: Trade) -> AccessSet:
    return account_access(
        (tx.sender, tx.maker), reads=MARKET_READS, deltas=(k.open_interest(tx.instrument),)
    )


def apply_trade(tx: Trade, view: StateView, ctx: BlockContext, model: MarginModel) -> list[Event]:
    if tx.maker == tx.sender:
        raise errors.SelfTrade(account=tx.sender)
    inst = tradable_instrument(view, tx.instrument, ctx)
    check_steps(inst, tx.price, tx.size)
    config = read_config(view)
    cash = tx.price * tx.size // SIZE_SCALE
    maker_fee, taker_fee = fill_fees(view, config, tx.instrument, inst, tx.size, cash)
    taker_delta = tx.size if tx.side is Side.BUY else -tx.size
    for account, delta, fee in (
        (tx.sender, taker_delta, taker_fee),
        (tx.maker, -taker_delta, maker_fee),
    ):
        if fee:
            change_cash(view, account, -fee)
            view.add(k.FEE_POOL, fee)
        old, new = fill(view, account, tx.instrument, inst, delta, cash if delta > 0 else -cash)
        if increases_risk(old, new):
            require_initial_margin(view, account, model)
    return [
        TradeSettled(
            instrument=tx.instrument,
            maker=tx.maker,
            taker=tx.sender,
            taker_side=tx.side.value,
            size=tx.size,
            price=tx.price,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
        )
    ]


def check_steps(inst: Instrument, price: int, size: int) -> None:
    """Raise NotMultiple unless ``price`` is a multiple of the tick and ``size`` of the lot."""
    if price % inst.tick_size:
        raise errors.NotMultiple(field="price", value=price, step=inst.tick_size)
    if size % inst.lot_size:
        raise errors.NotMultiple(field="size", value=size, step=inst.lot_size)


def increases_risk(old: int, new: int) -> bool:
    """A position change adds risk if it grows the position or flips its side."""
    return abs(new) > abs(old) or (new != 0 and (old > 0) != (new > 0))


def tradable_instrument(view: StateView, name: str, ctx: BlockContext) -> Instrument:
    """The listed instrument ``name``; raises if unknown or an expired option."""
    inst = read_instrument(view, name)
    if isinstance(inst, Option) and ctx.time >= inst.expiry:
        raise errors.InstrumentExpired(instrument=name, expiry=inst.expiry, time=ctx.time)
    return inst


def fill_fees(
    view: StateView, config: HouseConfig, name: str, inst: Instrument, size: int, cash: int
) -> tuple[int, int]:
    """(maker fee, taker fee): perps on notional; options on the underlying, capped by premium."""
    if not isinstance(inst, Option):
        return ppm_of_ceil(cash, config.maker_fee_ppm), ppm_of_ceil(cash, config.taker_fee_ppm)
    fee = option_fee(config, read_mark(view, name).index, inst, size, cash)
    return fee, fee


def option_fee(config: HouseConfig, index: int, inst: Option, size: int, cash: int) -> int:
    """The house's fee on an option fill: a fraction of the underlying, capped by premium."""
    underlying_value = index * inst.contract_size // SIZE_SCALE * size // SIZE_SCALE
    return min(
        ppm_of_ceil(underlying_value, config.option_fee_ppm),
        ppm_of_ceil(cash, config.option_fee_cap_ppm),
    )


def access_liquidate(tx: Liquidate) -> AccessSet:
    return account_access(
        (tx.sender, tx.account),
        reads=MARKET_READS,
        deltas=(k.lock_of(k.INSURANCE_FUND), k.open_interest(tx.instrument)),
    )


def apply_liquidate(
    tx: Liquidate, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """One bounded step: the liquidator takes ``size`` at the mark; the penalty, capped at the
    equity left, goes to the insurance fund (a delta, so liquidations do not conflict).
    Negative collateral left behind is recorded as a bankruptcy for Backstop or Deleverage.

    Raises NotLiquidatable, PerpetualsFirst, NotMultiple, PositionTooSmall,
    LiquidationStepTooLarge, InsufficientMargin (the liquidator's).
    """
    if tx.account == tx.sender:
        raise errors.Malformed(field="account", reason="an account cannot liquidate itself")
    status = margin_status(view, tx.account, model)
    if status.equity >= status.maintenance:
        raise errors.NotLiquidatable(
            account=tx.account, equity=status.equity, maintenance=status.maintenance
        )
    require_liquidation_order(view, tx.account, tx.instrument)
    inst = read_instrument(view, tx.instrument)
    position = view.get(k.position(tx.account, tx.instrument))
    held = position.size if position is not None else 0  # type: ignore[attr-defined]
    if tx.size % inst.lot_size:
        raise errors.NotMultiple(field="size", value=tx.size, step=inst.lot_size)
    if tx.size > abs(held):
        raise errors.PositionTooSmall(
            account=tx.account, instrument=tx.instrument, position=held, requested=tx.size
        )
    mark = read_mark(view, tx.instrument)
    limit = step_limit(inst, mark)
    if tx.size > limit:
        raise errors.LiquidationStepTooLarge(
            instrument=tx.instrument, requested=tx.size, limit=limit
        )
    delta = tx.size if held > 0 else -tx.size
    cash = div_floor(mark.price * delta, SIZE_SCALE)
    fill(view, tx.account, tx.instrument, inst, -delta, -cash, allow_negative=True)
    if increases_risk(*fill(view, tx.sender, tx.instrument, inst, delta, cash)):
        require_initial_margin(view, tx.sender, model)
    penalty = _penalty(read_config(view), inst, mark, tx.size, status.equity)
    change_cash(view, tx.account, -penalty, allow_negative=True)
    view.add(k.INSURANCE_FUND, penalty)
    events: list[Event] = [
        Liquidated(
            account=tx.account,
            liquidator=tx.sender,
            instrument=tx.instrument,
            size=tx.size,
            price=mark.price,
            penalty=penalty,
        )
    ]
    return events + sync_bankruptcy(view, tx.account, ctx)


def _penalty(config: HouseConfig, inst: Instrument, mark: MarkData, size: int, equity: int) -> int:
    """Penalty on the notional moved (underlying notional for options), at most the equity left."""
    price = mark.index if isinstance(inst, Option) else mark.price
    notional = price * inst.contract_size // SIZE_SCALE * size // SIZE_SCALE
    return max(min(ppm_of_ceil(notional, config.liquidation_penalty_ppm), equity), 0)
