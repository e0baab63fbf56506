"""Numba kernels: generalised Black-Scholes (cost of carry ``b``) prices and eight outputs.

One fused loop per call: each element computes ``d1``/``d2``, two normal CDFs, one normal
density and writes price, delta, gamma, vega, theta, rho, vanna, volga. Black-76 is the
case ``b = 0`` with the forward as underlying; Black-Scholes-Merton has ``b = r - q``.

``greeks_strict`` — no fast-math, libm ``exp``/``log``/``erfc``: strict IEEE, used for marks
that enter consensus. Elements are independent and no float is reduced across elements, so
results are bit-identical for any thread count. The fast-math variant for analytics is
``_black_fast.greeks_fast`` (vectorisable, without libm); its second pass,
``fixup_limits``, lives here next to ``_limit_element``.

Each loop is compiled twice: parallel over ``numba.prange`` (``greeks_strict``...) and
serial (``..._serial``) for batches too small to pay for threads (``_threading.threads_pay``).

Validation happens inside the loop: an invalid element gets NaN outputs and a non-zero
``InputReason`` code in ``reasons``; the kernel returns how many elements were invalid.
Elements with zero total volatility ``vol * sqrt(expiry) == 0`` take the limiting values
(``_limit_element``): intrinsic value, step delta, and ``gamma = +inf``/``theta = -inf``
exactly at the money at expiry.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from paraclear.numba_cache import renamed

_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT2 = 0.7071067811865476


@numba.njit(cache=True, fastmath=False, error_model="numpy", boundscheck=False, inline="always")
def _reason(
    under: float, strike: float, expiry: float, rate: float, dividend: float, vol: float
) -> int:
    """Return the ``InputReason`` code of one element (0 when valid)."""
    finite = (
        abs(under) < math.inf
        and abs(strike) < math.inf
        and abs(expiry) < math.inf
        and abs(rate) < math.inf
        and abs(dividend) < math.inf
        and abs(vol) < math.inf
    )
    if not finite:
        return 1
    if not under > 0.0:
        return 2
    if not strike > 0.0:
        return 3
    if not expiry >= 0.0:
        return 4
    if not vol >= 0.0:
        return 5
    return 0


@numba.njit(cache=True, fastmath=False, error_model="numpy", boundscheck=False)
def _limit_element(
    under: float,
    strike: float,
    expiry: float,
    rate: float,
    carry: float,
    vol: float,
    sign: float,
    bsm: bool,
) -> tuple[float, float, float, float, float, float, float, float]:
    """Limits of all eight outputs when ``vol * sqrt(expiry) == 0`` (expired or zero vol)."""
    df = math.exp(-rate * expiry)
    cf = math.exp((carry - rate) * expiry)
    x = math.log(under / strike) + carry * expiry
    # weight of N(d1) = N(d2): 1 in the money, 0 out of it, 1/2 exactly at the money
    w = 0.5 if x == 0.0 else (1.0 if sign * x > 0.0 else 0.0)
    s_cf = under * cf
    k_df = strike * df
    price = sign * w * (s_cf - k_df) + 0.0  # + 0.0 turns -0.0 into +0.0
    delta = sign * w * cf + 0.0
    sqrt_t = math.sqrt(expiry)
    atm = x == 0.0
    gamma = math.inf if (atm and vol > 0.0) else 0.0
    vega = s_cf * _INV_SQRT_2PI * sqrt_t if atm else 0.0
    time_decay = 0.0
    if atm and vol > 0.0:
        time_decay = -math.inf
    theta = time_decay - sign * w * ((carry - rate) * s_cf + rate * k_df)
    rho = (sign * w * strike * expiry * df if bsm else -expiry * price) + 0.0
    vanna = cf * _INV_SQRT_2PI * 0.5 * sqrt_t if (atm and vol == 0.0) else 0.0
    return price, delta, gamma, vega, theta, rho, vanna, 0.0


@numba.njit(cache=True, fastmath=False, error_model="numpy", boundscheck=False, inline="always")
def _normals(
    under: float,
    strike: float,
    expiry: float,
    rate: float,
    carry: float,
    sign: float,
    total_vol: float,
    bsm: bool,
) -> tuple[float, float, float, float, float, float]:
    """``df, cf, d1, d2, N(sign·d1), N(sign·d2)`` of one valid element with ``total_vol > 0``:
    the shared start of ``_greeks_loop`` and ``_price_loop`` (same operations, same order)."""
    df = math.exp(-rate * expiry)
    cf = math.exp((carry - rate) * expiry) if bsm else df
    d1 = (math.log(under / strike) + carry * expiry) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    n1 = 0.5 * math.erfc(-sign * d1 * _INV_SQRT2)
    n2 = 0.5 * math.erfc(-sign * d2 * _INV_SQRT2)
    return df, cf, d1, d2, n1, n2


def _greeks_loop(
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
    """Fill ``out[k, i]`` (k = price, delta, gamma, vega, theta, rho, vanna, volga)."""
    n = under.shape[0]
    n_bad = 0
    for i in numba.prange(n):
        S = under[i]
        K = strike[i]
        T = expiry[i]
        r = rate[i]
        q = dividend[i]
        sigma = vol[i]
        code = _reason(S, K, T, r, q, sigma)
        reasons[i] = code
        if code != 0:
            n_bad += 1
            for k in range(8):
                out[k, i] = math.nan
            continue
        b = r - q if bsm else 0.0
        sign = 1.0 if is_call[i] else -1.0
        sqrt_t = math.sqrt(T)
        s = sigma * sqrt_t
        if not s > 0.0:
            res = _limit_element(S, K, T, r, b, sigma, sign, bsm)
            for k in range(8):
                out[k, i] = res[k]
            continue
        df, cf, d1, d2, n1, n2 = _normals(S, K, T, r, b, sign, s, bsm)
        pdf = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
        s_cf = S * cf
        k_df = K * df
        price = sign * (s_cf * n1 - k_df * n2)
        vega = s_cf * pdf * sqrt_t
        out[0, i] = price
        out[1, i] = sign * cf * n1
        out[2, i] = cf * pdf / (S * s)
        out[3, i] = vega
        carry_decay = (b - r) * s_cf * n1 + r * k_df * n2
        out[4, i] = -0.5 * s_cf * pdf * sigma / sqrt_t - sign * carry_decay
        out[5, i] = sign * K * T * df * n2 if bsm else -T * price
        out[6, i] = -cf * pdf * d2 / sigma
        out[7, i] = vega * d1 * d2 / sigma
    return n_bad


greeks_strict = numba.njit(
    parallel=True, cache=True, error_model="numpy", boundscheck=False, fastmath=False
)(_greeks_loop)
greeks_strict_serial = numba.njit(
    cache=True, error_model="numpy", boundscheck=False, fastmath=False
)(renamed(_greeks_loop, "_greeks_loop_serial"))


def _price_loop(
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
    """Price only into ``out[0]``: the same operations as ``_greeks_loop``'s price, in the
    same order, so the two agree bit for bit (tested), with three libm calls fewer."""
    n_bad = 0
    for i in numba.prange(under.shape[0]):
        S = under[i]
        K = strike[i]
        T = expiry[i]
        r = rate[i]
        q = dividend[i]
        sigma = vol[i]
        code = _reason(S, K, T, r, q, sigma)
        reasons[i] = code
        if code != 0:
            n_bad += 1
            out[0, i] = math.nan
            continue
        b = r - q if bsm else 0.0
        sign = 1.0 if is_call[i] else -1.0
        s = sigma * math.sqrt(T)
        if not s > 0.0:
            out[0, i] = _limit_element(S, K, T, r, b, sigma, sign, bsm)[0]
            continue
        df, cf, _, _, n1, n2 = _normals(S, K, T, r, b, sign, s, bsm)
        out[0, i] = sign * (S * cf * n1 - K * df * n2)
    return n_bad


price_strict = numba.njit(
    parallel=True, cache=True, error_model="numpy", boundscheck=False, fastmath=False
)(_price_loop)
price_strict_serial = numba.njit(
    cache=True, error_model="numpy", boundscheck=False, fastmath=False
)(renamed(_price_loop, "_price_loop_serial"))


LIMIT = 127
"""Temporary ``reasons`` code of the fast kernel: element needs its zero-vol limits."""


def _fixup_loop(
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


fixup_limits = numba.njit(parallel=True, cache=True, error_model="numpy", boundscheck=False)(
    _fixup_loop
)
fixup_limits_serial = numba.njit(cache=True, error_model="numpy", boundscheck=False)(
    renamed(_fixup_loop, "_fixup_loop_serial")
)
