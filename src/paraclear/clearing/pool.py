"""The options pool through a ``StateView``: its NAV, net Greeks, risk limits and prices.

The pool is an account, ``keys.POOL_ACCOUNT``, under its own lock: its cash is collateral
and its options and perpetual hedges are positions, so margin, expiry, funding and the
cash-conservation invariant treat it as they treat everyone. What is its own:

* ``total_shares`` under its lock, and each LP's ``pool_shares`` under the LP's lock;
* its parameters (``PoolConfig``) and the per-series ``PoolQuote`` in market data;
* its NAV, priced exactly (one rounding: floor or ceiling, as share math needs);
* its net Greeks per underlying, Σ position × quote Greeks (options) + size (perpetuals);
* its risk limits against its NAV: initial margin, and net vega and delta notional per
  underlying (``PoolRiskLimit``), checked on the risk after a trade, which
  ``PoolRisk.after_option_fill`` derives from the risk before it without re-reading state;
* its price for a trade: the quote's theoretical value, shifted by the inventory skew and
  widened by the vega-based half-spread, rounded in the pool's favour.

All of it is integer (and exact rational) arithmetic on state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Final

from paraclear.clearing import errors
from paraclear.clearing.accounts import holdings, pending_funding
from paraclear.clearing.instruments import Option
from paraclear.clearing.margin import MarginModel, PositionMark
from paraclear.clearing.records import MarkData, PoolConfig, PoolQuote, Position
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
    """The pool's holdings by series, its NAV (exact, × SIZE_SCALE) and its net Greeks per
    underlying; its margin is computed on demand."""

    nav_scaled: int
    greeks: dict[str, NetGreeks]
    held: dict[str, PositionMark]

    @property
    def nav_floor(self) -> int:
        return self.nav_scaled // SIZE_SCALE

    @property
    def nav_ceil(self) -> int:
        return -(-self.nav_scaled // SIZE_SCALE)

    def on(self, underlying: str) -> NetGreeks:
        return self.greeks.get(underlying, NetGreeks())

    def initial_margin(self, model: MarginModel) -> int:
        return model.requirement(list(self.held.values())).initial

    def less_cash(self, amount: int) -> PoolRisk:
        """The same pool with ``amount`` less cash (positions, margin and Greeks unchanged)."""
        return replace(self, nav_scaled=self.nav_scaled - amount * SIZE_SCALE)

    def after_option_fill(
        self, name: str, market: MarkData, quote: PoolQuote, delta: int, cash: int
    ) -> PoolRisk:
        """The pool after adding ``delta`` of option ``name`` and receiving ``cash`` (signed):
        what ``pool_risk`` would read after the fill, without reading state again."""
        previous = self.held.get(name)
        old = previous[0].size if previous else 0
        new = old + delta
        held = dict(self.held)
        if new:
            held[name] = (Position(new), market)
        else:
            held.pop(name, None)
        underlying = market.instrument.underlying
        net = self.greeks.get(underlying, NetGreeks(index=market.index))
        greeks = dict(self.greeks)
        greeks[underlying] = NetGreeks(
            net.delta + _term(new, quote.delta) - _term(old, quote.delta),
            net.gamma + _term(new, quote.gamma) - _term(old, quote.gamma),
            net.vega + _term(new, quote.vega) - _term(old, quote.vega),
            net.index,
        )
        if not any(m.instrument.underlying == underlying for _, m in held.values()):
            del greeks[underlying]  # as pool_risk: no entry for an underlying it does not hold
        nav_scaled = self.nav_scaled + cash * SIZE_SCALE + market.price * delta
        return PoolRisk(nav_scaled, dict(sorted(greeks.items())), held)


def _term(size: int, greek: int) -> int:
    """One option position's contribution to a net Greek."""
    return size * greek // SIZE_SCALE


def pool_risk(view: StateView) -> PoolRisk:
    """Holdings, NAV and net Greeks of the pool. Raises NoMarketData for a missing quote."""
    held = holdings(view, POOL)
    names: tuple[str, ...] = view.get(k.portfolio(POOL)) or ()  # type: ignore[assignment]
    quotes = view.get_many([k.quote(name) for name in names])
    scaled = view.get_int(k.collateral(POOL)) * SIZE_SCALE
    greeks: dict[str, list[int]] = {}
    for name, quote, (position, market) in zip(names, quotes, held, strict=True):
        inst = market.instrument
        scaled += market.price * position.size
        net = greeks.setdefault(inst.underlying, [0, 0, 0, market.index])
        if isinstance(inst, Option):
            if not isinstance(quote, PoolQuote):
                raise errors.NoMarketData(what=f"pool quote of {name}")
            net[0] += _term(position.size, quote.delta)
            net[1] += _term(position.size, quote.gamma)
            net[2] += _term(position.size, quote.vega)
        else:
            scaled += (position.quote - pending_funding(position, market)) * SIZE_SCALE
            net[0] += position.size * inst.contract_size // SIZE_SCALE
    return PoolRisk(
        scaled,
        {u: NetGreeks(*values) for u, values in sorted(greeks.items())},
        dict(zip(names, held, strict=True)),
    )


def limit_measures(
    risk: PoolRisk, config: PoolConfig, model: MarginModel
) -> list[tuple[str, int, int]]:
    """(limit, value, cap) of every risk limit, caps a fraction of the NAV (floor)."""
    nav = risk.nav_floor
    measures = [("margin", risk.initial_margin(model), config.margin_limit_ppm * nav // PPM)]
    for underlying, net in risk.greeks.items():
        measures.append((f"vega:{underlying}", abs(net.vega), config.vega_limit_ppm * nav // PPM))
        measures.append(
            (f"delta:{underlying}", net.delta_notional(), config.delta_limit_ppm * nav // PPM)
        )
    return measures


def check_limits(
    config: PoolConfig, model: MarginModel, after: PoolRisk, before: PoolRisk | None = None
) -> None:
    """Raise PoolRiskLimit for the first limit ``after`` exceeds.

    With ``before``, a limit already exceeded may stay exceeded as long as the change does
    not make it worse (a trade that reduces the pool's risk is always allowed).
    """
    breaches = [m for m in limit_measures(after, config, model) if m[1] > m[2]]
    if not breaches:
        return
    previous = {} if before is None else {m[0]: m[1] for m in limit_measures(before, config, model)}
    for limit, value, cap in breaches:
        if value > previous.get(limit, -1):
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
