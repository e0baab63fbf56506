"""Options as Deribit shows them: Greeks and implied volatilities of one series.

Greeks are Black-76 at each option's mark volatility (the oracle's smile, as the marks use),
forward = index, rate 0, in Deribit's units: delta in underlying, gamma per underlying
unit, vega in USDC per vol point, theta in USDC per day, rho in USDC per rate point. A
perpetual contributes its underlying to delta. Volatilities are in percent (Deribit's
``mark_iv`` 65.3 is 65.3 %). Scalar code on the API's thread: no parallel kernel is
launched for a page's few series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from paraclear.api import views
from paraclear.clearing.instruments import Option, Perpetual
from paraclear.clearing.marks import SECONDS_PER_YEAR, smile_vol
from paraclear.clearing.records import MarkData, OracleData
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE
from paraclear.risk.reference import black76_greeks_scalar, black76_price_scalar
from paraclear.state import State

DAYS_PER_YEAR: Final = 365.0
VOL_POINT: Final = 0.01
MAX_IV: Final = 10.0
"""Highest implied volatility searched for (1,000 %)."""
IV_STEPS: Final = 60
"""Bisection steps of ``implied_vol``: the bracket shrinks 2**60 times."""


@dataclass(frozen=True)
class SeriesGreeks:
    """Greeks of one contract of a series (Deribit's units; see the module docstring)."""

    delta: float
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    rho: float = 0.0


def option_greeks(option: Option, oracle: OracleData | None, index: int, time: int) -> SeriesGreeks:
    """Per-contract Greeks of ``option`` at ``time`` (zero without a positive index)."""
    units = option.contract_size / SIZE_SCALE
    vol = smile_vol(oracle, option.strike) if oracle is not None else 0.0
    years = max(option.expiry - time, 0) / SECONDS_PER_YEAR
    forward, strike = index / PRICE_SCALE, option.strike / PRICE_SCALE
    try:
        delta, gamma, vega, theta = black76_greeks_scalar(
            forward, strike, years, vol, option.is_call
        )
        value = black76_price_scalar(forward, strike, years, 0.0, vol, option.is_call)
    except ValueError:  # no positive index yet: no Greeks to show
        return SeriesGreeks(0.0)
    return SeriesGreeks(
        _finite(delta) * units,
        _finite(gamma) * units,
        _finite(vega) * VOL_POINT * units,
        _finite(theta) / DAYS_PER_YEAR * units,
        -years * value * VOL_POINT * units,
    )


def series_greeks(
    state: State, marks: Mapping[str, MarkData], time: int
) -> dict[str, SeriesGreeks]:
    """Per-contract Greeks of the instruments of ``marks``."""
    result: dict[str, SeriesGreeks] = {}
    for name, mark in marks.items():
        instrument = mark.instrument
        if isinstance(instrument, Perpetual):
            result[name] = SeriesGreeks(instrument.contract_size / SIZE_SCALE)
            continue
        oracle = views.oracle_of(state, instrument.underlying)
        index = oracle.index if oracle is not None else mark.index
        result[name] = option_greeks(instrument, oracle, index, time)
    return result


def implied_vol(option: Option, premium: int, index: int, time: int) -> float | None:
    """The volatility (per 1.00) at which Black-76 values one contract at ``premium`` (raw
    price per contract), by bisection; None where no volatility up to ``MAX_IV`` does
    (a premium at or below intrinsic value, or above the bound), or at expiry."""
    years = max(option.expiry - time, 0) / SECONDS_PER_YEAR
    if years == 0.0 or index <= 0:
        return None
    forward, strike = index / PRICE_SCALE, option.strike / PRICE_SCALE
    target = premium / PRICE_SCALE * SIZE_SCALE / option.contract_size

    def value(vol: float) -> float:
        return black76_price_scalar(forward, strike, years, 0.0, vol, option.is_call)

    low, high = 0.0, MAX_IV
    if not value(low) < target < value(high):
        return None
    for _ in range(IV_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if value(middle) < target else (low, middle)
    return (low + high) / 2


def option_ticker_fields(
    option: Option,
    oracle: OracleData | None,
    time: int,
    best_bid: int | None,
    best_ask: int | None,
) -> dict[str, Any]:
    """Deribit's option ticker fields: ``greeks``, ``mark_iv``, ``bid_iv``, ``ask_iv``,
    ``underlying_price``, ``underlying_index`` and ``interest_rate``."""
    index = oracle.index if oracle is not None else 0
    greeks = option_greeks(option, oracle, index, time)

    def iv(premium: int | None) -> float | None:
        vol = None if premium is None else implied_vol(option, premium, index, time)
        return None if vol is None else _percent(vol)

    return {
        "greeks": {
            "delta": round(greeks.delta, 5),
            "gamma": round(greeks.gamma, 8),
            "vega": round(greeks.vega, 5),
            "theta": round(greeks.theta, 5),
            "rho": round(greeks.rho, 5),
        },
        "mark_iv": mark_iv_percent(option, oracle),
        "bid_iv": iv(best_bid),
        "ask_iv": iv(best_ask),
        "underlying_price": views.price(index) if oracle is not None else None,
        "underlying_index": "index_price" if oracle is not None else None,
        "interest_rate": 0.0,
    }


def mark_iv_percent(option: Option, oracle: OracleData | None) -> float | None:
    """The option's mark volatility in percent, or None without an oracle."""
    return None if oracle is None else _percent(smile_vol(oracle, option.strike))


def _percent(vol: float) -> float:
    return round(vol * 100, 4)


def _finite(value: Any) -> float:
    """A Greek as a JSON-safe float (the at-the-money limits at expiry are infinite)."""
    number = float(value)
    return number if math.isfinite(number) else 0.0
