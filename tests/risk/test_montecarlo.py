"""Monte Carlo: accuracy vs closed forms (QuantLib), variance reduction, reproducibility."""

from __future__ import annotations

import math
from dataclasses import replace

import numba
import numpy as np
import pytest

from paraclear.risk.greeks import bsm_greeks
from paraclear.risk.mc_paths import (
    GbmModel,
    McInputError,
    simulate_features,
    simulate_gbm_paths,
)
from paraclear.risk.montecarlo import (
    BarrierDirection,
    BarrierKnock,
    McConfig,
    geometric_asian_value,
    mc_var_es,
    portfolio_var_es,
    price_asian,
    price_barrier,
    price_european,
)

try:
    import QuantLib as ql
except ImportError:  # pragma: no cover - QuantLib is a dev extra
    ql = None

MODEL = GbmModel(spot=100.0, rate=0.05, dividend=0.01, vol=0.3)
CONFIG = McConfig(n_paths=40_000, n_steps=8, seed=2024)


def _black(model: GbmModel, strike: float, expiry: float, is_call: bool) -> tuple[float, ...]:
    """Closed-form BSM price, delta and vega (per 1.00 vol) from ``greeks.bsm_greeks``."""
    g = bsm_greeks(model.spot, strike, expiry, model.rate, model.dividend, model.vol, is_call)
    return float(g.price), float(g.delta), float(g.vega)


@pytest.mark.parametrize("is_call", [True, False])
def test_european_price_and_pathwise_greeks_within_3_standard_errors(is_call: bool) -> None:
    price, delta, vega = _black(MODEL, 95.0, 0.75, is_call)
    est = price_european(MODEL, 95.0, 0.75, is_call, CONFIG)
    assert abs(est.price - price) < 3 * est.std_error
    assert est.delta is not None and est.delta_std_error is not None
    assert abs(est.delta - delta) < 3 * est.delta_std_error
    assert est.vega is not None and est.vega_std_error is not None
    assert abs(est.vega - vega) < 3 * est.vega_std_error
    assert est.std_error < 0.02 * price  # the test has power: errors are small


def test_antithetic_and_control_variate_reduce_european_error() -> None:
    plain = price_european(MODEL, 100.0, 1.0, True, CONFIG)
    anti = price_european(MODEL, 100.0, 1.0, True, replace(CONFIG, antithetic=True))
    both = price_european(
        MODEL, 100.0, 1.0, True, replace(CONFIG, antithetic=True, control_variate=True)
    )
    assert anti.std_error < plain.std_error and both.std_error < 0.5 * anti.std_error
    assert anti.n_samples == CONFIG.n_paths // 2
    price = _black(MODEL, 100.0, 1.0, True)[0]
    assert abs(both.price - price) < 3 * both.std_error


def test_geometric_control_makes_arithmetic_asian_much_tighter_and_consistent() -> None:
    plain = price_asian(MODEL, 100.0, 1.0, True, CONFIG)
    cv = price_asian(MODEL, 100.0, 1.0, True, replace(CONFIG, control_variate=True))
    assert cv.std_error < 0.1 * plain.std_error
    assert cv.control_beta is not None and 0.8 < cv.control_beta < 1.2
    assert abs(cv.price - plain.price) < 3 * plain.std_error
    geo = geometric_asian_value(MODEL, 100.0, 1.0, CONFIG.n_steps, True)
    assert geo < cv.price  # AM-GM: arithmetic average call is worth more


def test_geometric_asian_closed_form_matches_simulation() -> None:
    f = simulate_features(MODEL, 1.0, 8, 40_000, seed=5)
    payoff = math.exp(-MODEL.rate) * np.maximum(f[:, 4] - 100.0, 0.0)
    mc, se = payoff.mean(), payoff.std(ddof=1) / math.sqrt(len(payoff))
    assert abs(mc - geometric_asian_value(MODEL, 100.0, 1.0, 8, True)) < 3 * se


def test_one_fixing_geometric_asian_is_the_european() -> None:
    geo = geometric_asian_value(MODEL, 90.0, 0.5, 1, False)
    assert geo == pytest.approx(_black(MODEL, 90.0, 0.5, False)[0], rel=1e-12)


def test_asian_pathwise_greeks_match_bumped_prices_with_common_random_numbers() -> None:
    cfg = replace(CONFIG, n_paths=20_000)
    est = price_asian(MODEL, 100.0, 1.0, True, cfg)
    h = 1e-3
    up = price_asian(replace(MODEL, spot=100.0 + h), 100.0, 1.0, True, cfg).price
    down = price_asian(replace(MODEL, spot=100.0 - h), 100.0, 1.0, True, cfg).price
    assert est.delta == pytest.approx((up - down) / (2 * h), rel=1e-4)
    up = price_asian(replace(MODEL, vol=0.3 + h), 100.0, 1.0, True, cfg).price
    down = price_asian(replace(MODEL, vol=0.3 - h), 100.0, 1.0, True, cfg).price
    assert est.vega == pytest.approx((up - down) / (2 * h), rel=1e-4)


@pytest.mark.parametrize("direction", [BarrierDirection.UP, BarrierDirection.DOWN])
@pytest.mark.parametrize("is_call", [True, False])
def test_barrier_in_plus_out_is_the_vanilla_on_the_same_paths(
    direction: BarrierDirection, is_call: bool
) -> None:
    barrier = 120.0 if direction is BarrierDirection.UP else 85.0
    args = (MODEL, 100.0, 1.0, is_call, barrier, direction)
    knocked_in = price_barrier(*args, BarrierKnock.IN, CONFIG)
    knocked_out = price_barrier(*args, BarrierKnock.OUT, CONFIG)
    vanilla = price_european(MODEL, 100.0, 1.0, is_call, CONFIG)
    assert knocked_in.price + knocked_out.price == pytest.approx(vanilla.price, rel=1e-12)
    assert knocked_in.price > 0 and knocked_out.price > 0
    # likelihood-ratio Greeks are linear in the payoff: in + out = vanilla's LR Greek
    far = 1e9 if direction is BarrierDirection.UP else 1e-9
    never = price_barrier(MODEL, 100.0, 1.0, is_call, far, direction, BarrierKnock.OUT, CONFIG)
    assert never.price == vanilla.price
    for greek in ("delta", "vega"):
        parts = getattr(knocked_in, greek) + getattr(knocked_out, greek)
        assert parts == pytest.approx(getattr(never, greek), rel=1e-10, abs=1e-12)


def test_likelihood_ratio_greeks_of_a_never_knocked_barrier_match_black() -> None:
    est = price_barrier(MODEL, 105.0, 0.5, True, 1e9, BarrierDirection.UP, BarrierKnock.OUT, CONFIG)
    _, delta, vega = _black(MODEL, 105.0, 0.5, True)
    assert est.delta is not None and est.delta_std_error is not None
    assert est.vega is not None and est.vega_std_error is not None
    assert abs(est.delta - delta) < 3 * est.delta_std_error < 0.1 * delta
    assert abs(est.vega - vega) < 3 * est.vega_std_error < 0.2 * vega


@pytest.mark.skipif(ql is None, reason="QuantLib (dev extra) not installed")
def test_barrier_matches_continuous_closed_form_with_broadie_glasserman_shift() -> None:
    n_steps, barrier = 64, 120.0
    cfg = McConfig(n_paths=40_000, n_steps=n_steps, seed=9, control_variate=True)
    est = price_barrier(
        MODEL, 100.0, 1.0, True, barrier, BarrierDirection.UP, BarrierKnock.OUT, cfg
    )
    # Discrete monitoring ~ continuous monitoring of a barrier moved by exp(0.5826 vol sqrt(dt)).
    shifted = barrier * math.exp(0.5826 * MODEL.vol * math.sqrt(1.0 / n_steps))
    today = ql.Date(25, 11, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot = ql.SimpleQuote(MODEL.spot)
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(today, MODEL.dividend, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, MODEL.rate, dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), MODEL.vol, dc)
        ),
    )
    option = ql.BarrierOption(
        ql.Barrier.UpOut, shifted, 0.0, ql.PlainVanillaPayoff(ql.Option.Call, 100.0),
        ql.EuropeanExercise(today + 365),
    )  # fmt: skip
    option.setPricingEngine(ql.AnalyticBarrierEngine(process))
    assert abs(est.price - option.NPV()) < 3 * est.std_error + 0.01 * option.NPV()
    h, prices = 0.01, []
    for bumped in (MODEL.spot + 0.01, MODEL.spot - 0.01):
        spot.setValue(bumped)
        prices.append(option.NPV())
    ql_delta = (prices[0] - prices[1]) / (2 * h)  # negative: the barrier is close above
    assert est.delta is not None and est.delta_std_error is not None
    assert abs(est.delta - ql_delta) < 3 * est.delta_std_error + 0.05 * abs(ql_delta)


def test_results_do_not_depend_on_thread_count() -> None:
    cfg = replace(CONFIG, n_paths=10_000, antithetic=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate_features(MODEL, 1.0, cfg.n_steps, cfg.n_paths, cfg.seed, antithetic=True)
        numba.set_num_threads(before)
        many = simulate_features(MODEL, 1.0, cfg.n_steps, cfg.n_paths, cfg.seed, antithetic=True)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)


def test_streams_are_per_block_so_fewer_paths_give_a_prefix() -> None:
    small = simulate_features(MODEL, 1.0, 4, 5_000, seed=3, block_size=1024)
    large = simulate_features(MODEL, 1.0, 4, 9_000, seed=3, block_size=1024)
    assert np.array_equal(small, large[:5_000])
    other_seed = simulate_features(MODEL, 1.0, 4, 5_000, seed=4, block_size=1024)
    assert not np.array_equal(small, other_seed)


def test_full_paths_agree_with_features() -> None:
    paths = simulate_gbm_paths(MODEL, 1.0, 6, 3_000, seed=11, antithetic=True)
    f = simulate_features(MODEL, 1.0, 6, 3_000, seed=11, antithetic=True)
    assert paths.shape == (3_000, 7) and np.all(paths[:, 0] == MODEL.spot)
    np.testing.assert_allclose(paths[:, -1], f[:, 0], rtol=1e-14)
    np.testing.assert_allclose(paths[:, 1:].mean(axis=1), f[:, 2], rtol=1e-13)
    np.testing.assert_allclose(paths[:, 1:].max(axis=1), f[:, 5], rtol=1e-14)
    # antithetic partners: log-returns mirror around the drift
    log_ret = np.log(paths[:, 1] / MODEL.spot)
    drift = (MODEL.rate - MODEL.dividend - 0.5 * MODEL.vol**2) / 6
    np.testing.assert_allclose(log_ret[0::2] - drift, -(log_ret[1::2] - drift), atol=1e-12)


def test_bad_inputs_raise_mc_input_error() -> None:
    with pytest.raises(McInputError):
        price_european(MODEL, 100.0, 1.0, True, replace(CONFIG, n_paths=101, antithetic=True))
    with pytest.raises(McInputError):
        price_european(MODEL, -1.0, 1.0, True, CONFIG)
    with pytest.raises(McInputError):
        GbmModel(100.0, 0.0, 0.0, 0.0)


def test_var_and_es_of_a_known_loss_distribution() -> None:
    pnl = -np.arange(1.0, 101.0)[None, :]  # one series: losses 1..100 per contract
    result = portfolio_var_es(np.array([[1.0], [-1.0], [2.0]]), pnl, 0.95)
    assert result.var.tolist() == [96.0, -5.0, 192.0]
    assert result.es.tolist() == [98.0, -3.0, 196.0]


def test_mc_var_of_linear_position_matches_lognormal_quantile() -> None:
    horizon = 1.0 / 365.0
    var = mc_var_es(
        np.array([[1.0], [-1.0]]), MODEL, horizon, lambda s: (s - MODEL.spot)[None, :],
        200_000, seed=1, level=0.99,
    )  # fmt: skip
    drift = (MODEL.rate - MODEL.dividend - 0.5 * MODEL.vol**2) * horizon
    sd = MODEL.vol * math.sqrt(horizon)
    z99 = 2.3263478740408408
    long_var = MODEL.spot * (1 - math.exp(drift - z99 * sd))
    short_var = MODEL.spot * (math.exp(drift + z99 * sd) - 1)
    np.testing.assert_allclose(var.var, [long_var, short_var], rtol=0.02)
    assert np.all(var.es > var.var)
