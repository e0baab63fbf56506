"""CUDA backend (numba.cuda) behind the risk engine's ``backend="cuda"`` switch.

numba 0.68.1 (installed here) still ships its built-in ``numba.cuda`` target
(``numba.cuda.implementation == "Built-in"``), so nothing extra is needed to import this
module or to run the simulator. That target is deprecated upstream in favour of NVIDIA's
``numba-cuda`` package (https://numba.readthedocs.io/en/stable/cuda/overview.html); when
``numba-cuda`` is installed, ``from numba import cuda`` resolves to it and this module is
unchanged. A real GPU also needs the CUDA driver and NVVM/libdevice (CUDA toolkit).

Kernels:

* :func:`black76_greeks_cuda` — Black-76 price and seven Greeks, element for element the
  formulas of ``paraclear.risk._black_kernels`` (same validation codes, same limits at
  ``vol * sqrt(expiry) == 0``).
* :func:`gbm_features_cuda` — the GBM path-feature kernel of ``mc_paths``; it takes the
  same host-generated normals, so CPU and GPU simulate the *same* paths, and its per-path
  body is ``mc_paths.path_features`` compiled as a device function (one source for both).

What has been run where (keep this honest): every kernel here has only been run under
numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, Python on the CPU) in
``tests/risk/test_gpu.py``; none has yet run on a real GPU. On hardware, results should
agree with the CPU to a few ulps but not bit-for-bit (libdevice ``exp``/``erfc`` and FMA
contraction differ), so the CUDA path is for analytics, never for consensus marks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import cuda as _numba_cuda

from paraclear.risk.errors import BackendUnavailable, InputReason
from paraclear.risk.greeks import Greeks, raise_invalid
from paraclear.risk.mc_paths import path_features

FloatArray = npt.NDArray[np.float64]

#: numba.cuda is untyped (and partly generated at import); treat it as dynamic.
cuda: Any = _numba_cuda

#: Threads per CUDA block for the element-wise kernels.
THREADS_PER_BLOCK: int = 128

_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT2 = 0.7071067811865476
# InputReason codes as plain ints (device code freezes module globals).
_NAN_OR_INF = int(InputReason.NAN_OR_INF)
_BAD_UNDERLYING = int(InputReason.NON_POSITIVE_UNDERLYING)
_BAD_STRIKE = int(InputReason.NON_POSITIVE_STRIKE)
_BAD_EXPIRY = int(InputReason.NEGATIVE_EXPIRY)
_BAD_VOL = int(InputReason.NEGATIVE_VOL)


def cuda_available() -> bool:
    """Whether a CUDA device (or the simulator) is usable in this process."""
    try:
        return bool(cuda.is_available())
    except Exception:  # driver probing can raise anything; treat as unavailable
        return False


def require_cuda() -> None:
    """Return if CUDA is usable, else raise :class:`BackendUnavailable`."""
    if not cuda_available():
        raise BackendUnavailable("cuda", "no CUDA device or driver (numba.cuda.is_available())")


def _grid(n: int) -> int:
    return max(1, -(-n // THREADS_PER_BLOCK))


@cuda.jit(device=True)  # type: ignore[untyped-decorator]
def _reason(f: float, k: float, t: float, r: float, v: float) -> int:  # pragma: no cover
    if not (abs(f) < math.inf and abs(k) < math.inf and abs(t) < math.inf):
        return _NAN_OR_INF
    if not (abs(r) < math.inf and abs(v) < math.inf):
        return _NAN_OR_INF
    if not f > 0.0:
        return _BAD_UNDERLYING
    if not k > 0.0:
        return _BAD_STRIKE
    if not t >= 0.0:
        return _BAD_EXPIRY
    if not v >= 0.0:
        return _BAD_VOL
    return 0


@cuda.jit(device=True)  # type: ignore[untyped-decorator]
def _limit(
    f: float, k: float, t: float, r: float, v: float, sign: float, out: FloatArray, i: int
) -> None:  # pragma: no cover - device code
    """Black-76 limits when ``v sqrt(t) == 0`` (mirrors ``_black_kernels._limit_element``)."""
    df = math.exp(-r * t)
    x = math.log(f / k)
    w = 0.5 if x == 0.0 else (1.0 if sign * x > 0.0 else 0.0)
    price = sign * w * (f * df - k * df) + 0.0
    atm = x == 0.0
    sqrt_t = math.sqrt(t)
    out[0, i] = price
    out[1, i] = sign * w * df + 0.0
    out[2, i] = math.inf if (atm and v > 0.0) else 0.0
    out[3, i] = f * df * _INV_SQRT_2PI * sqrt_t if atm else 0.0
    decay = -math.inf if (atm and v > 0.0) else 0.0
    out[4, i] = decay - sign * w * (-r * f * df + r * k * df)
    out[5, i] = -t * price + 0.0
    out[6, i] = df * _INV_SQRT_2PI * 0.5 * sqrt_t if (atm and v == 0.0) else 0.0
    out[7, i] = 0.0


@cuda.jit
def _black76_kernel(fwd, strike, expiry, rate, vol, is_call, out, reasons):  # type: ignore[no-untyped-def]  # pragma: no cover
    i = cuda.grid(1)
    if i >= fwd.shape[0]:
        return
    f, k, t, r, v = fwd[i], strike[i], expiry[i], rate[i], vol[i]
    code = _reason(f, k, t, r, v)
    reasons[i] = code
    if code != 0:
        for j in range(8):
            out[j, i] = math.nan
        return
    sign = 1.0 if is_call[i] else -1.0
    sqrt_t = math.sqrt(t)
    s = v * sqrt_t
    if not s > 0.0:
        _limit(f, k, t, r, v, sign, out, i)
        return
    df = math.exp(-r * t)
    d1 = math.log(f / k) / s + 0.5 * s
    d2 = d1 - s
    n1 = 0.5 * math.erfc(-sign * d1 * _INV_SQRT2)
    n2 = 0.5 * math.erfc(-sign * d2 * _INV_SQRT2)
    pdf = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    f_df, k_df = f * df, k * df
    price = sign * (f_df * n1 - k_df * n2)
    vega = f_df * pdf * sqrt_t
    out[0, i] = price
    out[1, i] = sign * df * n1
    out[2, i] = df * pdf / (f * s)
    out[3, i] = vega
    out[4, i] = -0.5 * f_df * pdf * v / sqrt_t - sign * (-r * f_df * n1 + r * k_df * n2)
    out[5, i] = -t * price
    out[6, i] = -df * pdf * d2 / v
    out[7, i] = vega * d1 * d2 / v


def black76_greeks_cuda(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    expiry: npt.ArrayLike,
    rate: npt.ArrayLike,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> Greeks:
    """Black-76 price and Greeks on the GPU; same inputs, units and outputs as
    ``paraclear.risk.greeks.black76_greeks`` (inputs broadcast).

    Raises:
        BackendUnavailable: without a CUDA device (or the simulator).
        InvalidInputError: on invalid elements, as the CPU function.
    """
    require_cuda()
    arrays = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (forward, strike, expiry,
                                 rate, vol)), np.asarray(is_call, np.bool_))  # fmt: skip
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    n = flat[0].shape[0]
    out = np.empty((8, n))
    reasons = np.zeros(n, dtype=np.int8)
    if n:
        d_out, d_reasons = cuda.to_device(out), cuda.to_device(reasons)
        _black76_kernel[_grid(n), THREADS_PER_BLOCK](*flat, d_out, d_reasons)
        out, reasons = d_out.copy_to_host(), d_reasons.copy_to_host()
    n_bad = int(np.count_nonzero(reasons))
    if n_bad:
        raise_invalid(reasons, n_bad)
    return Greeks(*(row.reshape(shape) for row in out))


_path_features_device = cuda.jit(device=True)(path_features)


@cuda.jit
def _gbm_features_kernel(z, spot, drift_dt, vol, dt, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    p = cuda.grid(1)
    if p < z.shape[0]:
        _path_features_device(z, p, spot, drift_dt, vol, math.sqrt(dt), dt, out)


def gbm_features_cuda(
    z: FloatArray, spot: float, drift_dt: float, vol: float, dt: float, out: FloatArray
) -> None:
    """GPU twin of ``mc_paths.gbm_features_cpu``: fill ``out`` (n_paths, 9) from normals ``z``.

    Raises:
        BackendUnavailable: without a CUDA device (or the simulator).
    """
    require_cuda()
    d_z = cuda.to_device(np.ascontiguousarray(z))
    d_out = cuda.device_array((z.shape[0], out.shape[1]), dtype=np.float64)
    _gbm_features_kernel[_grid(z.shape[0]), THREADS_PER_BLOCK](d_z, spot, drift_dt, vol, dt, d_out)
    out[:] = d_out.copy_to_host()
