"""Perpetual marks and funding, in integers.

**Mark.** The block producer measures the perpetual's book and puts two integers into the
oracle transaction: the *impact bid* and *impact ask*, the average prices at which
``IMPACT_NOTIONAL`` of the perpetual would sell into the bids and buy from the asks (as
Hyperliquid samples its book for funding). The mark is their mid clamped to a band of
``MARK_BAND_PPM`` around the index value of one contract::

    mark = clamp((impact_bid + impact_ask) / 2, index × (1 − band), index × (1 + band))

This is Hyperliquid's first mark component, oracle + (book mid − oracle), with a hard clamp
in place of its EMA and median: a thin or spoofed book cannot move the mark (and so margin
and liquidation) more than the band away from the index. With no impact prices (no book),
the mark is the index.

**Funding.** Each oracle update stores the premium ``(mark − index) / index`` (ppm) in force,
and the premium is integrated over time (``PremiumAccumulator``). A Funding transaction,
at most once per ``FUNDING_INTERVAL`` (an hour), pays the time-weighted average premium of
the period divided by 8, capped at the house's ``max_funding_rate_ppm`` per hour: Hyperliquid
computes an 8-hour rate from the average premium and pays one eighth of it every hour
(https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding). Longs pay shorts when
the mark is above the index. The payment moves the cumulative per-lot funding index of
``MarkData``, which positions settle lazily.
"""

from __future__ import annotations

from typing import Final

from paraclear.clearing.records import PremiumAccumulator
from paraclear.numbers import PPM

MARK_BAND_PPM: Final = 10_000
"""The mark stays within ±1 % of the index."""
FUNDING_INTERVAL: Final = 3_600
"""Seconds between funding payments."""
FUNDING_DIVISOR: Final = 8
"""The hourly rate is this fraction of the average premium (an 8-hour rate paid hourly)."""
IMPACT_NOTIONAL: Final = 20_000 * 1_000_000
"""Micro-USDC the block producer walks into each side of the book for impact prices."""


def perpetual_mark(index_value: int, impact_bid: int, impact_ask: int) -> int:
    """The mark of one contract (micro-USDC) from the index value of one contract and the
    impact prices (0 and 0: no book, the mark is the index)."""
    if not impact_bid or not impact_ask:
        return index_value
    band = index_value * MARK_BAND_PPM // PPM
    mid = (impact_bid + impact_ask) // 2
    return min(max(mid, index_value - band), index_value + band)


def premium_ppm(mark: int, index_value: int) -> int:
    """``(mark − index) / index`` in ppm, rounded toward zero."""
    difference = (mark - index_value) * PPM
    magnitude = abs(difference) // index_value
    return magnitude if difference >= 0 else -magnitude


def accrue(accumulator: PremiumAccumulator, now: int, premium: int) -> PremiumAccumulator:
    """The accumulator with the premium in force integrated up to ``now``, and ``premium``
    in force from ``now`` on."""
    held = max(now - accumulator.time, 0)
    return PremiumAccumulator(
        accumulator.start,
        max(now, accumulator.time),
        premium,
        accumulator.integral + accumulator.premium_ppm * held,
    )


def funding_rate(accumulator: PremiumAccumulator, now: int, cap_ppm: int) -> int:
    """The hourly rate (ppm) for the period ``[start, now)``: the average premium / 8,
    rounded toward zero, capped at ``±cap_ppm``. ``now`` must be after ``start``."""
    integral = accrue(accumulator, now, accumulator.premium_ppm).integral
    divisor = (now - accumulator.start) * FUNDING_DIVISOR
    rate = abs(integral) // divisor
    rate = min(rate, cap_ppm)
    return rate if integral >= 0 else -rate
