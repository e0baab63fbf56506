"""Monte Carlo prices and Greeks under GBM, and portfolio VaR / expected shortfall.

Products (all discounted at ``rate``, prices in the units of ``spot``):

* European call/put on ``S(T)``;
* arithmetic-average Asian call/put with fixed strike, fixings at the ``n_steps`` equally
  spaced dates ``T/n, 2T/n, .., T``;
* barrier call/put (up/down, in/out), the barrier monitored discretely on the same dates
  (no continuity correction: a discretely monitored barrier is what is priced).

Estimators report a standard error: the sample standard deviation of the i.i.d. samples
(one per path, or one per antithetic *pair*) over ``sqrt(n)``. A control variate replaces
``Y`` by ``Y - beta (X - E[X])`` with ``beta`` the sample regression coefficient; the controls
are the discounted terminal price (European, ``E = S0 exp(-qT)``), the geometric-average
Asian with the same strike and fixings (Asian, closed form) and the vanilla European
(barrier, Black-Scholes closed form).

Greeks are pathwise (likelihood-free): ``delta = E[1{in the money} S_T / S0]`` and
``vega = E[1{in the money} dS_T/dvol]`` (with the average in place of ``S_T`` for Asians),
valid because these payoffs are Lipschitz in ``S0`` and ``vol``. For barriers the
payoff jumps where a path touches the barrier, so the pathwise derivative misses that jump
and is biased. Barrier Greeks are therefore likelihood-ratio estimates,
``E[payoff * d log p / d theta]`` with the scores of the discretised GBM path density
(``Z_1 / (S0 vol sqrt(dt))`` for spot, ``sum_j (Z_j^2 - 1)/vol - Z_j sqrt(dt)`` for vol):
unbiased for any payoff, but noisier, and the vega score's variance grows with ``n_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from paraclear.risk.greeks import Backend
from paraclear.risk.mc_paths import (
    DEFAULT_BLOCK_SIZE,
    Feature,
    FloatArray,
    GbmModel,
    McInputError,
    block_normals,
    simulate_features,
)


class BarrierDirection(Enum):
    """Side from which the barrier is hit."""

    UP = "up"  # knocks when the maximum reaches the barrier (barrier above spot)
    DOWN = "down"  # knocks when the minimum reaches the barrier (barrier below spot)


class BarrierKnock(Enum):
    """What hitting the barrier does."""

    IN = "in"  # the option exists only if the barrier was hit
    OUT = "out"  # the option dies when the barrier is hit


@dataclass(frozen=True, slots=True)
class McConfig:
    """Simulation settings.

    Attributes:
        n_paths: number of paths (even when ``antithetic``).
        n_steps: time steps = monitoring / fixing dates.
        seed: root of the ``SeedSequence``; same seed, same result.
        antithetic: pair every path with its mirror ``-Z``.
        control_variate: use the product's control variate (see module docstring).
        block_size: paths per random stream (changing it changes the numbers).
        backend: ``"cpu"`` (numba, default) or ``"cuda"`` (numba.cuda, see ``gpu``).
    """

    n_paths: int
    n_steps: int
    seed: int
    antithetic: bool = False
    control_variate: bool = False
    block_size: int = DEFAULT_BLOCK_SIZE
    backend: Backend = "cpu"


@dataclass(frozen=True, slots=True)
class McEstimate:
    """A Monte Carlo estimate with standard errors (same units as the price).

    ``delta`` is per unit of spot, ``vega`` per 1.00 of vol (pathwise, or likelihood ratio
    for barriers); ``None`` where not estimated. ``n_samples`` counts i.i.d. samples
    (antithetic pairs count once). ``control_beta`` is the fitted coefficient, if used.
    """

    price: float
    std_error: float
    delta: float | None
    delta_std_error: float | None
    vega: float | None
    vega_std_error: float | None
    n_samples: int
    control_beta: float | None


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def lognormal_option_value(
    forward: float, strike: float, total_var: float, discount: float, is_call: bool
) -> float:
    """``discount * E[(±(X - K))^+]`` for lognormal ``X`` with mean ``forward``, log-variance
    ``total_var`` (Black's formula; used for the closed-form control means)."""
    if total_var <= 0.0:
        return discount * max(forward - strike if is_call else strike - forward, 0.0)
    sd = math.sqrt(total_var)
    d1 = (math.log(forward / strike) + 0.5 * total_var) / sd
    d2 = d1 - sd
    if is_call:
        return discount * (forward * _normal_cdf(d1) - strike * _normal_cdf(d2))
    return discount * (strike * _normal_cdf(-d2) - forward * _normal_cdf(-d1))


def geometric_asian_value(
    model: GbmModel, strike: float, expiry: float, n_fixings: int, is_call: bool
) -> float:
    """Closed-form geometric-average Asian with fixings ``T/n, .., T`` (price units)."""
    dt = expiry / n_fixings
    mean_t = dt * (n_fixings + 1) / 2.0
    var = model.vol**2 * dt * (n_fixings + 1) * (2 * n_fixings + 1) / (6.0 * n_fixings)
    mu = math.log(model.spot) + (model.rate - model.dividend - 0.5 * model.vol**2) * mean_t
    fwd = math.exp(mu + 0.5 * var)
    return lognormal_option_value(fwd, strike, var, math.exp(-model.rate * expiry), is_call)


def _estimate(
    y: FloatArray, antithetic: bool, control: FloatArray | None = None, control_mean: float = 0.0
) -> tuple[float, float, float | None]:
    """Mean, standard error and control coefficient of the samples ``y``."""
    if antithetic:
        y = 0.5 * (y[0::2] + y[1::2])
        control = None if control is None else 0.5 * (control[0::2] + control[1::2])
    beta = None
    if control is not None:
        centred = control - control.mean()
        denom = float(np.dot(centred, centred))
        beta = float(np.dot(centred, y - y.mean()) / denom) if denom > 0 else 0.0
        y = y - beta * (control - control_mean)
    return float(y.mean()), float(y.std(ddof=1) / math.sqrt(len(y))), beta


def _features(model: GbmModel, expiry: float, config: McConfig) -> FloatArray:
    return simulate_features(
        model,
        expiry,
        config.n_steps,
        config.n_paths,
        config.seed,
        antithetic=config.antithetic,
        block_size=config.block_size,
        backend=config.backend,
    )


def _vanilla(
    underlying: FloatArray, underlying_vega: FloatArray, model: GbmModel, strike: float,
    expiry: float, is_call: bool, config: McConfig,
    control: FloatArray | None, control_mean: float,
) -> McEstimate:  # fmt: skip
    """Price, pathwise delta and vega of ``(±(U - K))^+`` for the per-path ``U``."""
    disc = math.exp(-model.rate * expiry)
    sign = 1.0 if is_call else -1.0
    itm = sign * (underlying - strike) > 0
    payoff = disc * np.where(itm, sign * (underlying - strike), 0.0)
    delta = disc * np.where(itm, sign * underlying / model.spot, 0.0)
    vega = disc * np.where(itm, sign * underlying_vega, 0.0)
    anti = config.antithetic
    price, se, beta = _estimate(payoff, anti, control, control_mean)
    d, d_se, _ = _estimate(delta, anti)
    v, v_se, _ = _estimate(vega, anti)
    return McEstimate(price, se, d, d_se, v, v_se, len(payoff) // (2 if anti else 1), beta)


def _check_option(strike: float, expiry: float) -> None:
    if not (strike > 0 and expiry > 0 and math.isfinite(strike) and math.isfinite(expiry)):
        raise McInputError(f"need strike > 0 and expiry > 0, got {strike}, {expiry}")


def price_european(
    model: GbmModel, strike: float, expiry: float, is_call: bool, config: McConfig
) -> McEstimate:
    """Monte Carlo European option with pathwise delta and vega.

    Raises:
        McInputError: on non-positive strike/expiry or bad path counts.
    """
    _check_option(strike, expiry)
    f = _features(model, expiry, config)
    terminal = f[:, Feature.TERMINAL]
    control = math.exp(-model.rate * expiry) * terminal if config.control_variate else None
    mean = model.spot * math.exp(-model.dividend * expiry)
    t_vega = f[:, Feature.TERMINAL_VEGA]
    return _vanilla(terminal, t_vega, model, strike, expiry, is_call, config, control, mean)


def price_asian(
    model: GbmModel, strike: float, expiry: float, is_call: bool, config: McConfig
) -> McEstimate:
    """Monte Carlo arithmetic-average Asian (fixings on the ``n_steps`` dates) with Greeks.

    Raises:
        McInputError: on non-positive strike/expiry or bad path counts.
    """
    _check_option(strike, expiry)
    f = _features(model, expiry, config)
    control, mean = None, 0.0
    if config.control_variate:
        sign = 1.0 if is_call else -1.0
        geo = f[:, Feature.GEOMETRIC_MEAN]
        control = math.exp(-model.rate * expiry) * np.maximum(sign * (geo - strike), 0.0)
        mean = geometric_asian_value(model, strike, expiry, config.n_steps, is_call)
    avg, avg_vega = f[:, Feature.MEAN], f[:, Feature.MEAN_VEGA]
    return _vanilla(avg, avg_vega, model, strike, expiry, is_call, config, control, mean)


def price_barrier(
    model: GbmModel, strike: float, expiry: float, is_call: bool, barrier: float,
    direction: BarrierDirection, knock: BarrierKnock, config: McConfig,
) -> McEstimate:  # fmt: skip
    """Monte Carlo discretely monitored barrier option; Greeks by likelihood ratio.

    A path is knocked when ``max S(t_i) >= barrier`` (up) or ``min S(t_i) <= barrier`` (down).

    Raises:
        McInputError: on non-positive strike/expiry/barrier or bad path counts.
    """
    _check_option(strike, expiry)
    if not barrier > 0:
        raise McInputError(f"barrier must be > 0, got {barrier}")
    f = _features(model, expiry, config)
    if direction is BarrierDirection.UP:
        hit = f[:, Feature.MAXIMUM] >= barrier
    else:
        hit = f[:, Feature.MINIMUM] <= barrier
    alive = hit if knock is BarrierKnock.IN else ~hit
    disc = math.exp(-model.rate * expiry)
    sign = 1.0 if is_call else -1.0
    vanilla = disc * np.maximum(sign * (f[:, Feature.TERMINAL] - strike), 0.0)
    control, mean = None, 0.0
    if config.control_variate:
        fwd = model.spot * math.exp((model.rate - model.dividend) * expiry)
        control = vanilla
        mean = lognormal_option_value(fwd, strike, model.vol**2 * expiry, disc, is_call)
    payoff = np.where(alive, vanilla, 0.0)
    price, se, beta = _estimate(payoff, config.antithetic, control, mean)
    delta, delta_se, _ = _estimate(payoff * f[:, Feature.DELTA_SCORE], config.antithetic)
    vega, vega_se, _ = _estimate(payoff * f[:, Feature.VEGA_SCORE], config.antithetic)
    n = config.n_paths // (2 if config.antithetic else 1)
    return McEstimate(price, se, delta, delta_se, vega, vega_se, n, beta)


@dataclass(frozen=True, slots=True)
class VarEs:
    """Value at risk and expected shortfall per account, as positive losses.

    Attributes:
        level: confidence level (e.g. 0.99).
        var: loss exceeded with probability at most ``1 - level`` (P&L units).
        es: mean of the worst ``ceil(n (1 - level))`` losses (>= ``var``).
    """

    level: float
    var: FloatArray
    es: FloatArray


def portfolio_var_es(positions: FloatArray, series_pnl: FloatArray, level: float) -> VarEs:
    """VaR and ES of many accounts from per-series P&L samples.

    Args:
        positions: ``(n_accounts, n_series)`` contracts held (negative = short).
        series_pnl: ``(n_series, n_samples)`` P&L of one contract per sample or scenario
            (MC draws, or a risk array converted to USDC).
        level: confidence level in (0, 1).

    With ``k = ceil(n_samples (1 - level))`` the VaR is the ``k``-th largest loss and ES the
    mean of the ``k`` largest losses (sorted, so deterministic).

    Raises:
        McInputError: on mismatched shapes or a level outside (0, 1).
    """
    positions, series_pnl = np.asarray(positions, float), np.asarray(series_pnl, float)
    if positions.ndim != 2 or series_pnl.ndim != 2 or positions.shape[1] != series_pnl.shape[0]:
        raise McInputError("need positions (n_accounts, n_series), pnl (n_series, n_samples)")
    if not 0.0 < level < 1.0:
        raise McInputError(f"level must be in (0, 1), got {level}")
    losses = -(positions @ series_pnl)
    k = max(1, math.ceil(series_pnl.shape[1] * (1.0 - level) - 1e-9))
    worst = -np.sort(-losses, axis=1)[:, :k]
    return VarEs(level, worst[:, -1].copy(), worst.mean(axis=1))


def mc_var_es(
    positions: FloatArray,
    model: GbmModel,
    horizon: float,
    revalue: Callable[[FloatArray], FloatArray],
    n_samples: int,
    seed: int,
    level: float = 0.99,
) -> VarEs:
    """VaR/ES over ``horizon`` years: simulate the underlying, revalue, aggregate.

    Args:
        positions: ``(n_accounts, n_series)`` contracts.
        model: GBM of the underlying (one step of length ``horizon``).
        revalue: maps simulated prices ``(n_samples,)`` to per-series P&L of one contract
            ``(n_series, n_samples)``.
        n_samples, seed: number of draws and the stream seed (block streams as in paths).

    Raises:
        McInputError: on bad inputs (see :func:`portfolio_var_es`).
    """
    if not (horizon > 0 and n_samples >= 2):
        raise McInputError("need horizon > 0 and n_samples >= 2")
    n_blocks = -(-n_samples // DEFAULT_BLOCK_SIZE)
    z = block_normals(seed, 0, n_blocks, DEFAULT_BLOCK_SIZE, 1, False)[:n_samples, 0]
    drift = (model.rate - model.dividend - 0.5 * model.vol**2) * horizon
    prices = model.spot * np.exp(drift + model.vol * math.sqrt(horizon) * z)
    return portfolio_var_es(positions, revalue(prices), level)
