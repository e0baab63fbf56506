"""Greeks against finite differences of our own prices; hypothesis properties; determinism."""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.risk.greeks import (
    Greeks,
    KernelMode,
    black76_greeks,
    black76_price,
    bsm_greeks,
    bsm_price,
)
from paraclear.risk.implied_vol import implied_vol_bsm

FloatArray = npt.NDArray[np.float64]


def _cases(seed: int, n: int = 2000) -> tuple[FloatArray, ...]:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(10.0, 200.0, n)
    strike = spot * np.exp(rng.uniform(-0.5, 0.5, n))
    expiry = rng.uniform(0.05, 2.0, n)
    rate = rng.uniform(-0.01, 0.1, n)
    dividend = rng.uniform(-0.02, 0.08, n)
    vol = rng.uniform(0.1, 1.0, n)
    return spot, strike, expiry, rate, dividend, vol, rng.random(n) < 0.5


def _bsm(
    s: FloatArray,
    k: FloatArray,
    t: FloatArray,
    r: FloatArray,
    q: FloatArray,
    v: FloatArray,
    c: npt.NDArray[np.bool_],
) -> Greeks:
    return bsm_greeks(s, k, t, r, q, v, c)


def _central(f_up: FloatArray, f_down: FloatArray, h: FloatArray) -> FloatArray:
    return (f_up - f_down) / (2.0 * h)


@pytest.mark.parametrize("bsm", [True, False], ids=["bsm", "black76"])
def test_every_greek_matches_central_finite_difference(bsm: bool) -> None:
    s, k, t, r, q, v, c = _cases(3)

    def g(s: FloatArray = s, t: FloatArray = t, r: FloatArray = r, v: FloatArray = v) -> Greeks:
        return bsm_greeks(s, k, t, r, q, v, c) if bsm else black76_greeks(s, k, t, r, v, c)

    base = g()
    hs, ht, hv, hr = 1e-5 * s, 1e-5 * np.ones_like(t), 1e-5 * np.ones_like(v), 1e-6
    checks = {
        "delta": (_central(g(s=s + hs).price, g(s=s - hs).price, hs), base.delta),
        "gamma": (_central(g(s=s + hs).delta, g(s=s - hs).delta, hs), base.gamma),
        "vega": (_central(g(v=v + hv).price, g(v=v - hv).price, hv), base.vega),
        "theta": (-_central(g(t=t + ht).price, g(t=t - ht).price, ht), base.theta),
        "rho": (_central(g(r=r + hr).price, g(r=r - hr).price, hr * np.ones_like(r)), base.rho),
        "vanna": (_central(g(v=v + hv).delta, g(v=v - hv).delta, hv), base.vanna),
        "volga": (_central(g(v=v + hv).vega, g(v=v - hv).vega, hv), base.volga),
    }
    scale = {
        "delta": 1.0,
        "gamma": 1.0 / s,
        "vega": s,
        "theta": s,
        "rho": s,
        "vanna": np.ones_like(s),
        "volga": s,
    }
    for name, (fd, exact) in checks.items():
        err = np.abs(fd - exact)
        tol = 1e-6 * np.abs(exact) + 1e-7 * scale[name]
        assert np.all(err <= tol), f"{name}: worst {np.max(err / tol)}"


positive = st.floats(1.0, 1000.0)
vols = st.floats(0.01, 3.0)
expiries = st.floats(0.0, 5.0)
rates = st.floats(-0.05, 0.2)


@settings(max_examples=300, deadline=None)
@given(positive, st.floats(-1.5, 1.5), expiries, rates, rates, vols)
def test_put_call_parity_holds(s: float, m: float, t: float, r: float, q: float, v: float) -> None:
    k = s * np.exp(m)
    g = bsm_greeks(s, k, t, r, q, v, [True, False])
    forward_value = s * np.exp(-q * t) - k * np.exp(-r * t)
    size = s * np.exp(-q * t) + k * np.exp(-r * t)
    assert abs((g.price[0] - g.price[1]) - forward_value) <= 1e-13 * size
    assert abs((g.delta[0] - g.delta[1]) - np.exp(-q * t)) <= 1e-14
    assert g.gamma[0] == pytest.approx(g.gamma[1], rel=1e-14)
    assert g.vega[0] == pytest.approx(g.vega[1], rel=1e-14)


@settings(max_examples=200, deadline=None)
@given(positive, st.floats(-1.0, 1.0), st.floats(0.01, 5.0), rates, st.booleans())
def test_price_increases_with_vol_and_stays_within_no_arbitrage_bounds(
    f: float, m: float, t: float, r: float, call: bool
) -> None:
    k = f * np.exp(m)
    vol_grid = np.linspace(0.01, 3.0, 64)
    p = black76_greeks(f, k, t, r, vol_grid, call).price
    df = np.exp(-r * t)
    rounding = 1e-15 * df * (f + k)  # the price is a difference of terms of this size
    assert np.all(np.diff(p) >= -rounding)
    assert np.all(p >= df * max((f - k) if call else (k - f), 0.0) - rounding)
    assert np.all(p <= df * (f if call else k) + rounding)


def test_fast_mode_agrees_with_strict_mode_to_1e12() -> None:
    s, k, t, r, q, v, c = _cases(5, 20_000)
    a = bsm_greeks(s, k, t, r, q, v, c, mode=KernelMode.STRICT)
    b = bsm_greeks(s, k, t, r, q, v, c, mode=KernelMode.FAST)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.all(np.abs(x - y) <= 1e-12 * (np.abs(x) + s)), name


def test_strict_kernel_is_bit_identical_for_one_and_two_threads() -> None:
    s, k, t, r, q, v, c = _cases(9, 50_001)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = bsm_greeks(s, k, t, r, q, v, c, mode=KernelMode.STRICT)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = bsm_greeks(s, k, t, r, q, v, c, mode=KernelMode.STRICT)
    finally:
        numba.set_num_threads(before)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga"):
        assert getattr(one, name).tobytes() == getattr(two, name).tobytes(), name


def test_strict_price_and_implied_vol_are_bit_identical_for_one_and_two_threads() -> None:
    s, k, t, r, q, v, c = _cases(10, 50_001)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            price = bsm_price(s, k, t, r, q, v, c)
            vol = implied_vol_bsm(price, s, k, t, r, q, c).vol
            results.append((price.tobytes(), vol.tobytes()))
    finally:
        numba.set_num_threads(before)
    assert results[0] == results[1]


@pytest.mark.parametrize("bsm", [True, False], ids=["bsm", "black76"])
def test_strict_price_only_kernel_is_bit_identical_to_strict_greeks_price(bsm: bool) -> None:
    s, k, t, r, q, v, c = _cases(13, 20_000)
    t[::50] = 0.0  # expired: limits
    v[1::50] = 0.0  # zero vol: limits
    if bsm:
        whole = bsm_greeks(s, k, t, r, q, v, c).price
        alone = bsm_price(s, k, t, r, q, v, c)
    else:
        whole = black76_greeks(s, k, t, r, v, c).price
        alone = black76_price(s, k, t, r, v, c)
    assert whole.tobytes() == alone.tobytes()
