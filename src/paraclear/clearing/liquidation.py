"""Liquidation rules shared by the Liquidate and Deleverage transactions and the off-chain
liquidation engine: which position goes first, how big a step may be, how auto-deleveraging
ranks counterparties and shares a deficit among them. Integers and exact fractions only.

The sequence for an account under maintenance margin:

1. Liquidators take over its positions at the mark in bounded steps (``Liquidate``),
   perpetuals before options. The penalty, capped at the equity left, goes to the
   insurance fund as a delta. An account whose equity is back above maintenance stops.
2. An account left with negative collateral and no positions is covered by the insurance
   fund (``Backstop``); what the fund cannot pay stays recorded as a bankruptcy.
3. When the fund cannot cover an underwater account (equity < 0), its positions are
   closed against the most profitable opposite positions at the bankruptcy price
   (``Deleverage``): the fund pays what it has, and the listed counterparties absorb the
   rest of the deficit in proportion to the size each closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Final

from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.margin import PositionMark
from paraclear.clearing.records import MarkData, Position
from paraclear.numbers import SIZE_SCALE, USDC_SCALE, div_ceil

LIQUIDATION_STEP_NOTIONAL: Final = 100_000 * USDC_SCALE
"""The most notional (the underlying's, for options) one Liquidate may move, micro-USDC;
a single lot is always allowed."""


def liquidation_order(holdings: Sequence[PositionMark]) -> list[PositionMark]:
    """Holdings in the order they are liquidated: perpetuals first, then options, each by
    name."""
    return sorted(
        holdings, key=lambda h: (isinstance(h[1].instrument, Option), instrument_name(h[1]))
    )


def instrument_name(market: MarkData) -> str:
    return market.instrument.name


def first_to_liquidate(holdings: Sequence[PositionMark]) -> str | None:
    """The name of the position a liquidation must take next, if any."""
    ordered = liquidation_order(holdings)
    return instrument_name(ordered[0][1]) if ordered else None


def may_liquidate(holdings: Sequence[PositionMark], name: str) -> bool:
    """Whether ``name`` may be liquidated now: options only once no perpetual is left."""
    perpetuals = [h for h in holdings if not isinstance(h[1].instrument, Option)]
    return not perpetuals or any(instrument_name(h[1]) == name for h in perpetuals)


def step_limit(inst: Instrument, market: MarkData) -> int:
    """The largest size (raw, a multiple of the lot) one Liquidate may move."""
    price = market.index if isinstance(inst, Option) else market.price
    per_contract = max(price * inst.contract_size // SIZE_SCALE, 1)
    lots = LIQUIDATION_STEP_NOTIONAL * SIZE_SCALE // per_contract // inst.lot_size
    return max(lots, 1) * inst.lot_size


def adl_score(position: Position, market: MarkData, account_value: int) -> Fraction:
    """The rank of an opposite position in the auto-deleveraging queue; higher goes first.

    Hyperliquid ranks the users on the opposite side "by unrealized pnl and leverage used",
    with the sorting index ``(mark_price / entry_price) * (notional_position /
    account_value)`` (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/
    auto-deleveraging). We use it as written for longs and with the price ratio inverted for
    shorts (``entry / mark``), so that for both sides it grows with the unrealised profit.
    The entry notional of a perpetual is its quote (net of settled funding); options keep
    no entry price, so their ratio is 1 and they rank by leverage alone. An account whose
    value is not positive ranks last (score 0): it has no profit to give up.
    """
    notional = abs(market.price * position.size) // SIZE_SCALE
    if account_value <= 0 or notional == 0:
        return Fraction(0)
    leverage = Fraction(notional, account_value)
    if isinstance(market.instrument, Option):
        return leverage
    entry = max(-position.quote if position.size > 0 else position.quote, 1)
    ratio = Fraction(notional, entry) if position.size > 0 else Fraction(entry, notional)
    return ratio * leverage


def deficit_shares(deficit: int, sizes: Sequence[int]) -> list[int]:
    """Split ``deficit`` among closes of ``sizes`` in proportion to size, exactly: each
    share is the difference of rounded-up cumulative shares, so they sum to ``deficit``."""
    total = sum(sizes)
    shares, cumulative, taken = [], 0, 0
    for size in sizes:
        cumulative += size
        upto = div_ceil(deficit * cumulative, total)
        shares.append(upto - taken)
        taken = upto
    return shares
