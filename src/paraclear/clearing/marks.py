"""Marks: the one door through which floats from the risk engine enter consensus state.

An option's mark is its Black-76 value (rate 0, forward = index) with the oracle's smile,
``vol(k) = atm + skew × ln(K/F)`` floored at 1 %, rounded to the nearest micro-USDC per
contract. Expired series are marked at intrinsic value. A perpetual is marked at the index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.records import MIN_VOL_PPM, OracleData
from paraclear.numbers import PPM, PRICE_SCALE, SIZE_SCALE
from paraclear.risk.reference import black76_price_scalar

SECONDS_PER_YEAR: Final = 365 * 86_400


def smile_vol(oracle: OracleData, strike: int) -> float:
    """The oracle's volatility at ``strike`` (raw price), per 1.00."""
    moneyness = math.log(strike / oracle.index)
    return max(oracle.atm_vol_ppm + oracle.skew_ppm * moneyness, MIN_VOL_PPM) / PPM


def compute_marks(oracle: OracleData, instruments: Sequence[Instrument], time: int) -> list[int]:
    """Mark of each instrument, micro-USDC per contract, at block ``time``."""
    marks = []
    for inst in instruments:
        if not isinstance(inst, Option):
            marks.append(oracle.index * inst.contract_size // SIZE_SCALE)
        elif time >= inst.expiry:
            marks.append(inst.intrinsic(oracle.index))
        else:
            years = (inst.expiry - time) / SECONDS_PER_YEAR
            per_unit = black76_price_scalar(
                oracle.index / PRICE_SCALE,
                inst.strike / PRICE_SCALE,
                years,
                0.0,
                smile_vol(oracle, inst.strike),
                inst.is_call,
            )
            marks.append(round(per_unit * PRICE_SCALE * inst.contract_size / SIZE_SCALE))
    return marks
