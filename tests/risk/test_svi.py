"""SVI slices, quasi-explicit fitting, arbitrage checks and surface evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.risk.surface import VolSurface, fit_surface
from paraclear.risk.svi import (
    ArbitrageKind,
    InvalidSviParameters,
    SviError,
    SviParams,
    butterfly_violations,
    calendar_violations,
)
from paraclear.risk.svi_fit import (
    SliceQuotes,
    SviFitError,
    fit_svi_slice,
    implied_vols_from_params,
    nelder_mead,
)

FORWARD = 50_000.0
STRIKES = FORWARD * np.exp(np.linspace(-0.6, 0.6, 25))


def _quotes(params: SviParams, expiry: float, noise: float = 0.0, seed: int = 0) -> SliceQuotes:
    ivs = implied_vols_from_params(params, expiry, FORWARD, STRIKES)
    ivs = ivs + noise * np.random.default_rng(seed).standard_normal(len(ivs))
    return SliceQuotes(expiry, FORWARD, STRIKES, ivs, np.ones_like(ivs))


def test_fit_recovers_known_parameters_from_exact_quotes() -> None:
    true = SviParams(a=0.02, b=0.12, rho=-0.35, m=0.05, sigma=0.18)
    fit = fit_svi_slice(_quotes(true, 0.25))
    got = fit.params
    assert got.a == pytest.approx(true.a, abs=2e-4)
    assert got.b == pytest.approx(true.b, abs=2e-4)
    assert got.rho == pytest.approx(true.rho, abs=2e-3)
    assert got.m == pytest.approx(true.m, abs=2e-3)
    assert got.sigma == pytest.approx(true.sigma, abs=2e-3)
    assert fit.rmse_iv < 1e-5
    assert fit.violations == ()


def test_fit_with_noisy_quotes_stays_within_noise_level() -> None:
    true = SviParams(a=0.04, b=0.2, rho=0.1, m=-0.05, sigma=0.3)
    fit = fit_svi_slice(_quotes(true, 0.5, noise=0.002, seed=3))
    model = implied_vols_from_params(fit.params, 0.5, FORWARD, STRIKES)
    exact = implied_vols_from_params(true, 0.5, FORWARD, STRIKES)
    assert np.max(np.abs(model - exact)) < 0.003
    assert 0.0005 < fit.rmse_iv < 0.004


def test_fit_respects_lee_bound_even_when_quotes_violate_it() -> None:
    steep = SviParams(a=0.01, b=2.5, rho=0.0, m=0.0, sigma=0.1)  # b(1+|rho|) = 2.5 > 2
    fit = fit_svi_slice(_quotes(steep, 1.0))
    assert fit.params.wing_slope <= 2.0 + 1e-9


def test_fit_rejects_too_few_quotes_and_bad_vols() -> None:
    with pytest.raises(SviFitError):
        fit_svi_slice(SliceQuotes(0.1, FORWARD, STRIKES[:4], np.full(4, 0.5)))
    with pytest.raises(SviFitError):
        fit_svi_slice(SliceQuotes(0.1, FORWARD, STRIKES, np.full(len(STRIKES), -0.5)))


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(InvalidSviParameters):
        SviParams(a=0.01, b=-0.1, rho=0.0, m=0.0, sigma=0.1)
    with pytest.raises(InvalidSviParameters):
        SviParams(a=0.01, b=0.1, rho=1.0, m=0.0, sigma=0.1)


def test_butterfly_check_flags_constructed_violation() -> None:
    # Gatheral & Jacquier (2014), example 3.1: a raw SVI slice with a negative density.
    bad = SviParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
    kinds = {v.kind for v in butterfly_violations(bad, 1.0)}
    assert ArbitrageKind.BUTTERFLY in kinds
    good = SviParams(a=0.04, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    assert butterfly_violations(good, 1.0) == []


def test_lee_wing_bound_is_flagged() -> None:
    steep = SviParams(a=0.05, b=1.6, rho=0.5, m=0.0, sigma=0.5)
    found = butterfly_violations(steep, 1.0)
    lee = [v for v in found if v.kind is ArbitrageKind.LEE_WING]
    assert len(lee) == 1 and lee[0].amount == pytest.approx(0.4)


def test_calendar_check_flags_crossing_slices() -> None:
    short = SviParams(a=0.02, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    long_ok = SviParams(a=0.04, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    long_bad = SviParams(a=0.04, b=0.02, rho=-0.3, m=0.0, sigma=0.2)  # wings drop below
    assert calendar_violations([(0.1, short), (0.5, long_ok)]) == []
    found = calendar_violations([(0.1, short), (0.5, long_bad)])
    assert [v.kind for v in found] == [ArbitrageKind.CALENDAR]
    assert abs(found[0].k) > 0.3 and found[0].expiry == 0.5


def test_fit_surface_reports_calendar_violation_between_fitted_slices() -> None:
    first = SviParams(a=0.02, b=0.15, rho=-0.3, m=0.0, sigma=0.2)
    second = SviParams(a=0.025, b=0.03, rho=-0.3, m=0.0, sigma=0.2)
    result = fit_surface([_quotes(second, 0.5), _quotes(first, 0.1)])
    assert result.surface.expiries == (0.1, 0.5)
    assert not result.arbitrage_free
    assert any(v.kind is ArbitrageKind.CALENDAR for v in result.violations)


def _two_slice_surface() -> VolSurface:
    return VolSurface(
        (0.1, 0.5),
        (
            SviParams(a=0.01, b=0.05, rho=-0.3, m=0.0, sigma=0.2),
            SviParams(a=0.05, b=0.1, rho=-0.2, m=0.0, sigma=0.3),
        ),
    )


def test_surface_reproduces_slices_at_their_expiries_and_interpolates_variance() -> None:
    surf = _two_slice_surface()
    strikes = STRIKES
    for t, p in zip(surf.expiries, surf.slices, strict=True):
        got = surf.implied_vol(strikes, t, FORWARD)
        np.testing.assert_allclose(got, implied_vols_from_params(p, t, FORWARD, strikes))
    k = np.log(strikes / FORWARD)
    w_mid = surf.total_variance(k, 0.3)
    expected = 0.5 * (surf.slices[0].total_variance(k) + surf.slices[1].total_variance(k))
    np.testing.assert_allclose(w_mid, expected, rtol=1e-12)


def test_surface_extrapolates_flat_vol_outside_fitted_range() -> None:
    surf = _two_slice_surface()
    np.testing.assert_allclose(
        surf.implied_vol(STRIKES, 0.01, FORWARD), surf.implied_vol(STRIKES, 0.1, FORWARD)
    )
    np.testing.assert_allclose(
        surf.implied_vol(STRIKES, 3.0, FORWARD), surf.implied_vol(STRIKES, 0.5, FORWARD)
    )


def test_surface_is_vectorised_over_all_series() -> None:
    surf = _two_slice_surface()
    rng = np.random.default_rng(1)
    n = 1000
    strikes, expiries = rng.uniform(20_000, 90_000, n), rng.uniform(0.01, 2.0, n)
    forwards = rng.uniform(45_000, 55_000, n)
    batch = surf.implied_vol(strikes, expiries, forwards)
    one_by_one = [surf.implied_vol(strikes[i], expiries[i], forwards[i]) for i in range(0, n, 97)]
    np.testing.assert_allclose(batch[::97], np.array(one_by_one).ravel(), rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(
    k=st.floats(-2.0, 2.0),
    t1=st.floats(0.01, 3.0),
    dt=st.floats(1e-3, 1.0),
)
def test_surface_total_variance_is_non_decreasing_in_expiry(k: float, t1: float, dt: float) -> None:
    surf = _two_slice_surface()
    assert calendar_violations(list(zip(surf.expiries, surf.slices, strict=True))) == []
    assert surf.total_variance(k, t1 + dt) >= surf.total_variance(k, t1) - 1e-15


def test_nelder_mead_minimises_rosenbrock() -> None:
    def rosen(x: np.ndarray) -> float:
        return float((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)

    x, fx = nelder_mead(rosen, np.array([-1.2, 1.0]), np.array([0.5, 0.5]), 2000, 1e-20)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-4)
    assert fx < 1e-8


@settings(max_examples=15, deadline=None)
@given(
    a=st.floats(0.0, 0.1),
    b=st.floats(0.01, 0.9),
    rho=st.floats(-0.9, 0.9),
    m=st.floats(-0.3, 0.3),
    sigma=st.floats(0.02, 0.8),
    expiry=st.floats(0.02, 2.0),
)
def test_fit_reproduces_any_arbitrage_free_slice_from_exact_quotes(
    a: float, b: float, rho: float, m: float, sigma: float, expiry: float
) -> None:
    if b * (1 + abs(rho)) > 1.95:
        b = 1.95 / (1 + abs(rho))
    true = SviParams(a=a, b=b, rho=rho, m=m, sigma=sigma)
    fit = fit_svi_slice(_quotes(true, expiry))
    k = np.log(STRIKES / FORWARD)
    np.testing.assert_allclose(fit.params.total_variance(k), true.total_variance(k), atol=1e-7)
    assert fit.rmse_iv < 1e-5


def test_surface_rejects_bad_inputs_and_marks_negative_variance_as_nan() -> None:
    surf = _two_slice_surface()
    with pytest.raises(SviError):
        surf.implied_vol(FORWARD, 0.0, FORWARD)
    with pytest.raises(SviError):
        VolSurface((0.5, 0.1), surf.slices)
    negative = VolSurface((0.1,), (SviParams(a=-0.05, b=0.01, rho=0.0, m=0.0, sigma=0.1),))
    assert np.isnan(negative.implied_vol(FORWARD, 0.1, FORWARD))
    assert np.isfinite(negative.implied_vol(FORWARD * 1e6, 0.1, FORWARD))
