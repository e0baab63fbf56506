"""Fast-math Black-Scholes kernel: branch-free main loop that LLVM vectorises (AVX2).

Same formulas, outputs, validation codes and limits as ``_black_kernels.greeks_strict``,
but ``exp``/``log``/``erfc`` come from :mod:`._fast_math` and the loop body has no
function calls or data-dependent branches, so LLVM can vectorise it:

1. Main pass (parallel, vectorisable): every element is computed as if valid, with invalid
   or zero-total-vol elements fed harmless substitute inputs; ``reasons`` gets the
   validation code, or ``LIMIT`` where ``vol·√expiry == 0`` needs the limiting values.
2. Fix-up pass (parallel, scalar, cheap): elements flagged in pass 1 get NaN (invalid) or
   their limits (from the strict ``_limit_element``); the invalid ones are counted.

Analytics only (fast-math reassociates): consensus marks use the strict kernel.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from paraclear.risk._black_kernels import _FAST_FLAGS, _INV_SQRT_2PI, _limit_element
from paraclear.risk._fast_math import exp_fast, log_fast, norm_cdf_fast

LIMIT = 127
"""Temporary ``reasons`` code between the passes: element needs its zero-vol limits."""


def _main_pass(
    under: np.ndarray,
    strike: np.ndarray,
    expiry: np.ndarray,
    rate: np.ndarray,
    dividend: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    bsm: bool,
    out: np.ndarray,
    reasons: np.ndarray,
) -> None:
    for i in numba.prange(under.shape[0]):
        S, K, T, r, q, sigma = under[i], strike[i], expiry[i], rate[i], dividend[i], vol[i]
        finite = (abs(S) < math.inf) & (abs(K) < math.inf) & (abs(T) < math.inf)
        finite = finite & (abs(r) < math.inf) & (abs(q) < math.inf) & (abs(sigma) < math.inf)
        code = 0
        code = 5 if not sigma >= 0.0 else code
        code = 4 if not T >= 0.0 else code
        code = 3 if not K > 0.0 else code
        code = 2 if not S > 0.0 else code
        code = 1 if not finite else code
        total = sigma * math.sqrt(T if T > 0.0 else 0.0)
        good = (code == 0) & (total > 0.0)
        code = LIMIT if (code == 0) & (not total > 0.0) else code
        S = S if good else 1.0
        K = K if good else 1.0
        T = T if good else 1.0
        r = r if good else 0.0
        q = q if good else 0.0
        sigma = sigma if good else 1.0
        b = r - q if bsm else 0.0
        sign = 1.0 if is_call[i] else -1.0
        sqrt_t = math.sqrt(T)
        s = sigma * sqrt_t
        inv_s = 1.0 / s
        inv_sigma = 1.0 / sigma
        df = exp_fast(-r * T)
        cf = exp_fast((b - r) * T) if bsm else df
        s_cf = S * cf
        k_df = K * df
        d1 = (log_fast(S / K) + b * T) * inv_s + 0.5 * s
        d2 = d1 - s
        gauss1 = exp_fast(-0.5 * d1 * d1)
        gauss2 = gauss1 * (s_cf / k_df)  # exp(-d2²/2) = exp(-d1²/2)·F/K
        n1 = norm_cdf_fast(sign * d1, gauss1)
        n2 = norm_cdf_fast(sign * d2, gauss2)
        pdf = _INV_SQRT_2PI * gauss1
        price = sign * (s_cf * n1 - k_df * n2)
        vega = s_cf * pdf * sqrt_t
        out[0, i] = price
        out[1, i] = sign * cf * n1
        out[2, i] = cf * pdf * inv_s / S
        out[3, i] = vega
        carry_decay = (b - r) * s_cf * n1 + r * k_df * n2
        out[4, i] = -0.5 * s_cf * pdf * s / T - sign * carry_decay
        out[5, i] = sign * K * T * df * n2 if bsm else -T * price
        out[6, i] = -cf * pdf * d2 * inv_sigma
        out[7, i] = vega * d1 * d2 * inv_sigma
        reasons[i] = code


def _fixup_pass(
    under: np.ndarray,
    strike: np.ndarray,
    expiry: np.ndarray,
    rate: np.ndarray,
    dividend: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    bsm: bool,
    out: np.ndarray,
    reasons: np.ndarray,
) -> int:
    n_bad = 0
    for i in numba.prange(under.shape[0]):
        code = reasons[i]
        if code == 0:
            continue
        if code == LIMIT:
            b = rate[i] - dividend[i] if bsm else 0.0
            sign = 1.0 if is_call[i] else -1.0
            res = _limit_element(under[i], strike[i], expiry[i], rate[i], b, vol[i], sign, bsm)
            for k in range(8):
                out[k, i] = res[k]
            reasons[i] = 0
        else:
            n_bad += 1
            for k in range(8):
                out[k, i] = math.nan
    return n_bad


_main = numba.njit(
    parallel=True, cache=True, error_model="numpy", boundscheck=False, fastmath=_FAST_FLAGS
)(_main_pass)
_fixup = numba.njit(parallel=True, cache=True, error_model="numpy", boundscheck=False)(_fixup_pass)


def greeks_fast(
    under: np.ndarray,
    strike: np.ndarray,
    expiry: np.ndarray,
    rate: np.ndarray,
    dividend: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    bsm: bool,
    out: np.ndarray,
    reasons: np.ndarray,
) -> int:
    """Fill ``out[k, i]`` like ``greeks_strict``; return the number of invalid elements."""
    args = (under, strike, expiry, rate, dividend, vol, is_call, bsm, out, reasons)
    _main(*args)
    return int(_fixup(*args))
