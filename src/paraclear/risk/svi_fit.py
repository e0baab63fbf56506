"""Quasi-explicit SVI calibration (Zeliade Systems, 2009) of one expiry slice.

With ``y = (k - m) / sigma`` raw SVI is linear in ``(a, d, c) = (a, b rho sigma, b sigma)``::

    w = a + d y + c sqrt(y**2 + 1)

so for fixed ``(m, sigma)`` the best ``(a, d, c)`` is a small weighted least-squares
problem with linear constraints (a convex QP in three unknowns):

* ``0 <= c``, ``|d| <= c``              (``b >= 0``, ``|rho| <= 1``)
* ``c + |d| <= 2 sigma``                 (Roger Lee: ``b (1 + |rho|) <= 2``)
* ``0 <= a <= max(w_market)``            (keeps ``w >= 0`` everywhere)

The QP is solved exactly by trying the unconstrained solution and then every set of up
to three active constraints (a handful of 3x3..6x6 KKT solves). The outer problem over
``(m, log sigma)`` is two-dimensional: a coarse grid, then Nelder-Mead from its best point.
No scipy: the Nelder-Mead below is the textbook one (Lagarias et al. coefficients).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from paraclear.risk.svi import (
    ArbitrageViolation,
    FloatArray,
    SviError,
    SviParams,
    butterfly_violations,
)

#: Smallest and largest SVI ``sigma`` the outer search considers.
SIGMA_BOUNDS: tuple[float, float] = (1e-3, 3.0)

#: Points per axis of the coarse outer grid before Nelder-Mead refines.
COARSE_GRID_POINTS: int = 12

_FEASIBILITY_SLACK = 1e-12


class SviFitError(SviError):
    """Raised when quotes cannot be fitted (too few, non-positive vols, bad weights)."""


@dataclass(frozen=True, slots=True)
class SliceQuotes:
    """Implied-vol quotes of one expiry.

    Attributes:
        expiry: year fraction to expiry (> 0).
        forward: forward price of the underlying (> 0, price units).
        strikes: strikes (> 0, same units as ``forward``).
        ivs: mid implied vols, annualised (0.6 means 60 %).
        weights: non-negative fit weights (e.g. 1 / spread); ``None`` means all 1.
    """

    expiry: float
    forward: float
    strikes: FloatArray
    ivs: FloatArray
    weights: FloatArray | None = None


@dataclass(frozen=True, slots=True)
class SviFit:
    """Result of fitting one slice.

    Attributes:
        expiry: year fraction of the slice.
        params: the fitted raw SVI parameters.
        rmse_iv: weighted root-mean-square error in implied vol (annualised).
        evaluations: number of inner least-squares problems solved.
        violations: butterfly / wing arbitrage found in the fitted slice.
    """

    expiry: float
    params: SviParams
    rmse_iv: float
    evaluations: int
    violations: tuple[ArbitrageViolation, ...]


# Constraint rows G p <= h on p = (a, d, c); h depends on sigma and max(w).
_G = np.array(
    [
        [0.0, 0.0, -1.0],  # c >= 0
        [0.0, 1.0, -1.0],  # d <= c
        [0.0, -1.0, -1.0],  # -d <= c
        [0.0, 1.0, 1.0],  # c + d <= 2 sigma
        [0.0, -1.0, 1.0],  # c - d <= 2 sigma
        [-1.0, 0.0, 0.0],  # a >= 0
        [1.0, 0.0, 0.0],  # a <= max w
    ]
)
_ACTIVE_SETS: tuple[npt.NDArray[np.intp], ...] = tuple(
    np.array(
        [
            c
            for c in itertools.combinations(range(len(_G)), r)
            if np.linalg.matrix_rank(_G[list(c)]) == r  # dependent rows: singular KKT
        ],
        dtype=np.intp,
    )
    for r in (1, 2, 3)
)


def _solve_inner(
    k: FloatArray, w: FloatArray, v: FloatArray, m: float, sigma: float
) -> tuple[FloatArray, float]:
    """Best ``(a, d, c)`` for fixed ``(m, sigma)`` and its weighted squared error.

    The unconstrained optimum if feasible; otherwise the best feasible KKT point over all
    independent sets of active constraints (solved as three batched linear systems).
    """
    y = (k - m) / sigma
    x = np.stack([np.ones_like(y), y, np.sqrt(y * y + 1.0)], axis=1)
    normal = x.T @ (x * v[:, None])
    rhs = x.T @ (v * w)
    h = np.array([0.0, 0.0, 0.0, 2.0 * sigma, 2.0 * sigma, 0.0, float(w.max())])
    slack = _FEASIBILITY_SLACK * (1.0 + np.abs(h))
    candidates = [np.zeros((1, 3))]  # p = 0 is always feasible
    try:
        free = np.linalg.solve(normal, rhs)
        if np.all(_G @ free <= h + slack):
            resid = x @ free - w
            return np.asarray(free, dtype=np.float64), float(np.dot(v * resid, resid))
        for sets in _ACTIVE_SETS:
            n, r = sets.shape
            kkt = np.zeros((n, 3 + r, 3 + r))
            kkt[:, :3, :3] = normal
            kkt[:, 3:, :3] = _G[sets]
            kkt[:, :3, 3:] = np.swapaxes(_G[sets], 1, 2)
            b = np.concatenate([np.broadcast_to(rhs, (n, 3)), h[sets]], axis=1)
            candidates.append(np.linalg.solve(kkt, b[..., None])[:, :3, 0])
    except np.linalg.LinAlgError:
        pass  # degenerate quotes (all k equal): keep the candidates found so far
    p_all = np.concatenate(candidates)
    ok = np.all(p_all @ _G.T <= h + slack, axis=1)
    p_ok = p_all[ok]
    resid = p_ok @ x.T - w
    f = (resid * resid) @ v
    best = int(np.argmin(f))
    return np.asarray(p_ok[best], dtype=np.float64), float(f[best])


def nelder_mead(
    f: Callable[[FloatArray], float],
    x0: FloatArray,
    step: FloatArray,
    max_iterations: int = 400,
    tolerance: float = 1e-12,
    x_tolerance: float = 1e-10,
) -> tuple[FloatArray, float]:
    """Minimise ``f`` from ``x0`` with the Nelder-Mead simplex; return ``(x, f(x))``.

    Stops when both the spread of ``f`` over the simplex is at most
    ``tolerance * |f_best|`` (relative to the best value) and the simplex fits in a
    box of side ``x_tolerance``, or after ``max_iterations`` iterations.
    """
    n = len(x0)
    simplex = [np.asarray(x0, dtype=np.float64)]
    simplex += [simplex[0] + np.eye(n)[i] * step[i] for i in range(n)]
    values = [f(p) for p in simplex]
    for _ in range(max_iterations):
        order = np.argsort(values, kind="stable")
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        spread_x = max(float(np.max(np.abs(p - simplex[0]))) for p in simplex[1:])
        if values[-1] - values[0] <= tolerance * abs(values[0]) and spread_x <= x_tolerance:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        if fr < values[0]:
            expanded = centroid + 2.0 * (centroid - simplex[-1])
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            inside = fr >= values[-1]
            target = simplex[-1] if inside else reflected
            contracted = centroid + 0.5 * (target - centroid)
            fc = f(contracted)
            if fc < min(fr, values[-1]):
                simplex[-1], values[-1] = contracted, fc
            else:
                simplex = [simplex[0] + 0.5 * (p - simplex[0]) for p in simplex]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    best = int(np.argmin(values))
    return simplex[best], float(values[best])


def _validated(quotes: SliceQuotes) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``(k, w, v)`` arrays of the quotes or raise :class:`SviFitError`."""
    strikes = np.asarray(quotes.strikes, dtype=np.float64)
    ivs = np.asarray(quotes.ivs, dtype=np.float64)
    weights = np.ones_like(ivs) if quotes.weights is None else np.asarray(quotes.weights, float)
    if not (quotes.expiry > 0.0 and quotes.forward > 0.0):
        raise SviFitError(f"expiry and forward must be > 0: {quotes.expiry}, {quotes.forward}")
    if not strikes.shape == ivs.shape == weights.shape or strikes.ndim != 1:
        raise SviFitError("strikes, ivs and weights must be 1-D arrays of equal length")
    if len(strikes) < 5:
        raise SviFitError(f"need at least 5 quotes to fit 5 parameters, got {len(strikes)}")
    if not (np.all(strikes > 0) and np.all(ivs > 0) and np.all(weights >= 0)):
        raise SviFitError("strikes and ivs must be > 0 and weights >= 0")
    if not np.all(np.isfinite(np.concatenate([strikes, ivs, weights]))) or weights.sum() <= 0:
        raise SviFitError("quotes must be finite with a positive total weight")
    k = np.log(strikes / quotes.forward)
    return k, ivs * ivs * quotes.expiry, weights / weights.sum()


def fit_svi_slice(quotes: SliceQuotes, grid: FloatArray | None = None) -> SviFit:
    """Fit raw SVI to one expiry's implied-vol quotes (weighted least squares in total variance).

    Args:
        quotes: the slice's quotes.
        grid: log-moneyness grid for the butterfly check (default: the quotes' range
            widened by 50 % on each side, 401 points).

    Raises:
        SviFitError: on malformed quotes (see :class:`SliceQuotes`).
    """
    k, w, v = _validated(quotes)
    span = max(float(k.max() - k.min()), 0.05)
    m_lo, m_hi = float(k.min()) - span, float(k.max()) + span
    ls_lo, ls_hi = np.log(SIGMA_BOUNDS[0]), np.log(SIGMA_BOUNDS[1])
    count = 0

    def outer(z: FloatArray) -> float:
        nonlocal count
        count += 1
        m = min(max(float(z[0]), m_lo), m_hi)
        sigma = float(np.exp(min(max(float(z[1]), ls_lo), ls_hi)))
        penalty = (float(z[0]) - m) ** 2 + (float(z[1]) - float(np.log(sigma))) ** 2
        return _solve_inner(k, w, v, m, sigma)[1] + penalty

    starts = [
        np.array([m, ls])
        for m in np.linspace(m_lo, m_hi, COARSE_GRID_POINTS)
        for ls in np.linspace(ls_lo, ls_hi, COARSE_GRID_POINTS)
    ]
    z0 = min(starts, key=outer)
    step = np.array([(m_hi - m_lo) / COARSE_GRID_POINTS, (ls_hi - ls_lo) / COARSE_GRID_POINTS])
    z, _ = nelder_mead(outer, z0, step)
    m = min(max(float(z[0]), m_lo), m_hi)
    sigma = float(np.exp(min(max(float(z[1]), ls_lo), ls_hi)))
    (a, d, c), _ = _solve_inner(k, w, v, m, sigma)
    params = _to_raw(a, d, c, m, sigma)
    model_iv = np.sqrt(np.maximum(params.total_variance(k), 0.0) / quotes.expiry)
    rmse = float(np.sqrt(np.dot(v, (model_iv - np.sqrt(w / quotes.expiry)) ** 2)))
    check = grid if grid is not None else np.linspace(m_lo + span / 2, m_hi - span / 2, 401)
    found = tuple(butterfly_violations(params, quotes.expiry, check))
    return SviFit(quotes.expiry, params, rmse, count, found)


def _to_raw(a: float, d: float, c: float, m: float, sigma: float) -> SviParams:
    """Map ``(a, d, c)`` back to raw SVI; ``rho`` is clipped just inside (-1, 1)."""
    b = max(c, 0.0) / sigma
    rho = 0.0 if c <= 0.0 else float(np.clip(d / c, -1.0 + 1e-12, 1.0 - 1e-12))
    return SviParams(a=float(a), b=b, rho=rho, m=m, sigma=sigma)


def implied_vols_from_params(
    params: SviParams, expiry: float, forward: float, strikes: npt.ArrayLike
) -> FloatArray:
    """Implied vols of ``strikes`` under one slice: ``sqrt(w(ln(K/F)) / T)``."""
    k = np.log(np.asarray(strikes, dtype=np.float64) / forward)
    return np.asarray(np.sqrt(params.total_variance(k) / expiry))
