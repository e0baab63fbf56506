"""Risk engine: vectorised prices and Greeks, implied vol, surfaces, risk arrays, Monte Carlo.

Files, one mechanism each:

* ``greeks.py`` — public Black-76/BSM price and Greeks API (units, limits, validation);
  ``_black_kernels.py`` — its numba kernels (strict IEEE and fast-math compilations).
* ``implied_vol.py`` — public implied-vol API; ``_iv_kernels.py`` — Jäckel-style solver.
* ``units.py`` — per-day theta, per-1 % vega/rho conversions.
* ``bench.py`` — ``run_risk_bench`` / ``main``: Greeks/s, IV/s, Monte Carlo and peers.
* ``errors.py`` — the error tree (``RiskError`` and its typed subclasses).
"""

from paraclear.risk.errors import BackendUnavailable, InputReason, InvalidInputError, RiskError
from paraclear.risk.greeks import (
    Greeks,
    KernelMode,
    black76_greeks,
    black76_price,
    bsm_greeks,
    bsm_price,
)
from paraclear.risk.implied_vol import ImpliedVol, implied_vol_black76, implied_vol_bsm

__all__ = [
    "BackendUnavailable",
    "Greeks",
    "ImpliedVol",
    "InputReason",
    "InvalidInputError",
    "KernelMode",
    "RiskError",
    "black76_greeks",
    "black76_price",
    "bsm_greeks",
    "bsm_price",
    "implied_vol_black76",
    "implied_vol_bsm",
]
