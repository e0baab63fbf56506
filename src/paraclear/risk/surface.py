"""A volatility surface made of SVI slices, evaluated for all series at once.

Between two fitted expiries ``T1 < T < T2`` total variance is interpolated linearly in
expiry at fixed log-moneyness::

    w(k, T) = w1(k) + (T - T1) / (T2 - T1) * (w2(k) - w1(k))

which keeps the surface free of calendar arbitrage when the slices are (``w2 >= w1``).
Outside the fitted range implied vol is held flat in expiry at fixed ``k``: before the
first slice ``w(k, T) = w1(k) * T / T1``, after the last ``w(k, T) = wn(k) * T / Tn``.
Both extrapolations are non-decreasing in ``T``, so they add no calendar arbitrage either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from paraclear.risk.svi import (
    DEFAULT_CHECK_GRID,
    ArbitrageViolation,
    FloatArray,
    SviError,
    SviParams,
    calendar_violations,
)
from paraclear.risk.svi_fit import SliceQuotes, SviFit, fit_svi_slice


@dataclass(frozen=True, slots=True)
class VolSurface:
    """SVI slices at strictly increasing expiries (year fractions).

    Raises:
        SviError: on construction if there is no slice or expiries do not increase strictly.
    """

    expiries: tuple[float, ...]
    slices: tuple[SviParams, ...]

    def __post_init__(self) -> None:
        if not self.slices or len(self.slices) != len(self.expiries):
            raise SviError("a surface needs one SVI slice per expiry and at least one")
        t = np.asarray(self.expiries)
        if not (np.all(np.diff(t) > 0) and t[0] > 0):
            raise SviError(f"expiries must be positive and strictly increasing: {t}")

    def _param_arrays(self) -> FloatArray:
        """Parameters as a ``(n_slices, 5)`` array: a, b, rho, m, sigma."""
        return np.array([[p.a, p.b, p.rho, p.m, p.sigma] for p in self.slices])

    def total_variance(self, k: npt.ArrayLike, expiry: npt.ArrayLike) -> FloatArray:
        """Total variance at log-moneyness ``k`` and year fraction ``expiry`` (broadcast)."""
        kk, tt = np.broadcast_arrays(np.asarray(k, float), np.asarray(expiry, float))
        t_nodes = np.asarray(self.expiries)
        prm = self._param_arrays()
        hi = np.clip(np.searchsorted(t_nodes, tt, side="left"), 0, len(t_nodes) - 1)
        lo = np.clip(hi - 1, 0, None)
        w_lo, w_hi = _svi(prm[lo], kk), _svi(prm[hi], kk)
        t_lo, t_hi = t_nodes[lo], t_nodes[hi]
        span = np.where(t_hi > t_lo, t_hi - t_lo, 1.0)
        inside = w_lo + (tt - t_lo) / span * (w_hi - w_lo)
        before = w_hi * tt / t_nodes[0]
        after = w_hi * tt / t_nodes[-1]
        out = np.where(tt <= t_nodes[0], before, np.where(tt >= t_nodes[-1], after, inside))
        return np.asarray(out, dtype=np.float64)

    def implied_vol(
        self, strikes: npt.ArrayLike, expiries: npt.ArrayLike, forwards: npt.ArrayLike
    ) -> FloatArray:
        """Annualised implied vols for arrays of (strike, expiry in years, forward).

        Inputs broadcast against each other. A non-positive total variance (only possible
        for a slice with a negative-variance violation) gives ``nan``.

        Raises:
            SviError: if an expiry is not > 0 or a strike/forward is not > 0.
        """
        k_arr = np.asarray(strikes, float)
        t_arr = np.asarray(expiries, float)
        f_arr = np.asarray(forwards, float)
        if np.any(t_arr <= 0) or np.any(k_arr <= 0) or np.any(f_arr <= 0):
            raise SviError("strikes, forwards and expiries must all be > 0")
        w = self.total_variance(np.log(k_arr / f_arr), t_arr)
        with np.errstate(invalid="ignore"):
            return np.asarray(np.where(w > 0, np.sqrt(np.abs(w) / t_arr), np.nan))


def _svi(prm: FloatArray, k: FloatArray) -> FloatArray:
    """Raw SVI for per-point parameter rows ``prm[..., 5]``."""
    a, b, rho, m, sigma = (prm[..., i] for i in range(5))
    x = k - m
    return np.asarray(a + b * (rho * x + np.sqrt(x * x + sigma * sigma)))


@dataclass(frozen=True, slots=True)
class SurfaceFit:
    """Fitted surface, its per-slice fits and every arbitrage violation found.

    Attributes:
        surface: the surface built from the fitted slices.
        fits: one :class:`SviFit` per expiry, in increasing expiry.
        violations: butterfly/wing violations of every slice, then calendar violations.
    """

    surface: VolSurface
    fits: tuple[SviFit, ...]
    violations: tuple[ArbitrageViolation, ...]

    @property
    def arbitrage_free(self) -> bool:
        """Whether no violation was found on the check grids."""
        return not self.violations


def fit_surface(quotes: list[SliceQuotes], grid: FloatArray = DEFAULT_CHECK_GRID) -> SurfaceFit:
    """Fit one SVI slice per expiry and check the result for static arbitrage.

    Slices are fitted independently (no calendar constraint is imposed during the fit);
    calendar arbitrage is detected afterwards on ``grid`` and reported, not repaired.

    Raises:
        SviFitError: if a slice's quotes are malformed.
        SviError: if two slices share an expiry.
    """
    ordered = sorted(quotes, key=lambda q: q.expiry)
    fits = tuple(fit_svi_slice(q, grid) for q in ordered)
    surface = VolSurface(tuple(f.expiry for f in fits), tuple(f.params for f in fits))
    calendar = calendar_violations([(f.expiry, f.params) for f in fits], grid)
    found = tuple(v for f in fits for v in f.violations) + tuple(calendar)
    return SurfaceFit(surface, fits, found)
