"""Values the clearing house keeps in state. Integers only; see ``paraclear.numbers``."""

from __future__ import annotations

from typing import Annotated

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


class OpenOrder(msgspec.Struct, frozen=True, array_like=True):
    """An account's open order, as its PlaceOrder (and later AmendOrder) left it.

    ``price`` in micro-USDC per contract (for a market order, the worst price it accepts);
    ``remaining`` and ``filled`` raw sizes; ``reserved`` the initial margin held for
    ``remaining`` (released in proportion as it fills, the rest when it closes); ``kind`` an
    ``OrderType`` value; ``good_til`` the last block it may rest in (0: until cancelled).
    """

    instrument: str
    is_buy: bool
    kind: str
    price: int
    remaining: int
    filled: int
    reserved: int
    reduce_only: bool = False
    good_til: int = 0


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


SVI_SCALE = 10**9
"""Raw SVI parameters are stored in units of 1e-9 (total variance, log-moneyness, rho)."""
MAX_SVI_RAW = 10 * SVI_SCALE


class SviSlice(msgspec.Struct, frozen=True, array_like=True):
    """One expiry of the oracle's SVI surface, integers in units of ``1 / SVI_SCALE``.

    Gatheral's raw SVI, ``w(k) = a + b (rho (k − m) + sqrt((k − m)² + sigma²))``, total
    variance at log-moneyness ``k = ln(K/F)`` for the options expiring at ``expiry`` (Unix
    seconds). See ``paraclear.risk.svi``.
    """

    expiry: Annotated[int, msgspec.Meta(gt=0, le=2**40)]
    a: Annotated[int, msgspec.Meta(ge=-MAX_SVI_RAW, le=MAX_SVI_RAW)]
    b: Annotated[int, msgspec.Meta(ge=0, le=2 * SVI_SCALE)]
    rho: Annotated[int, msgspec.Meta(gt=-SVI_SCALE, lt=SVI_SCALE)]
    m: Annotated[int, msgspec.Meta(ge=-MAX_SVI_RAW, le=MAX_SVI_RAW)]
    sigma: Annotated[int, msgspec.Meta(gt=0, le=MAX_SVI_RAW)]


class PoolQuote(msgspec.Struct, frozen=True, array_like=True):
    """The pool's theoretical value and Greeks of one option series, per contract.

    Written only by the oracle transaction, from the underlying's SVI surface and Black-76
    (strict kernel), rounded to the nearest unit; trades against the pool add their skew and
    fee to it in integer arithmetic.

    ``theo``: micro-USDC. ``vol_ppm``: the surface's implied vol, ppm per year. ``delta``:
    raw underlying units (1e-6). ``gamma``: change of ``delta`` for a +1 % move of the index,
    raw underlying units. ``vega``: micro-USDC per vol point (0.01).
    """

    theo: int
    vol_ppm: int
    delta: int
    gamma: int
    vega: int


Rate = Annotated[int, msgspec.Meta(ge=0, le=PPM)]


class PoolConfig(msgspec.Struct, frozen=True):
    """The options pool's pricing and risk parameters, set by the admin. Rates in ppm.

    Quotes: half-spread ``max(vega × fee_vol_ppm, min_fee_ppm × index value)`` around the
    theoretical value shifted by the inventory skew, ``−skew_vol_ppm × vega utilisation``
    of vol (vega utilisation = net vega / (``vega_limit_ppm`` × NAV), clamped to ±1).
    Limits, each against the pool's NAV: net vega per vol point (``vega_limit_ppm``), net
    delta notional (``delta_limit_ppm``), initial margin (``margin_limit_ppm``). Hedges run
    when net delta notional exceeds ``hedge_band_ppm`` of NAV and pay ``hedge_fee_ppm`` of
    their notional to the counterparty.
    """

    fee_vol_ppm: Rate = 5_000
    min_fee_ppm: Rate = 50
    skew_vol_ppm: Rate = 50_000
    vega_limit_ppm: Annotated[int, msgspec.Meta(gt=0, le=PPM)] = 20_000
    delta_limit_ppm: Annotated[int, msgspec.Meta(gt=0, le=10 * PPM)] = 500_000
    margin_limit_ppm: Annotated[int, msgspec.Meta(gt=0, le=PPM)] = 800_000
    hedge_band_ppm: Rate = 20_000
    hedge_fee_ppm: Annotated[int, msgspec.Meta(ge=0, le=PPM // 100)] = 200
