"""Risk engine: vectorised prices and Greeks, implied vol, surfaces, risk arrays, Monte Carlo.

Files, one mechanism each:

* ``greeks.py`` — public Black-76/BSM price and Greeks API (units, limits, validation);
  ``_black_kernels.py`` — strict IEEE numba kernel (consensus marks);
  ``_black_fast.py`` — fast-math kernel vectorised with libm-free ``exp``/``log``/``erfc``.
* ``implied_vol.py`` — public implied-vol API; ``_iv_kernels.py`` — Jäckel-style solver.
* ``units.py`` — per-day theta, per-1 % vega/rho conversions.
* ``bench.py`` — ``run_risk_bench`` / ``main``: Greeks/s, IV/s, Monte Carlo and peers
  (``_bench_peers.py``: pyvolr, fast-vollib, vollib, QuantLib on the same options).
* ``svi.py``, ``svi_fit.py``, ``surface.py`` — SVI slices, their fit, the vol surface.
* ``scenarios.py`` — per-series risk arrays over a price × vol grid (strict kernels).
* ``portfolio.py`` — integer portfolio margin from risk arrays.
* ``mc_paths.py``, ``montecarlo.py`` — GBM path kernels; Monte Carlo prices, Greeks, VaR/ES.
* ``gpu.py`` — optional CUDA kernels behind ``backend="cuda"`` (not imported here).
* ``errors.py`` — the error tree (``RiskError`` and its typed subclasses).
"""

from paraclear.risk import _threading  # noqa: F401  (first: picks numba's threading layer)
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
from paraclear.risk.mc_paths import GbmModel, McInputError, simulate_features, simulate_gbm_paths
from paraclear.risk.montecarlo import (
    McConfig,
    McEstimate,
    mc_var_es,
    portfolio_var_es,
    price_asian,
    price_barrier,
    price_european,
)
from paraclear.risk.portfolio import (
    MarginPolicy,
    MarginRequirement,
    PortfolioInputError,
    portfolio_margin,
    portfolio_margins,
    portfolio_margins_sparse,
)
from paraclear.risk.scenarios import RiskArrays, ScenarioGrid, ScenarioInputError, risk_arrays
from paraclear.risk.surface import VolSurface, fit_surface
from paraclear.risk.svi import InvalidSviParameters, SviError, SviParams
from paraclear.risk.svi_fit import SviFit, SviFitError, fit_svi_slice

__all__ = [
    "BackendUnavailable",
    "GbmModel",
    "Greeks",
    "ImpliedVol",
    "InputReason",
    "InvalidInputError",
    "InvalidSviParameters",
    "KernelMode",
    "MarginPolicy",
    "MarginRequirement",
    "McConfig",
    "McEstimate",
    "McInputError",
    "PortfolioInputError",
    "RiskArrays",
    "RiskError",
    "ScenarioGrid",
    "ScenarioInputError",
    "SviError",
    "SviFit",
    "SviFitError",
    "SviParams",
    "VolSurface",
    "black76_greeks",
    "black76_price",
    "bsm_greeks",
    "bsm_price",
    "fit_surface",
    "fit_svi_slice",
    "implied_vol_black76",
    "implied_vol_bsm",
    "mc_var_es",
    "portfolio_margin",
    "portfolio_margins",
    "portfolio_margins_sparse",
    "portfolio_var_es",
    "price_asian",
    "price_barrier",
    "price_european",
    "risk_arrays",
    "simulate_features",
    "simulate_gbm_paths",
]
