"""Fast-math Black-Scholes kernel: branch-free main loop that LLVM vectorises (AVX2).

Same formulas, outputs, validation codes and limits as ``_black_kernels.greeks_strict``,
but ``exp``/``log``/``erfc`` are the libm-free versions below and the loop body has no
function calls or data-dependent branches, so LLVM can vectorise it:

1. Main pass (parallel, vectorisable): every element is computed as if valid, with invalid
   or zero-total-vol elements fed harmless substitute inputs; ``reasons`` gets the
   validation code, or ``LIMIT`` where ``vol·√expiry == 0`` needs the limiting values.
2. Fix-up pass (``_black_kernels.fixup_limits``, parallel, scalar, cheap; skipped when the
   main pass counted no flagged element): elements flagged
   in pass 1 get NaN (invalid) or their limits; the invalid ones are counted.

Analytics only (fast-math reassociates): consensus marks use the strict kernel.

The libm-free functions live in this file, and the jitted code here uses nothing jitted
elsewhere: numba's on-disk cache tracks only the kernel's own file, so a helper in another
file could change without invalidating it.

numba calls libm for ``math.exp``/``math.log``/``math.erfc``; without Intel SVML (absent
from this llvmlite build) such calls cannot be vectorised, and they dominate the cost of
a Black-Scholes element. These versions are plain arithmetic, integer bit operations and
``floor``/``sqrt``, all of which map onto AVX2 instructions:

* ``exp_fast``: Cody-Waite reduction ``x = k ln2 + r``, ``|r| ≤ ln2/2``, a degree-12 Taylor
  polynomial (truncation < 2e-16 relative), and ``2^k`` built from exponent bits as two
  factors so that gradual underflow down to ``exp(−745)`` behaves; ~1-2 ulp.
* ``log_fast`` (positive normal inputs): ``y = m·2^e`` with ``m ∈ [√½, √2)`` and
  ``ln m = 2 atanh((m−1)/(m+1))`` summed to ``z²³``; ~1-2 ulp.
* ``erfcx_fast``: ``e^{a²} erfc(a) = t·Q(t)`` for ``a ≥ 0`` with ``t = 2/(2+a)`` and ``Q``
  the degree-27 Chebyshev interpolant of ``erfcx(a)/t`` on ``t ∈ [0, 1]`` (128 nodes,
  50-digit mpmath; relative error ≤ 1e-15 + 4e-15·a, below the conditioning ``ε·a²`` of
  the ``exp(−a²)`` factor it multiplies), rewritten in powers of ``u = 2t − 1`` and
  evaluated by Estrin's scheme (``tests/risk/test_greeks_fast_math.py`` refits it).
  ``norm_cdf_fast(d, exp(−d²/2))`` multiplies by a Gaussian factor the caller already
  has: the Black kernel needs ``exp(−d1²/2)`` for the density anyway and gets
  ``exp(−d2²/2) = exp(−d1²/2)·F/K`` from it, so two CDFs and the density cost one ``exp``.

Integer ↔ float conversions use the magic constant ``1.5·2^52`` instead of
``cvt`` instructions, which AVX2 lacks for 64-bit integers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.extending import intrinsic

from paraclear.numba_cache import renamed
from paraclear.risk._black_kernels import LIMIT, fixup_limits, fixup_limits_serial
from paraclear.risk._threading import threads_pay

_F = TypeVar("_F", bound=Callable[..., object])

_FAST_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nnan/ninf: NaN checks stay
_INV_SQRT_2PI = 0.3989422804014327

_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_INV_LN2 = 1.4426950408889634
_MAGIC = 6755399441055744.0  # 1.5 * 2**52: adding it leaves an integer in the low bits
_EXP_MIN = -1400.0
_EXP_MAX = 709.8
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_EXP_TAYLOR = np.array([1.0 / math.factorial(n) for n in range(13)])
_ERFCX_POLY = np.array([
    0.5107913526210115, 0.34358034220690525, 0.13973604627802688, 0.018221115753442495,
    -0.010755330944716365, -0.0032395925339865133, 0.0015453060290576436,
    0.0004186480332964868, -0.00033153674761946043, -1.7185737594548938e-05,
    7.223535061438543e-05, -1.7074336530735702e-05, -1.0848057268891096e-05,
    8.060040491028146e-06, -5.628166935192924e-07, -1.8208078384029821e-06,
    1.00091858626541e-06, -3.0587196456747096e-09, -2.855481823834117e-07,
    1.6491163111184633e-07, -1.6982724012935667e-09, -5.760146697175624e-08,
    2.9041985444209086e-08, 6.353864669505139e-09, -9.744756625932259e-09,
    1.2284536350186566e-09, 1.2051665995883637e-09, -3.3888695546308687e-10,
])  # fmt: skip


def _inline(func: _F) -> _F:
    """Compile for inlining into the fast-math kernels."""
    jitted = numba.njit(cache=True, inline="always", error_model="numpy")
    return cast(_F, jitted(func))


@intrinsic
def _float_bits(typingctx: Any, value: Any) -> Any:
    """Reinterpret a float64 as its int64 bit pattern."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx: Any, value: Any) -> Any:
    """Reinterpret an int64 bit pattern as a float64."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


float_bits = cast(Callable[[float], int], _float_bits)
bits_float = cast(Callable[[int], float], _bits_float)


@_inline
def _pow2(k: float) -> float:
    """``2^k`` for integral ``k`` in [−1022, 1023], from exponent bits."""
    return bits_float((float_bits(k + (1023.0 + _MAGIC)) << 52) & 0x7FF0000000000000)


@_inline
def exp_fast(x: float) -> float:
    """``e^x`` without libm; ``x`` must not be NaN (clamped to [−1400, 709.8])."""
    x = min(max(x, _EXP_MIN), _EXP_MAX)
    k: float = np.floor(x * _INV_LN2 + 0.5)  # np.floor stays float; math.floor: int
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p: float = _EXP_TAYLOR[12]
    for n in range(11, -1, -1):
        p = p * r + _EXP_TAYLOR[n]
    half: float = np.floor(0.5 * k)
    return p * _pow2(half) * _pow2(k - half)


@_inline
def log_fast(y: float) -> float:
    """``ln y`` without libm for positive normal ``y``."""
    bits = float_bits(y)
    m = bits_float((bits & _MANTISSA) | _ONE_BITS)
    e = bits_float(((bits >> 52) & 0x7FF) | 0x4330000000000000) - (4503599627370496.0 + 1023.0)
    big = m > 1.4142135623730951
    m = 0.5 * m if big else m
    e = e + 1.0 if big else e
    z = (m - 1.0) / (m + 1.0)
    z2 = z * z
    p = 1.0 / 23.0
    for n in range(21, 0, -2):
        p = p * z2 + 1.0 / n
    return e * _LN2_HI + (e * _LN2_LO + 2.0 * z * p)


@_inline
def _pairs(u: float, lo: int) -> float:
    """``a[lo] + a[lo+1]·u`` with ``a = _ERFCX_POLY`` (first level of Estrin's scheme)."""
    value: float = _ERFCX_POLY[lo] + _ERFCX_POLY[lo + 1] * u
    return value


@_inline
def erfcx_fast(a: float) -> float:
    """Scaled complementary error function ``e^{a²} erfc(a)`` for ``a ≥ 0``, without libm.

    Evaluates the degree-27 polynomial by Estrin's scheme (depth 5 instead of Horner's 27
    dependent steps); its monomial coefficients sum to 1.03 in absolute value against a
    minimum value of 0.28 on ``[−1, 1]``, so the evaluation loses at most a few ulps.
    """
    t = 2.0 / (2.0 + a)
    u = 2.0 * t - 1.0
    u2 = u * u
    u4 = u2 * u2
    u8 = u4 * u4
    r0 = _pairs(u, 0) + _pairs(u, 2) * u2
    r1 = _pairs(u, 4) + _pairs(u, 6) * u2
    r2 = _pairs(u, 8) + _pairs(u, 10) * u2
    r3 = _pairs(u, 12) + _pairs(u, 14) * u2
    r4 = _pairs(u, 16) + _pairs(u, 18) * u2
    r5 = _pairs(u, 20) + _pairs(u, 22) * u2
    r6 = _pairs(u, 24) + _pairs(u, 26) * u2
    low = (r0 + r1 * u4) + (r2 + r3 * u4) * u8
    high = (r4 + r5 * u4) + r6 * u8
    value: float = t * (low + high * (u8 * u8))
    return value


@_inline
def norm_cdf_fast(d: float, gauss: float) -> float:
    """``Φ(d)`` given ``gauss = exp(−d²/2)`` (computed or derived by the caller)."""
    tail = 0.5 * erfcx_fast(abs(d) * 0.7071067811865476) * gauss
    return tail if d <= 0.0 else 1.0 - tail


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
) -> int:
    flagged = 0
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
        flagged += 1 if code != 0 else 0
    return flagged


_main = numba.njit(
    parallel=True, cache=True, error_model="numpy", boundscheck=False, fastmath=_FAST_FLAGS
)(_main_pass)
_main_serial = numba.njit(cache=True, error_model="numpy", boundscheck=False, fastmath=_FAST_FLAGS)(
    renamed(_main_pass, "_main_pass_serial")
)


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
    threads = threads_pay(under.shape[0])
    if (_main if threads else _main_serial)(*args) == 0:  # clean: skip the fix-up pass
        return 0
    return int((fixup_limits if threads else fixup_limits_serial)(*args))
