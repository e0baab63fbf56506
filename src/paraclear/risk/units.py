"""Unit conversions for Greeks: per year → per day, per 1.00 → per 1 % (one vol/rate point).

The kernels in :mod:`paraclear.risk.greeks` report theta per **year**, vega and volga per
**1.00** of vol, rho per **1.00** of rate. Desks and exchanges quote theta per calendar day
and vega/rho per percentage point; these helpers convert. A day is 1/365 of a year
(calendar days, crypto trades every day); pass ``days_per_year=252`` for trading days.

>>> theta_per_day(-36.5)
-0.1
>>> vega_per_pct(12.1)
0.121
"""

from __future__ import annotations

from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAYS_PER_YEAR",
    "PCT",
    "rho_per_pct",
    "theta_per_day",
    "vanna_per_pct",
    "vega_per_pct",
    "volga_per_pct2",
]

DAYS_PER_YEAR: Final[float] = 365.0
"""Calendar days per year used for per-day theta (crypto markets trade every day)."""

PCT: Final[float] = 0.01
"""One percentage point of vol or rate, as a decimal."""

Value = TypeVar("Value", float, npt.NDArray[np.float64])


def theta_per_day(theta_per_year: Value, days_per_year: float = DAYS_PER_YEAR) -> Value:
    """Convert theta from per year to per day (default 365 calendar days a year)."""
    return theta_per_year / days_per_year


def vega_per_pct(vega: Value) -> Value:
    """Convert vega from per 1.00 of vol to per 1 vol point (0.01)."""
    return vega * PCT


def rho_per_pct(rho: Value) -> Value:
    """Convert rho from per 1.00 of rate to per 1 rate point (0.01)."""
    return rho * PCT


def vanna_per_pct(vanna: Value) -> Value:
    """Convert vanna ∂²V/∂S∂σ to change of delta per 1 vol point."""
    return vanna * PCT


def volga_per_pct2(volga: Value) -> Value:
    """Convert volga ∂²V/∂σ² to change of per-point vega per 1 vol point (×0.01²)."""
    return volga * PCT * PCT
