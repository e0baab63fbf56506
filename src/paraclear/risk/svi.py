"""Gatheral raw SVI slices and their static-arbitrage checks.

One slice describes the total implied variance of one expiry as a function of
log-moneyness ``k = ln(K / F)``::

    w(k) = a + b * (rho * (k - m) + sqrt((k - m)**2 + sigma**2))

``w`` is *total* variance (implied vol squared times year fraction), so it is
dimensionless; the implied vol of strike ``K`` at year fraction ``T`` is
``sqrt(w(ln(K/F)) / T)``.

Arbitrage checks (Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces"):

* butterfly: the risk-neutral density is non-negative iff
  ``g(k) = (1 - k w'/(2w))**2 - (w'**2/4)(1/w + 1/4) + w''/2 >= 0``; checked on a
  dense grid, together with Roger Lee's moment bound on the wings,
  ``b (1 + |rho|) <= 2``;
* calendar: total variance is non-decreasing in expiry for every ``k``; checked on
  a grid between consecutive slices.

Fitting lives in :mod:`paraclear.risk.svi_fit`, the surface in
:mod:`paraclear.risk.surface`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from paraclear.risk.errors import RiskError

FloatArray = npt.NDArray[np.float64]

#: Roger Lee's bound on the asymptotic slope of total variance in ``|k|``.
LEE_WING_BOUND: float = 2.0

#: Default grid of log-moneyness on which butterfly and calendar checks run.
DEFAULT_CHECK_GRID: FloatArray = np.linspace(-1.5, 1.5, 601)

#: Tolerance below which a negative ``g`` or a variance decrease is numerical noise.
ARBITRAGE_TOLERANCE: float = 1e-10


class SviError(RiskError, ValueError):
    """Base of the errors raised by the SVI modules (bad parameters, failed fits)."""


class InvalidSviParameters(SviError):
    """Raised when SVI parameters cannot describe a variance slice (b < 0, |rho| >= 1, ...)."""


@dataclass(frozen=True, slots=True)
class SviParams:
    """Raw SVI parameters of one expiry (all dimensionless, in total-variance units).

    Attributes:
        a: vertical level of total variance.
        b: slope scale of the wings, ``b >= 0``.
        rho: skew, ``-1 < rho < 1``.
        m: horizontal shift in log-moneyness.
        sigma: smoothness of the vertex, ``sigma > 0``.

    Raises:
        InvalidSviParameters: if ``b < 0``, ``|rho| >= 1``, ``sigma <= 0`` or any is not finite.

    >>> p = SviParams(a=0.04, b=0.1, rho=-0.5, m=0.0, sigma=0.2)
    >>> round(float(p.total_variance(0.0)), 12)  # a + b * sigma at k = m
    0.06
    >>> round(p.wing_slope, 10)
    0.15
    """

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        if not (self.b >= 0.0 and -1.0 < self.rho < 1.0 and self.sigma > 0.0):
            raise InvalidSviParameters(f"need b >= 0, |rho| < 1, sigma > 0; got {self}")
        if not np.isfinite([self.a, self.b, self.rho, self.m, self.sigma]).all():
            raise InvalidSviParameters(f"non-finite SVI parameters: {self}")

    @property
    def min_total_variance(self) -> float:
        """Minimum of ``w`` over all ``k``: ``a + b sigma sqrt(1 - rho^2)``."""
        return self.a + self.b * self.sigma * float(np.sqrt(1.0 - self.rho * self.rho))

    def total_variance(self, k: npt.ArrayLike) -> FloatArray:
        """Total variance ``w(k)`` at log-moneyness ``k`` (any shape)."""
        x = np.asarray(k, dtype=np.float64) - self.m
        return self.a + self.b * (self.rho * x + np.sqrt(x * x + self.sigma * self.sigma))

    def derivatives(self, k: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return ``(w, dw/dk, d2w/dk2)`` at log-moneyness ``k``."""
        x = np.asarray(k, dtype=np.float64) - self.m
        root = np.sqrt(x * x + self.sigma * self.sigma)
        w = self.a + self.b * (self.rho * x + root)
        w1 = self.b * (self.rho + x / root)
        w2 = self.b * self.sigma * self.sigma / (root * root * root)
        return w, w1, w2

    def density_factor(self, k: npt.ArrayLike) -> FloatArray:
        """Gatheral's ``g(k)``; the risk-neutral density is ``g`` times a positive factor.

        Where ``w <= 0`` the density is undefined and ``g`` is reported as ``-inf``.
        """
        kk = np.asarray(k, dtype=np.float64)
        w, w1, w2 = self.derivatives(kk)
        positive = w > 0.0
        safe_w = np.where(positive, w, 1.0)
        g = (1.0 - kk * w1 / (2.0 * safe_w)) ** 2 - 0.25 * w1 * w1 * (1.0 / safe_w + 0.25)
        g = g + 0.5 * w2
        return np.where(positive, g, -np.inf)

    @property
    def wing_slope(self) -> float:
        """Largest asymptotic slope of ``w`` in ``|k|``: ``b (1 + |rho|)``."""
        return self.b * (1.0 + abs(self.rho))


class ArbitrageKind(Enum):
    """Which static-arbitrage condition a violation breaks."""

    BUTTERFLY = "butterfly"  # g(k) < 0 somewhere: negative density
    NEGATIVE_VARIANCE = "negative_variance"  # w(k) <= 0 somewhere
    LEE_WING = "lee_wing"  # b (1 + |rho|) > 2: wings too steep for finite moments
    CALENDAR = "calendar"  # w(k, T2) < w(k, T1) for T2 > T1


@dataclass(frozen=True, slots=True)
class ArbitrageViolation:
    """One violated condition, located at the worst offending point.

    Attributes:
        kind: which condition.
        expiry: year fraction of the offending slice (the later one for calendar).
        k: log-moneyness of the worst point (``nan`` for the Lee bound).
        amount: how far it is violated: ``-min g``, ``-min w``,
            ``b(1+|rho|) - 2``, or the largest total-variance decrease (all > 0).
    """

    kind: ArbitrageKind
    expiry: float
    k: float
    amount: float


def butterfly_violations(
    params: SviParams,
    expiry: float,
    grid: FloatArray = DEFAULT_CHECK_GRID,
    tolerance: float = ARBITRAGE_TOLERANCE,
) -> list[ArbitrageViolation]:
    """Check one slice for butterfly arbitrage on ``grid`` and the Lee wing bound.

    Returns an empty list when the slice is free of these arbitrages.
    """
    found: list[ArbitrageViolation] = []
    w = params.total_variance(grid)
    if w.min() <= tolerance:
        i = int(np.argmin(w))
        found.append(
            ArbitrageViolation(ArbitrageKind.NEGATIVE_VARIANCE, expiry, float(grid[i]), -w[i])
        )
    g = params.density_factor(grid)
    i = int(np.argmin(g))
    if g[i] < -tolerance and np.isfinite(g[i]):
        found.append(ArbitrageViolation(ArbitrageKind.BUTTERFLY, expiry, float(grid[i]), -g[i]))
    excess = params.wing_slope - LEE_WING_BOUND
    if excess > tolerance:
        found.append(ArbitrageViolation(ArbitrageKind.LEE_WING, expiry, float("nan"), excess))
    return found


def calendar_violations(
    slices: list[tuple[float, SviParams]],
    grid: FloatArray = DEFAULT_CHECK_GRID,
    tolerance: float = ARBITRAGE_TOLERANCE,
) -> list[ArbitrageViolation]:
    """Check that total variance is non-decreasing in expiry at every ``k`` of ``grid``.

    Args:
        slices: ``(expiry_years, params)`` pairs sorted by strictly increasing expiry.

    Raises:
        SviError: if the expiries are not strictly increasing.
    """
    found: list[ArbitrageViolation] = []
    for (t1, p1), (t2, p2) in itertools.pairwise(slices):
        if not t2 > t1:
            raise SviError(f"expiries must increase strictly, got {t1} then {t2}")
        drop = p1.total_variance(grid) - p2.total_variance(grid)
        i = int(np.argmax(drop))
        if drop[i] > tolerance:
            found.append(ArbitrageViolation(ArbitrageKind.CALENDAR, t2, float(grid[i]), drop[i]))
    return found
