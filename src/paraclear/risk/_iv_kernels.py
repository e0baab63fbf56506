"""Numba kernels for implied volatility in the manner of Jäckel's "Let's Be Rational" (2016).

Written from the paper's ideas, not from its code. The steps:

1. **Normalise.** With ``x = ln(F/K)`` and total vol ``s = σ√T`` the undiscounted Black
   price divided by ``√(FK)`` is
   ``b(x, s) = θ[e^{x/2} Φ(θ(x/s + s/2)) − e^{−x/2} Φ(θ(x/s − s/2))]``.
   Subtracting the intrinsic value (put-call parity) and using ``b_call(x) = b_put(−x)``
   reduces every input to an out-of-the-money call: ``x ≤ 0``, ``0 < β < e^{x/2}``.
2. **Accurate b.** Where the two Black terms nearly cancel, b is evaluated without the
   difference: far out of the money (``d1 < −6``) from ``b = ∫₀ˢ b'(σ) dσ`` rewritten as a
   Laplace integral and summed by Gauss-Laguerre; for small ``s`` near the money via
   ``e^{x/2}[Φ(d1) − Φ(d2)] − 2 sinh(|x|/2) Φ(d2)`` with the bracket by Gauss-Legendre.
3. **Branches.** The inflection point ``s_c = √(2|x|)`` splits the lower branch (objective
   ``ln b − ln β``, accurate down to the smallest prices) from the middle one (``b − β``);
   above ``β > e^{x/2}/2`` the objective is ``ln(b_max − b) − ln(b_max − β)`` with
   ``b_max − b = e^{x/2}Φ(−d1) + e^{−x/2}Φ(d2)`` summed, not subtracted.
4. **Initial guess** per branch from the asymptotics of b (small s: ``b ≈ b'(s) s/(d1 d2)``,
   or that form matched to value and slope at ``s_c`` when ``b(s_c)`` is known; large s:
   an inverse-normal guess) or the tangent at ``s_c`` close to it.
5. **Householder's third-order method** (convergence order four), a rational function of
   the Newton step, safeguarded by a bracket; it stops after applying a step below 1e-5
   relative: with order-four convergence the error left is of order (1e-5)⁴. Typically
   2-3 evaluations of b per solve, plus one at ``s_c`` to pick the branch unless
   ``β > b_max/2`` or β is below the Mills-ratio bound ``b(x, s_c) ≥ e^{x/2}(½ − 1/√(4π|x|))``.

All kernels are strict IEEE (no fast-math): the careful evaluation of b relies on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

from paraclear.numba_cache import renamed

_INV_SQRT_2PI = 0.3989422804014327
_LN_SQRT_2PI = 0.9189385332046728
_INV_SQRT2 = 0.7071067811865476
_LAG_X, _LAG_W = np.polynomial.laguerre.laggauss(12)  # 12 nodes: < 1e-15 for d1 < -6
_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(8)
_TAIL_D1 = -6.0
_SMALL_S = 0.02  # below it the direct formula would lose ~eps/s of the vol
_MAX_ITER = 12
_STEP_TOL = 1e-5

_F = TypeVar("_F", bound=Callable[..., object])


def _jit(func: _F) -> _F:
    """Compile strictly (no fast-math), cached, numpy error model, no bounds checks."""
    jitted = numba.njit(cache=True, fastmath=False, error_model="numpy", boundscheck=False)
    return cast(_F, jitted(func))


def _jit_parallel(func: _F) -> _F:
    """As :func:`_jit`, parallel over ``numba.prange`` loops."""
    jitted = numba.njit(
        cache=True, fastmath=False, error_model="numpy", boundscheck=False, parallel=True
    )
    return cast(_F, jitted(func))


@_jit
def norm_cdf(z: float) -> float:
    """Standard normal CDF via ``erfc`` (accurate in the lower tail)."""
    return 0.5 * math.erfc(-z * _INV_SQRT2)


@_jit
def _tail_ratio(x: float, s: float) -> float:
    """``b(x, s) / b'(s)`` by Gauss-Laguerre, for ``x < 0`` and ``d1 < −6``.

    With ``E(σ) = x²/(2σ²) + σ²/8`` decreasing on ``(0, s]`` and ``w = E(σ) − E(s)``,
    ``b = b'(s) ∫₀^∞ e^{−w} σ³/(x² − σ⁴/4) dw`` where ``σ² = x²/(C + √(C² − x²/4))``,
    ``C = E(s) + w``. The integrand is smooth on the scale ``d1²/2`` (its branch point).
    """
    x2 = x * x
    e_s = 0.5 * x2 / (s * s) + 0.125 * s * s
    acc = 0.0
    for i in range(_LAG_X.shape[0]):
        c = e_s + _LAG_X[i]
        sig2 = x2 / (c + math.sqrt(c * c - 0.25 * x2))
        acc += _LAG_W[i] * sig2 * math.sqrt(sig2) / (x2 - 0.25 * sig2 * sig2)
    return acc


@_jit
def _small_s_black(x: float, s: float, d1: float, d2: float, eh: float) -> float:
    """``b`` for small ``s`` near the money: ``e^{x/2}∫_{d2}^{d1}φ − 2 sinh(|x|/2) Φ(d2)``."""
    mid = 0.5 * (d1 + d2)
    half = 0.5 * s
    acc = 0.0
    for i in range(_LEG_X.shape[0]):
        u = mid + half * _LEG_X[i]
        acc += _LEG_W[i] * math.exp(-0.5 * u * u)
    band = half * _INV_SQRT_2PI * acc
    return eh * band - 2.0 * math.sinh(-0.5 * x) * norm_cdf(d2)


@_jit
def log_vega(x: float, s: float) -> float:
    """``ln b'(s)``: ``b' = ∂b/∂s = φ(x/s + s/2) e^{x/2}``."""
    return -0.5 * (x * x / (s * s) + 0.25 * s * s) - _LN_SQRT_2PI


@_jit
def normalised_black(
    x: float, s: float, eh: float, emh: float, want_log: bool
) -> tuple[float, float]:
    """``(b, ln b)`` of an out-of-the-money normalised call, ``x ≤ 0``, ``s > 0``.

    ``eh = e^{x/2}`` and ``emh = e^{−x/2}`` are passed in (constant during a solve);
    ``ln b`` is computed only if ``want_log`` (else 0), except in the far tail where b is
    computed from it.
    """
    if x == 0.0:
        b = math.erf(0.5 * s * _INV_SQRT2)
        return b, math.log(b) if want_log else 0.0
    d1 = x / s + 0.5 * s
    d2 = d1 - s
    if d1 < _TAIL_D1:
        q = _tail_ratio(x, s)
        lnb = log_vega(x, s) + math.log(q)
        return math.exp(lnb), lnb
    small = s < _SMALL_S
    b = _small_s_black(x, s, d1, d2, eh) if small else eh * norm_cdf(d1) - emh * norm_cdf(d2)
    return b, math.log(b) if want_log else 0.0


@_jit
def black_complement(x: float, s: float, eh: float, emh: float) -> float:
    """``e^{x/2} − b(x, s) = e^{x/2}Φ(−d1) + e^{−x/2}Φ(d2)``, a sum of positive terms."""
    d1 = x / s + 0.5 * s
    return eh * norm_cdf(-d1) + emh * norm_cdf(d1 - s)


@_jit
def _guess_lower(beta: float, x: float, sc: float) -> float:
    """Invert ``ln b ≈ ln b'(s) + ln(s/(d1 d2))`` (valid for small s) by fixed point."""
    s = -x / math.sqrt(-2.0 * math.log(beta))
    for _ in range(4):
        prod = x * x / (s * s) - 0.25 * s * s  # d1·d2
        if not prod > 1.0:
            break
        rhs = -math.log(beta) + math.log(s / prod) - _LN_SQRT_2PI - 0.125 * s * s
        if not rhs > 0.0:
            break
        s = -x / math.sqrt(2.0 * rhs)
    return min(s, 0.999 * sc)


@_jit
def _guess_lower_matched(beta: float, x: float, sc: float, bc: float, vega_c: float) -> float:
    """Invert ``ln b ≈ −x²/(2s²) + 3 ln s + A + B s`` (the small-s asymptotics) with A, B
    matched to ``ln b`` and its slope at ``s_c``; a few safeguarded Newton steps."""
    slope = vega_c / bc - (x * x / (sc * sc * sc) + 3.0 / sc)
    level = math.log(bc) + 0.5 * x * x / (sc * sc) - 3.0 * math.log(sc) - slope * sc
    ln_beta = math.log(beta)
    s = min(-x / math.sqrt(-2.0 * ln_beta), 0.9 * sc)
    for _ in range(3):
        h = -0.5 * x * x / (s * s) + 3.0 * math.log(s) + level + slope * s - ln_beta
        dh = x * x / (s * s * s) + 3.0 / s + slope
        s = min(max(s - h / dh, 0.5 * s), 0.5 * (s + sc))
    return s


@_jit
def _guess_upper(complement: float, x: float) -> float:
    """Solve ``2 cosh(x/2) Φ(−s/2) ≈ b_max − β`` with Abramowitz-Stegun 26.2.23."""
    p = min(0.5, complement / (2.0 * math.cosh(0.5 * x)))
    t = math.sqrt(-2.0 * math.log(p))
    z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))
    )
    return max(2.0 * z, 1e-3)


@_jit
def _householder(nu: float, h2: float, h3: float) -> float:
    """Third-order Householder step from Newton step ``nu`` and ``f''/f'``, ``f'''/f'``."""
    return nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + h3 * nu / 6.0))


@_jit
def solve_normalised(beta: float, x: float, bmax: float) -> tuple[float, int]:
    """Total vol ``s`` with ``b(x, s) = beta`` (``x ≤ 0``, ``0 < beta < e^{x/2}``).

    ``bmax`` is ``e^{x/2}`` (the caller has it). Returns ``(s, iterations)``;
    ``iterations == _MAX_ITER + 1`` flags non-convergence.
    """
    emh = math.exp(-0.5 * x)
    sc = math.sqrt(-2.0 * x)
    if beta > 0.5 * bmax:
        branch, lo, hi = 2, sc, math.inf
        s = _guess_upper(bmax - beta, x)
    elif sc > 0.0 and beta < bmax * (0.5 - 1.0 / math.sqrt(-4.0 * math.pi * x)):
        # below a Mills-ratio lower bound of b(x, s_c): lower branch without evaluating b_c
        branch, lo, hi = 0, 0.0, sc
        s = _guess_lower(beta, x, sc)
    else:
        # at s_c: d1 = 0, so b = e^{x/2}/2 − e^{−x/2}Φ(−s_c) (one erfc; the same arithmetic
        # as normalised_black there) and b' = e^{x/2}φ(0)
        if sc >= _SMALL_S:
            bc = 0.5 * bmax - emh * norm_cdf(-sc)
        else:
            bc = normalised_black(x, sc, bmax, emh, False)[0] if sc > 0.0 else 0.0
        vega_c = bmax * _INV_SQRT_2PI
        if beta < bc:
            branch, lo, hi = 0, 0.0, sc
            if beta > 0.6 * bc:  # tangent at the inflection point (b is convex below it)
                s = sc + (beta - bc) / vega_c
            else:
                s = _guess_lower_matched(beta, x, sc, bc, vega_c)
        else:
            branch, lo, hi = 1, sc, math.inf
            s = sc + (beta - bc) / vega_c
    ln_beta = math.log(beta) if branch == 0 else 0.0
    ln_comp = math.log(bmax - beta) if branch == 2 else 0.0
    for it in range(_MAX_ITER):
        x2s3 = x * x / (s * s * s)
        h2 = x2s3 - 0.25 * s
        h3 = h2 * h2 - 3.0 * x2s3 / s - 0.25
        if branch == 2:
            c = black_complement(x, s, bmax, emh)
            below = c > bmax - beta
            rho = -math.exp(log_vega(x, s)) / c
            nu = -(math.log(c) - ln_comp) / rho
            h3 = h3 - 3.0 * h2 * rho + 2.0 * rho * rho
            h2 = h2 - rho
        else:
            b, lnb = normalised_black(x, s, bmax, emh, branch == 0)
            below = lnb < ln_beta if branch == 0 else b < beta  # b may underflow
            if branch == 0:
                rho = math.exp(log_vega(x, s) - lnb)
                nu = -(lnb - ln_beta) / rho
                h3 = h3 - 3.0 * h2 * rho + 2.0 * rho * rho
                h2 = h2 - rho
            else:
                nu = (beta - b) * math.exp(-log_vega(x, s))
        if below:
            lo = max(lo, s)
        else:
            hi = min(hi, s)
        step = _householder(nu, h2, h3)
        if abs(step) <= _STEP_TOL * s:
            return s + step, it + 1
        new = s + step
        if not (lo < new < hi):
            new = 0.5 * (lo + hi) if hi < math.inf else 2.0 * s
        s = new
    return s, _MAX_ITER + 1


@_jit
def _iv_reason(
    price: float, under: float, strike: float, expiry: float, rate: float, dividend: float
) -> int:
    """``InputReason`` code of one implied-vol input (0 when valid)."""
    finite = (
        abs(price) < math.inf
        and abs(under) < math.inf
        and abs(strike) < math.inf
        and abs(expiry) < math.inf
        and abs(rate) < math.inf
        and abs(dividend) < math.inf
    )
    if not finite:
        return 1
    if not under > 0.0:
        return 2
    if not strike > 0.0:
        return 3
    if not expiry >= 0.0:
        return 4
    if not price >= 0.0:
        return 6
    if expiry == 0.0:
        return 9
    return 0


@_jit_parallel
def implied_vol_loop(
    price: np.ndarray,
    under: np.ndarray,
    strike: np.ndarray,
    expiry: np.ndarray,
    rate: np.ndarray,
    dividend: np.ndarray,
    is_call: np.ndarray,
    bsm: bool,
    vol_out: np.ndarray,
    reasons: np.ndarray,
) -> int:
    """Fill ``vol_out`` and ``reasons``; return the number of elements without a vol."""
    n_bad = 0
    for i in numba.prange(price.shape[0]):
        t = expiry[i]
        code = _iv_reason(price[i], under[i], strike[i], t, rate[i], dividend[i])
        vol = math.nan
        if code == 0:
            r = rate[i]
            fwd = under[i] * math.exp((r - dividend[i]) * t) if bsm else under[i]
            k = strike[i]
            sign = 1.0 if is_call[i] else -1.0
            time_value = price[i] * math.exp(r * t) - max(sign * (fwd - k), 0.0)
            beta = time_value / math.sqrt(fwd * k)
            x = -abs(math.log(fwd / k))
            bmax = math.exp(0.5 * x)
            if not beta >= 0.0:
                code = 7
            elif beta >= bmax:
                code = 8
            elif beta == 0.0:
                vol = 0.0
            else:
                s, iterations = solve_normalised(beta, x, bmax)
                vol = s / math.sqrt(t)
                if iterations > _MAX_ITER:
                    code = 10
                    vol = math.nan
        reasons[i] = code
        vol_out[i] = vol
        if code != 0:
            n_bad += 1
    return n_bad


implied_vol_loop_serial = _jit(
    renamed(cast(Any, implied_vol_loop).py_func, "implied_vol_loop_serial")
)
"""``implied_vol_loop`` compiled serially, for batches too small to pay for threads."""
