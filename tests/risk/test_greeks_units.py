"""Unit conversions of Greeks (per day, per vol/rate point)."""

from __future__ import annotations

import numpy as np
import pytest

from paraclear.risk.greeks import Greeks, bsm_greeks
from paraclear.risk.units import (
    DAYS_PER_YEAR,
    rho_per_pct,
    theta_per_day,
    vanna_per_pct,
    vega_per_pct,
    volga_per_pct2,
)


def test_per_day_theta_matches_one_calendar_day_of_decay() -> None:
    g = bsm_greeks(100.0, 100.0, 0.5, 0.03, 0.0, 0.4, True)
    later = bsm_greeks(100.0, 100.0, 0.5 - 1.0 / DAYS_PER_YEAR, 0.03, 0.0, 0.4, True)
    one_day = float(later.price - g.price)
    assert theta_per_day(float(g.theta)) == pytest.approx(one_day, rel=2e-3)


def test_per_point_greeks_match_a_one_point_central_bump() -> None:
    def g(vol: float = 0.3, rate: float = 0.03) -> Greeks:
        return bsm_greeks(100.0, 110.0, 1.0, rate, 0.01, vol, False)

    base = g()
    up, down = g(vol=0.305), g(vol=0.295)
    assert vega_per_pct(float(base.vega)) == pytest.approx(float(up.price - down.price), rel=1e-4)
    assert vanna_per_pct(float(base.vanna)) == pytest.approx(float(up.delta - down.delta), rel=1e-3)
    assert volga_per_pct2(float(base.volga)) == pytest.approx(
        vega_per_pct(float(up.vega - down.vega)), rel=1e-3
    )
    rate_up, rate_down = g(rate=0.035), g(rate=0.025)
    assert rho_per_pct(float(base.rho)) == pytest.approx(
        float(rate_up.price - rate_down.price), rel=1e-4
    )


def test_conversions_work_on_arrays() -> None:
    theta = np.array([-365.0, -36.5])
    np.testing.assert_allclose(theta_per_day(theta), [-1.0, -0.1])
    np.testing.assert_allclose(theta_per_day(theta, days_per_year=252.0), theta / 252.0)
