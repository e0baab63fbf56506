"""Values the clearing house keeps in state. Integers only; see ``paraclear.numbers``."""

from __future__ import annotations

import msgspec

from paraclear.clearing.instruments import Instrument
from paraclear.numbers import PPM


class Position(msgspec.Struct, frozen=True):
    """An account's position in one instrument.

    ``size``: signed raw size (long > 0). For perpetuals, ``quote`` is the cash attached to
    the position (−Σ size × price of its fills, micro-USDC), realised into collateral when the
    position closes, and ``funding_index`` is the funding index it last settled at. Options
    pay their premium in collateral at the trade, so their ``quote`` stays 0.
    """

    size: int
    quote: int = 0
    funding_index: int = 0


class OracleData(msgspec.Struct, frozen=True):
    """Index price and volatility parameters of one underlying, set by the oracle.

    ``index``: micro-USDC per unit of underlying. Volatility in parts per million per year:
    ``vol(k) = atm_vol + skew × k`` with ``k = ln(K/F)``, floored at ``MIN_VOL_PPM``.
    ``time``: the block time of the update, Unix seconds.
    """

    index: int
    atm_vol_ppm: int
    skew_ppm: int
    time: int


class MarkData(msgspec.Struct, frozen=True, array_like=True):
    """What valuing a position in one instrument needs, in one record, so that a margin
    check reads two keys per position (the position and this).

    ``instrument``: its specification (a copy of the listing). ``price``: the mark,
    micro-USDC per contract. ``index``: the underlying's index, micro-USDC per unit.
    ``funding_index``: for perpetuals, the cumulative funding a long of one lot has paid,
    micro-USDC (0 for options). ``long_pnl`` and ``short_pnl``: the series' risk arrays, the
    P&L of one contract held long or short under each scenario of
    ``paraclear.risk.scenarios.DEFAULT_GRID``, micro-USDC, rounded against the holder.
    """

    instrument: Instrument
    price: int
    index: int
    funding_index: int = 0
    long_pnl: tuple[int, ...] = ()
    short_pnl: tuple[int, ...] = ()


class IndexHistory(msgspec.Struct, frozen=True, array_like=True):
    """Per-minute buckets of an underlying's index over the last 30 minutes, for the
    settlement TWAP (see ``paraclear.clearing.twap``).

    ``buckets``: sorted ``(minute start, Σ index × seconds, seconds covered)`` triples.
    """

    buckets: tuple[tuple[int, int, int], ...] = ()


class SettlementPrices(msgspec.Struct, frozen=True, array_like=True):
    """Settlement prices of an underlying's expiries, fixed by the first oracle update at or
    after each expiry: sorted ``(expiry, price)`` pairs, kept while a series of that expiry
    is listed."""

    prices: tuple[tuple[int, int], ...] = ()

    def price_at(self, expiry: int) -> int | None:
        return next((price for at, price in self.prices if at == expiry), None)


class PremiumAccumulator(msgspec.Struct, frozen=True, array_like=True):
    """A perpetual's premium (mark − index, ppm of the index) integrated over time since the
    last funding payment, so that funding pays the time-weighted average premium.

    ``start``: when the current funding period began (listing or last payment).
    ``time`` and ``premium_ppm``: the premium in force since the latest oracle update.
    ``integral``: Σ premium_ppm × seconds over ``[start, time)``.
    """

    start: int
    time: int
    premium_ppm: int = 0
    integral: int = 0


MIN_VOL_PPM = PPM // 100
"""The smallest volatility marks are priced with: 1 %."""


class HouseConfig(msgspec.Struct, frozen=True):
    """Who administers the house, and its rates (parts per million)."""

    admin: str
    oracle: str
    maker_fee_ppm: int = 200
    taker_fee_ppm: int = 500
    option_fee_ppm: int = 300
    """Option fee per contract as a fraction of the underlying's index."""
    option_fee_cap_ppm: int = 125_000
    """Option fees are capped at this fraction of the premium (Deribit: 12.5 %)."""
    liquidation_penalty_ppm: int = 5_000
    """Penalty on the notional moved by a liquidation, paid to the insurance fund."""
    max_funding_rate_ppm: int = 5_000
    """Cap on the absolute funding rate per funding payment."""


class Bankruptcy(msgspec.Struct, frozen=True):
    """An account left with negative collateral after liquidation and insurance cover."""

    height: int
    deficit: int
