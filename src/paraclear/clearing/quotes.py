"""The options pool's quotes: SVI surface and Black-76, computed by the oracle transaction.

This is the pool's side of the one door through which floats enter state. When an
underlying has an SVI surface (``SviSlice`` integers, sent with an ``OracleUpdate`` and kept
until replaced), every oracle update of that underlying recomputes, for all its option
series at once:

* the implied vol ``sqrt(w(ln(K/F), T) / T)`` of ``paraclear.risk.surface.VolSurface``;
* the Black-76 value and Greeks (strict IEEE kernel, rate 0, forward = index);

and stores them as ``PoolQuote`` integers, rounded to the nearest unit. An expired series is
quoted at its Black-76 limit (intrinsic value, step delta, no gamma or vega). Trades against
the pool then price off these integers alone (``paraclear.clearing.pool``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from paraclear.clearing.instruments import Option
from paraclear.clearing.marks import SECONDS_PER_YEAR
from paraclear.clearing.records import SVI_SCALE, OracleData, PoolQuote, SviSlice
from paraclear.numbers import PPM, PRICE_SCALE, SIZE_SCALE
from paraclear.risk.greeks import KernelMode, black76_greeks
from paraclear.risk.surface import VolSurface
from paraclear.risk.svi import SviError, SviParams, butterfly_violations, calendar_violations

PCT: Final = 0.01
"""One vol point, and a 1 % move of the index."""


def svi_params(svi: SviSlice) -> SviParams:
    """The float parameters of a stored slice. Raises InvalidSviParameters."""
    a, b, rho, m, sigma = (value / SVI_SCALE for value in (svi.a, svi.b, svi.rho, svi.m, svi.sigma))
    return SviParams(a, b, rho, m, sigma)


def live_surface(slices: Sequence[SviSlice], time: int) -> VolSurface | None:
    """The surface of the slices that have not expired at ``time``; ``None`` if none has.

    Raises SviError (a ``RiskError``) for parameters that describe no variance slice.
    """
    live = [s for s in slices if s.expiry > time]
    if not live:
        return None
    years = tuple((s.expiry - time) / SECONDS_PER_YEAR for s in live)
    return VolSurface(years, tuple(svi_params(s) for s in live))


def check_surface(slices: Sequence[SviSlice], time: int) -> None:
    """Raise SviError unless the live slices are free of static arbitrage.

    Checks negative variance, butterfly arbitrage and Lee's wing bound per slice, and
    calendar arbitrage between slices (``paraclear.risk.svi``).
    """
    surface = live_surface(slices, time)
    if surface is None:
        return
    pairs = list(zip(surface.expiries, surface.slices, strict=True))
    for years, params in pairs:
        for violation in butterfly_violations(params, years):
            raise SviError(f"{violation.kind.value} arbitrage at {years:.6f} years")
    for violation in calendar_violations(pairs):
        raise SviError(f"calendar arbitrage at {violation.expiry:.6f} years")


def compute_quotes(
    oracle: OracleData, slices: Sequence[SviSlice], options: Sequence[Option], time: int
) -> list[PoolQuote] | None:
    """Quotes of ``options`` (all on ``oracle``'s underlying); ``None`` without a live surface.

    Raises SviError where the surface gives no positive variance, InvalidInputError (both
    ``RiskError``) where Black-76 refuses its inputs.
    """
    surface = live_surface(slices, time)
    if surface is None:
        return None
    if not options:
        return []
    forward = oracle.index / PRICE_SCALE
    strike = np.array([o.strike / PRICE_SCALE for o in options])
    years = np.array([max(o.expiry - time, 0) / SECONDS_PER_YEAR for o in options])
    live = years > 0
    vol = np.zeros(len(options))
    vol[live] = surface.implied_vol(strike[live], years[live], forward)
    if not np.isfinite(vol).all():
        raise SviError("the surface has no positive variance at a listed strike")
    is_call = np.array([o.is_call for o in options])
    greeks = black76_greeks(forward, strike, years, 0.0, vol, is_call, mode=KernelMode.STRICT)
    quotes = []
    for i, option in enumerate(options):
        units = option.contract_size  # raw underlying units per contract
        value = PRICE_SCALE * units / SIZE_SCALE  # micro-USDC per USDC of per-unit value
        quotes.append(
            PoolQuote(
                theo=round(float(greeks.price[i]) * value),
                vol_ppm=round(float(vol[i]) * PPM),
                delta=round(float(greeks.delta[i]) * units),
                gamma=round(float(greeks.gamma[i]) * forward * PCT * units),
                vega=round(float(greeks.vega[i]) * PCT * value),
            )
        )
    return quotes
