"""The options pool through a ``StateView``: its NAV, net Greeks, risk limits and prices.

The pool is an account, ``keys.POOL_ACCOUNT``, under its own lock: its cash is collateral
and its options and perpetual hedges are positions, so margin, expiry, funding and the
cash-conservation invariant treat it as they treat everyone. What is its own:

* ``total_shares`` under its lock, and each LP's ``pool_shares`` under the LP's lock;
* its parameters (``PoolConfig``) and the per-series ``PoolQuote`` in market data;
* its NAV, priced exactly (one rounding: floor or ceiling, as share math needs);
* its net Greeks per underlying, Σ position × quote Greeks (options) + size (perpetuals);
* its price for a trade: the quote's theoretical value, shifted by the inventory skew and
  widened by the vega-based half-spread, rounded in the pool's favour.

All of it is integer (and exact rational) arithmetic on state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Final

from paraclear.clearing import errors
from paraclear.clearing.accounts import holdings, pending_funding
from paraclear.clearing.instruments import Option
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import PoolConfig, PoolQuote
from paraclear.numbers import PPM, SIZE_SCALE
from paraclear.state import StateView
from paraclear.state import keys as k

POOL: Final = k.POOL_ACCOUNT
VOL_POINT_PPM: Final = PPM // 100
"""One vol point (0.01) in ppm of vol: quote vegas are per vol point."""


def read_pool_config(view: StateView) -> PoolConfig:
    """The pool's parameters. Raises PoolNotOpen."""
    config = view.get(k.POOL_CONFIG)
    if config is None:
        raise errors.PoolNotOpen()
    return config  # type: ignore[return-value]


def read_quote(view: StateView, name: str) -> PoolQuote:
    """The pool's quote of a series. Raises NoMarketData."""
    quote = view.get(k.quote(name))
    if quote is None:
        raise errors.NoMarketData(what=f"pool quote of {name}")
    return quote  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class NetGreeks:
    """The pool's net Greeks on one underlying, in ``PoolQuote`` units, and its index."""

    delta: int = 0
    gamma: int = 0
    vega: int = 0
    index: int = 0

    def delta_notional(self) -> int:
        """|delta| × index, micro-USDC."""
        return abs(self.delta) * self.index // SIZE_SCALE


@dataclass(frozen=True, slots=True)
class PoolRisk:
    """The pool's NAV (exact, as floor and ceiling), initial margin and net Greeks."""

    nav_floor: int
    nav_ceil: int
    initial: int
    greeks: dict[str, NetGreeks] = field(default_factory=dict)

    def on(self, underlying: str) -> NetGreeks:
        return self.greeks.get(underlying, NetGreeks())

    def less_cash(self, amount: int) -> PoolRisk:
        """The same pool with ``amount`` less cash (positions, margin and Greeks unchanged)."""
        return replace(self, nav_floor=self.nav_floor - amount, nav_ceil=self.nav_ceil - amount)


def pool_risk(view: StateView, model: MarginModel) -> PoolRisk:
    """NAV, margin and net Greeks of the pool. Raises NoMarketData for a missing quote."""
    held = holdings(view, POOL)
    names: tuple[str, ...] = view.get(k.portfolio(POOL)) or ()  # type: ignore[assignment]
    quotes = view.get_many([k.quote(name) for name in names])
    scaled = view.get_int(k.collateral(POOL)) * SIZE_SCALE  # NAV × SIZE_SCALE, exact
    greeks: dict[str, list[int]] = {}
    for name, quote, (position, market) in zip(names, quotes, held, strict=True):
        inst = market.instrument
        scaled += market.price * position.size
        net = greeks.setdefault(inst.underlying, [0, 0, 0, market.index])
        if isinstance(inst, Option):
            if not isinstance(quote, PoolQuote):
                raise errors.NoMarketData(what=f"pool quote of {name}")
            net[0] += position.size * quote.delta // SIZE_SCALE
            net[1] += position.size * quote.gamma // SIZE_SCALE
            net[2] += position.size * quote.vega // SIZE_SCALE
        else:
            scaled += (position.quote - pending_funding(position, market)) * SIZE_SCALE
            net[0] += position.size * inst.contract_size // SIZE_SCALE
    return PoolRisk(
        nav_floor=scaled // SIZE_SCALE,
        nav_ceil=-(-scaled // SIZE_SCALE),
        initial=model.requirement(held).initial,
        greeks={u: NetGreeks(*values) for u, values in sorted(greeks.items())},
    )


def limit_measures(risk: PoolRisk, config: PoolConfig) -> list[tuple[str, int, int]]:
    """(limit, value, cap) of every risk limit, caps a fraction of the NAV (floor)."""
    nav = risk.nav_floor
    measures = [("margin", risk.initial, config.margin_limit_ppm * nav // PPM)]
    for underlying, net in risk.greeks.items():
        measures.append((f"vega:{underlying}", abs(net.vega), config.vega_limit_ppm * nav // PPM))
        measures.append(
            (f"delta:{underlying}", net.delta_notional(), config.delta_limit_ppm * nav // PPM)
        )
    return measures


def check_limits(config: PoolConfig, after: PoolRisk, before: PoolRisk | None = None) -> None:
    """Raise PoolRiskLimit for the first limit ``after`` exceeds.

    With ``before``, a limit already exceeded may stay exceeded as long as the change does
    not make it worse (a trade that reduces the pool's risk is always allowed).
    """
    previous = {} if before is None else {m[0]: m[1] for m in limit_measures(before, config)}
    for limit, value, cap in limit_measures(after, config):
        if value > cap and value > previous.get(limit, -1):
            raise errors.PoolRiskLimit(limit=limit, value=value, cap=cap)


@dataclass(frozen=True, slots=True)
class PoolPrice:
    """The pool's price for one trade, micro-USDC per contract, and its parts."""

    price: int
    mid: Fraction
    half_spread: Fraction


def pool_price(
    quote: PoolQuote,
    config: PoolConfig,
    *,
    trader_buys: bool,
    size: int,
    pool_vega: int,
    nav: int,
    index_value: int,
) -> PoolPrice:
    """The pool's price per contract for a trader buying or selling ``size`` of a series.

    ``pool_vega``: the pool's net vega on the underlying before the trade; ``nav`` > 0;
    ``index_value``: micro-USDC of underlying per contract.

    The mid is the quote's value with its vol shifted by ``−skew × u``, where ``u`` is the
    pool's vega utilisation (net vega over its cap, clamped to ±1) taken at the middle of
    the trade's own impact, so splitting an order does not change its price. The half-spread
    is the larger of ``fee_vol`` of vega and ``min_fee`` of the index value. A buyer pays
    the ceiling of mid + half-spread, a seller receives the floor of mid − half-spread (≥ 0).
    """
    trade_vega = size * quote.vega // SIZE_SCALE * (-1 if trader_buys else 1)
    cap = Fraction(config.vega_limit_ppm * nav, PPM)
    utilisation = max(min(Fraction(2 * pool_vega + trade_vega, 2) / cap, Fraction(1)), Fraction(-1))
    shift = -Fraction(quote.vega * config.skew_vol_ppm, VOL_POINT_PPM) * utilisation
    mid = quote.theo + shift
    half_spread = max(
        Fraction(quote.vega * config.fee_vol_ppm, VOL_POINT_PPM),
        Fraction(index_value * config.min_fee_ppm, PPM),
    )
    price = math.ceil(mid + half_spread) if trader_buys else math.floor(mid - half_spread)
    return PoolPrice(max(price, 0), mid, half_spread)
