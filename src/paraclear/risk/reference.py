"""Readable scalar Black-76 pricing: the reference the vectorised kernels are checked against.

Prices are in the units of ``forward`` and ``strike``; ``expiry`` in years; ``vol`` per 1.00;
``rate`` continuously compounded per year.

>>> round(black76_price_scalar(100.0, 100.0, 1.0, 0.0, 0.2, True), 6)
7.965567
"""

from __future__ import annotations

import math


def norm_cdf(x: float) -> float:
    """Standard normal cumulative distribution function."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black76_price_scalar(
    forward: float, strike: float, expiry: float, rate: float, vol: float, is_call: bool
) -> float:
    """Discounted Black-76 price of a European option on a forward.

    At ``expiry == 0`` or ``vol == 0`` it is the discounted intrinsic value.
    Raises ValueError for a non-positive forward or strike, or a negative expiry or vol.
    """
    if not (forward > 0.0 and strike > 0.0 and expiry >= 0.0 and vol >= 0.0):
        raise ValueError(
            f"invalid Black-76 inputs: forward={forward}, strike={strike}, "
            f"expiry={expiry}, vol={vol}"
        )
    discount = math.exp(-rate * expiry)
    sign = 1.0 if is_call else -1.0
    deviation = vol * math.sqrt(expiry)
    if deviation == 0.0:
        return discount * max(sign * (forward - strike), 0.0)
    d1 = math.log(forward / strike) / deviation + 0.5 * deviation
    d2 = d1 - deviation
    return discount * sign * (forward * norm_cdf(sign * d1) - strike * norm_cdf(sign * d2))
