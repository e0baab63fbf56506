"""Marks and risk arrays: the one door through which floats from the risk engine enter state.

For all series of an underlying at once (one vectorised call each):

* an option's mark is its Black-76 value (rate 0, forward = index) with the oracle's smile,
  ``vol(k) = atm + skew × ln(K/F)`` floored at 1 %, from the strict-IEEE kernel, rounded to
  the nearest micro-USDC per contract; an expired option is marked at its exact intrinsic
  value; a perpetual at the index;
* every series' risk arrays (``paraclear.risk.scenarios.risk_arrays`` on the default grid),
  integers rounded against the holder, for portfolio margin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np

from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.records import MIN_VOL_PPM, OracleData
from paraclear.numbers import PPM, PRICE_SCALE, SIZE_SCALE
from paraclear.risk.greeks import KernelMode, black76_price
from paraclear.risk.scenarios import SeriesKind, risk_arrays

SECONDS_PER_YEAR: Final = 365 * 86_400


class SeriesMarks(NamedTuple):
    """The mark (micro-USDC per contract) and risk arrays of one series."""

    price: int
    long_pnl: tuple[int, ...]
    short_pnl: tuple[int, ...]


def smile_vol(oracle: OracleData, strike: int) -> float:
    """The oracle's volatility at ``strike`` (raw price), per 1.00."""
    moneyness = math.log(strike / oracle.index)
    return max(oracle.atm_vol_ppm + oracle.skew_ppm * moneyness, MIN_VOL_PPM) / PPM


def compute_marks(
    oracle: OracleData, instruments: Sequence[Instrument], time: int
) -> list[SeriesMarks]:
    """Marks and risk arrays of ``instruments`` (all on ``oracle``'s underlying) at ``time``."""
    if not instruments:
        return []
    n = len(instruments)
    forward = oracle.index / PRICE_SCALE
    kind = np.zeros(n, np.int8)
    strike = np.full(n, forward)
    years = np.zeros(n)
    vol = np.full(n, MIN_VOL_PPM / PPM)
    size = np.array([inst.contract_size / SIZE_SCALE for inst in instruments])
    for i, inst in enumerate(instruments):
        if isinstance(inst, Option):
            kind[i] = SeriesKind.CALL if inst.is_call else SeriesKind.PUT
            strike[i] = inst.strike / PRICE_SCALE
            years[i] = max(inst.expiry - time, 0) / SECONDS_PER_YEAR
            vol[i] = smile_vol(oracle, inst.strike)
    options = kind != SeriesKind.LINEAR
    per_unit = np.zeros(n)
    per_unit[options] = black76_price(
        forward,
        strike[options],
        years[options],
        0.0,
        vol[options],
        kind[options] == SeriesKind.CALL,
        mode=KernelMode.STRICT,
    )
    arrays = risk_arrays(kind, forward, strike, years, vol, size)
    marks = []
    for i, inst in enumerate(instruments):
        if not isinstance(inst, Option):
            price = oracle.index * inst.contract_size // SIZE_SCALE
        elif years[i] == 0.0:
            price = inst.intrinsic(oracle.index)
        else:
            price = round(float(per_unit[i]) * PRICE_SCALE * inst.contract_size / SIZE_SCALE)
        marks.append(
            SeriesMarks(price, tuple(arrays.long[i].tolist()), tuple(arrays.short[i].tolist()))
        )
    return marks
