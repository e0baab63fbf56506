"""Vectorised European option prices and Greeks: Black-76 (forwards) and Black-Scholes-Merton.

Units (stated once, used everywhere in this module):

* ``expiry`` in years (ACT/365 is the caller's choice; ``units.DAYS_PER_YEAR = 365``).
* ``rate``, ``dividend`` and ``vol`` are continuously compounded annual decimals
  (0.05 = 5 %).
* ``price`` in the currency of the underlying/strike.
* ``delta`` = ∂V/∂S (BSM) or ∂V/∂F (Black-76); ``gamma`` the second derivative.
* ``vega`` = ∂V/∂σ per 1.00 of vol; ``volga`` = ∂²V/∂σ²; ``vanna`` = ∂²V/∂S∂σ (∂F∂σ).
* ``theta`` = ∂V/∂t per year as calendar time passes (= −∂V/∂expiry), normally negative.
* ``rho`` = ∂V/∂r per 1.00 of rate. For BSM the forward moves with the rate (spot fixed).
  For **Black-76 the forward is held fixed**, so only discounting moves and
  ``rho = -expiry * price``.

Use :mod:`paraclear.risk.units` to convert to per-day theta and per-1 % vega/rho.

At ``expiry == 0`` (or ``vol == 0``) the outputs are the limits: intrinsic value, step
delta (one half exactly at the money), zero gamma/vega/vanna/volga away from the strike,
and ``gamma = +inf``, ``theta = -inf`` exactly at the money at expiry with positive vol.

Two kernel modes: :attr:`KernelMode.STRICT` (IEEE, no fast-math, bit-identical for any
thread count; the clearing house computes marks with it) and :attr:`KernelMode.FAST`
(fast-math, vectorised libm-free ``exp``/``log``/``erfc`` of :mod:`._black_fast`, for analytics;
agrees with strict to ~1e-13 relative, less where outputs are differences of terms).
Both are numba loops parallel over elements.

Example (Hull, *Options, Futures and Other Derivatives*, ex. 15.6):

>>> g = bsm_greeks(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True)
>>> round(float(g.price), 4)
4.7594
>>> round(float(bsm_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, False)), 4)
0.8086
"""

from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from paraclear.risk import _black_fast as _fast
from paraclear.risk import _black_kernels as _k
from paraclear.risk._threading import threads_pay
from paraclear.risk.errors import BackendUnavailable, InputReason, InvalidInputError

__all__ = [
    "Backend",
    "Greeks",
    "KernelMode",
    "black76_greeks",
    "black76_price",
    "bsm_greeks",
    "bsm_price",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike
Backend = Literal["cpu", "cuda"]


class KernelMode(Enum):
    """Which compilation of the kernels to run."""

    STRICT = "strict"
    """IEEE arithmetic, no fast-math; deterministic across thread counts (consensus marks)."""
    FAST = "fast"
    """Fast-math (reassociation, contraction, approximate functions); analytics only."""


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and Greeks of a batch of options, each an array of the broadcast input shape.

    Units as in the module docstring: per year, per 1.00 of vol and of rate.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    vanna: FloatArray
    volga: FloatArray


def broadcast_flat(
    arrays: tuple[ArrayLike, ...], is_call: ArrayLike
) -> tuple[tuple[int, ...], list[FloatArray], npt.NDArray[np.bool_]]:
    """Broadcast all inputs together; return the shape and flat contiguous float64 arrays.

    Inputs already of the full shape are used as they are (no copy when float64 and
    contiguous); smaller ones are expanded into fresh arrays. Nothing handed to the
    kernels is a read-only broadcast view (numba would compile a separate specialisation).
    """
    floats = [np.asarray(a, dtype=np.float64) for a in arrays]
    flags = np.asarray(is_call, dtype=np.bool_)
    shape = flags.shape
    if any(a.shape != shape for a in floats):  # (np.broadcast_shapes costs microseconds)
        shape = np.broadcast_shapes(shape, *(a.shape for a in floats))

    def expand(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if a.shape != shape:
            a = np.broadcast_to(a, shape).copy()
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        return a.reshape(-1)

    return shape, [expand(a) for a in floats], expand(flags)


_REUSE_LOCK = threading.Lock()
_LAUNCH_LOCK = threading.Lock()
"""Held while a CPU kernel runs: numba's workqueue threading layer aborts the process when
two threads launch parallel kernels at once (the API's Greeks while the block producer
prices marks, or the simulation's makers)."""
_REUSABLE: dict[int, tuple[FloatArray, npt.NDArray[np.int8]]] = {}
_MIN_REUSE = 65_536
"""Batches at least this large reuse their output block (see :func:`_buffers`)."""


def _buffers(rows: int, n: int) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Output block ``(rows, n)`` and a reasons array for one kernel call.

    Fresh large allocations cost page faults (64 MB per million options for the Greeks),
    as much as a third of the fast kernel's time. So the last large block of each height is
    kept and handed out again, but only when no caller still holds a view of it: the
    returned ``Greeks`` fields are views of the block, so the block's reference count
    tells (2 = the cache entry and ``getrefcount``'s argument). Otherwise a new block is
    allocated and becomes the cached one. The reasons array never leaves this module.
    """
    if n < _MIN_REUSE:
        return np.empty((rows, n)), np.empty(n, dtype=np.int8)
    with _REUSE_LOCK:
        cached = _REUSABLE.get(rows)
        if cached is not None and cached[0].shape[1] == n and sys.getrefcount(cached[0]) == 2:
            return cached
        fresh = (np.empty((rows, n)), np.empty(n, dtype=np.int8))
        _REUSABLE[rows] = fresh
        return fresh


def raise_invalid(reasons: npt.NDArray[np.int8], n_bad: int) -> None:
    """Raise :class:`InvalidInputError` listing the first offending flat indices."""
    bad = np.flatnonzero(reasons)[: InvalidInputError.MAX_LISTED]
    codes = [InputReason(int(reasons[i])) for i in bad]
    raise InvalidInputError([int(i) for i in bad], codes, n_bad)


def _gpu_module(backend: Backend, mode: KernelMode, bsm: bool) -> ModuleType | None:
    """Return ``paraclear.risk.gpu`` if ``backend`` is ``"cuda"``, ``None`` for ``"cpu"``.

    The CUDA kernels live in ``paraclear.risk.gpu`` (owned separately). They are not
    bit-for-bit equal to the CPU (libdevice functions, FMA), so they serve analytics only:
    strict mode and BSM stay on the CPU.

    Raises:
        BackendUnavailable: unknown backend, strict mode or BSM on CUDA, or no gpu module.
    """
    if backend == "cpu":
        return None
    if backend != "cuda":
        raise BackendUnavailable(str(backend), "unknown backend; use 'cpu' or 'cuda'")
    if mode is KernelMode.STRICT:
        raise BackendUnavailable("cuda", "strict (consensus) mode runs on the CPU only")
    if bsm:
        raise BackendUnavailable("cuda", "only Black-76 has a CUDA kernel")
    try:
        return importlib.import_module("paraclear.risk.gpu")
    except ImportError as exc:
        raise BackendUnavailable("cuda", f"paraclear.risk.gpu not importable: {exc}") from exc


def _run(
    under: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    bsm: bool,
    mode: KernelMode,
    backend: Backend,
) -> Greeks:
    """Dispatch to the GPU, or flatten inputs and run the chosen CPU kernel."""
    gpu = _gpu_module(backend, mode, bsm)
    if gpu is not None:
        result: Greeks = gpu.black76_greeks_cuda(under, strike, expiry, rate, vol, is_call)
        return result
    shape, (s, k, t, r, q, v), flags = broadcast_flat(
        (under, strike, expiry, rate, dividend, vol), is_call
    )
    out, reasons = _buffers(8, s.shape[0])
    if mode is not KernelMode.STRICT:
        kernel = _fast.greeks_fast
    elif threads_pay(s.shape[0]):
        kernel = _k.greeks_strict
    else:
        kernel = _k.greeks_strict_serial
    with _LAUNCH_LOCK:
        n_bad = kernel(s, k, t, r, q, v, flags, bsm, out, reasons)
    if n_bad:
        raise_invalid(reasons, n_bad)
    rows = [row.reshape(shape) for row in out]
    return Greeks(*rows)


def black76_greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    mode: KernelMode = KernelMode.STRICT,
    backend: Backend = "cpu",
) -> Greeks:
    """Black-76 price and Greeks of discounted options on a forward; inputs broadcast.

    ``backend="cuda"`` (with ``mode=KernelMode.FAST`` only) runs ``paraclear.risk.gpu``.

    ``delta``/``gamma``/``vanna`` are with respect to the forward. ``rho`` holds the
    forward fixed: ``rho = -expiry * price``. Units: see the module docstring.

    Raises:
        InvalidInputError: an input is NaN/inf, forward or strike ≤ 0, expiry or vol < 0.
        BackendUnavailable: ``backend`` is not ``"cpu"`` and cannot run here.

    >>> g = black76_greeks(100.0, 100.0, 1.0, 0.0, 0.2, True)
    >>> round(float(g.price), 6), round(float(g.delta), 6)
    (7.965567, 0.539828)
    """
    return _run(forward, strike, expiry, rate, rate, vol, is_call, False, mode, backend)


def _price(
    under: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    bsm: bool,
    mode: KernelMode,
    backend: Backend,
) -> FloatArray:
    """Price for ``black76_price``/``bsm_price``: in strict mode on the CPU the price-only
    kernel, bit-identical to the strict Greeks' ``price``; otherwise ``_run(...).price``."""
    if mode is not KernelMode.STRICT or backend != "cpu":
        return _run(under, strike, expiry, rate, dividend, vol, is_call, bsm, mode, backend).price
    shape, (s, k, t, r, q, v), flags = broadcast_flat(
        (under, strike, expiry, rate, dividend, vol), is_call
    )
    out, reasons = _buffers(1, s.shape[0])
    with _LAUNCH_LOCK:
        kernel = _k.price_strict if threads_pay(s.shape[0]) else _k.price_strict_serial
        n_bad = kernel(s, k, t, r, q, v, flags, bsm, out, reasons)
    if n_bad:
        raise_invalid(reasons, n_bad)
    price: FloatArray = out[0].reshape(shape)
    return price


def black76_price(
    forward: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    mode: KernelMode = KernelMode.STRICT,
    backend: Backend = "cpu",
) -> FloatArray:
    """Black-76 price only; raises as :func:`black76_greeks`.

    In strict mode on the CPU a price-only kernel runs (three libm calls fewer per option),
    bit-identical to ``black76_greeks(...).price``.
    """
    return _price(forward, strike, expiry, rate, rate, vol, is_call, False, mode, backend)


def bsm_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    mode: KernelMode = KernelMode.STRICT,
    backend: Backend = "cpu",
) -> Greeks:
    """Black-Scholes-Merton price and Greeks with a continuous dividend/borrow yield.

    The forward is ``spot * exp((rate - dividend) * expiry)``; ``rho`` moves the rate with
    spot and dividend fixed. Units: see the module docstring.

    Raises:
        InvalidInputError: an input is NaN/inf, spot or strike ≤ 0, expiry or vol < 0.
        BackendUnavailable: ``backend`` is not ``"cpu"`` and cannot run here.
    """
    return _run(spot, strike, expiry, rate, dividend, vol, is_call, True, mode, backend)


def bsm_price(
    spot: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    mode: KernelMode = KernelMode.STRICT,
    backend: Backend = "cpu",
) -> FloatArray:
    """BSM price only; raises as :func:`bsm_greeks`; strict CPU runs the price-only kernel."""
    return _price(spot, strike, expiry, rate, dividend, vol, is_call, True, mode, backend)
