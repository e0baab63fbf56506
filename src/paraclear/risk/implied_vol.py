"""Implied volatility of European options after Jäckel's "Let's Be Rational" (2016).

Jäckel's structure — normalised Black, reduction to out-of-the-money calls, branch-wise
objective transforms (``ln b`` / ``b`` / ``ln(b_max − b)``) and Householder iterations of
order four — with our own accurate evaluation of b in its cancelling regions and our own
initial guesses (asymptotic inversions and a tangent instead of his rational-cubic
interpolation), so most solves take 2-3 evaluations rather than his 2; see
:mod:`._iv_kernels`. Prices are inverted element by element in a parallel numba loop in
strict IEEE arithmetic. Accuracy: the vol is recovered to 1e-12 relative wherever the
price pins it that well (``tests/risk/test_implied_vol.py`` defines this precisely).

Units: ``price`` in currency (discounted premium), ``expiry`` in years, ``rate`` and
``dividend`` continuously compounded annual decimals; the result is an annual vol
(0.2 = 20 %).

Elements that have no implied vol are **not** raised: they get ``vol = NaN`` and a reason
code (:class:`~paraclear.risk.errors.InputReason`): ``BELOW_INTRINSIC`` (price below the
discounted intrinsic value), ``ABOVE_UPPER_BOUND`` (price ≥ discounted forward for a call,
≥ discounted strike for a put), ``ZERO_EXPIRY``, and the invalid-input codes (NaN,
non-positive forward/strike, negative price). A price exactly at intrinsic gives vol 0.
Call :meth:`ImpliedVol.raise_if_invalid` to turn reasons into an exception.

>>> from paraclear.risk.greeks import bsm_price
>>> p = bsm_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True)
>>> round(float(implied_vol_bsm(p, 42.0, 40.0, 0.5, 0.10, 0.0, True).vol), 12)
0.2
>>> r = implied_vol_black76([0.0, 1.0, 200.0], 100.0, 90.0, 1.0, 0.0, True)
>>> r.reason.tolist()  # BELOW_INTRINSIC, BELOW_INTRINSIC, ABOVE_UPPER_BOUND
[7, 7, 8]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from paraclear.risk import _iv_kernels as _k
from paraclear.risk._threading import threads_pay
from paraclear.risk.errors import InputReason, InvalidInputError
from paraclear.risk.greeks import ArrayLike, FloatArray, broadcast_flat

__all__ = ["ImpliedVol", "implied_vol_black76", "implied_vol_bsm"]


@dataclass(frozen=True, slots=True)
class ImpliedVol:
    """Implied vols and, per element, why there is none (``InputReason``, 0 = OK).

    Both arrays have the broadcast shape of the inputs.
    """

    vol: FloatArray
    reason: npt.NDArray[np.int8]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Mask of elements that have an implied vol."""
        mask: npt.NDArray[np.bool_] = self.reason == InputReason.OK
        return mask

    def raise_if_invalid(self) -> None:
        """Raise :class:`InvalidInputError` listing elements that have no implied vol."""
        flat = self.reason.reshape(-1)
        bad = np.flatnonzero(flat)
        if bad.size:
            listed = bad[: InvalidInputError.MAX_LISTED]
            codes = [InputReason(int(flat[i])) for i in listed]
            raise InvalidInputError([int(i) for i in listed], codes, int(bad.size))


def _run(
    price: ArrayLike,
    under: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    is_call: ArrayLike,
    bsm: bool,
) -> ImpliedVol:
    shape, (p, u, k, t, r, q), call = broadcast_flat(
        (price, under, strike, expiry, rate, dividend), is_call
    )
    vol = np.empty(p.shape[0], dtype=np.float64)
    reason = np.empty(p.shape[0], dtype=np.int8)
    kernel = _k.implied_vol_loop if threads_pay(p.shape[0]) else _k.implied_vol_loop_serial
    kernel(p, u, k, t, r, q, call, bsm, vol, reason)
    return ImpliedVol(vol.reshape(shape), reason.reshape(shape))


def implied_vol_black76(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
) -> ImpliedVol:
    """Black-76 implied vol of discounted option prices on a forward; inputs broadcast.

    Never raises for bad elements: see the module docstring for the reason codes.
    """
    return _run(price, forward, strike, expiry, rate, rate, is_call, False)


def implied_vol_bsm(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    expiry: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    is_call: ArrayLike,
) -> ImpliedVol:
    """Black-Scholes-Merton implied vol (forward ``spot·e^{(rate−dividend)·expiry}``).

    Never raises for bad elements: see the module docstring for the reason codes.
    """
    return _run(price, spot, strike, expiry, rate, dividend, is_call, True)
