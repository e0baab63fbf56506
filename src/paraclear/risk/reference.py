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


def black76_greeks_scalar(
    forward: float, strike: float, expiry: float, vol: float, is_call: bool
) -> tuple[float, float, float, float]:
    """(delta, gamma, vega, theta) of one option at rate 0, per unit of forward, per 1.00 of
    vol and per year: what a caller with a handful of series needs without launching a
    kernel. At ``expiry == 0`` or ``vol == 0``: delta is the intrinsic value's slope, and
    gamma, vega and theta are 0. Raises ValueError as ``black76_price_scalar``.

    >>> [round(g, 6) for g in black76_greeks_scalar(100.0, 100.0, 1.0, 0.2, True)]
    [0.539828, 0.019848, 39.695255, -3.969525]
    """
    black76_price_scalar(forward, strike, expiry, 0.0, vol, is_call)  # checks the inputs
    deviation = vol * math.sqrt(expiry)
    if deviation == 0.0:
        in_the_money = forward > strike if is_call else forward < strike
        return (1.0 if is_call else -1.0) if in_the_money else 0.0, 0.0, 0.0, 0.0
    d1 = math.log(forward / strike) / deviation + 0.5 * deviation
    density = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    delta = norm_cdf(d1) if is_call else norm_cdf(d1) - 1.0
    gamma = density / (forward * deviation)
    vega = forward * density * math.sqrt(expiry)
    theta = -forward * density * vol / (2.0 * math.sqrt(expiry))
    return delta, gamma, vega, theta
