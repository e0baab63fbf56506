"""Scenario risk arrays: grid, rounding against the holder, and margins they imply."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.risk.greeks import black76_greeks, black76_price
from paraclear.risk.portfolio import SIZE_SCALE, portfolio_margin, portfolio_margins
from paraclear.risk.scenarios import (
    DEFAULT_GRID,
    ScenarioGrid,
    ScenarioInputError,
    SeriesKind,
    VolShock,
    VolState,
    risk_arrays,
)

F = 60_000.0
REGULAR = ScenarioGrid.product(moves=DEFAULT_GRID.moves[::3][:9])


def test_default_grid_is_9_moves_by_3_vols_plus_extended_at_35_percent() -> None:
    g = DEFAULT_GRID
    assert g.size == 27 + 12
    assert sorted(set(g.moves[:27])) == [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16]
    assert set(g.cover_ppm[:27]) == {1_000_000} and set(g.cover_ppm[27:]) == {350_000}
    assert sorted(set(g.moves[27:])) == [-0.5, -0.33, 0.33, 0.5]
    assert g.label(26) == "+16% vol UP (100%)"
    assert REGULAR.size == 27 and REGULAR.moves == DEFAULT_GRID.moves[:27]


def test_vol_shock_follows_deribit_shape_with_cap() -> None:
    shock = VolShock()
    sizes = shock.size(np.array([30.0, 365.0, 1.0, 0.0]) / 365.0)
    assert sizes[0] == pytest.approx(0.38)
    assert sizes[1] == pytest.approx(0.38 * (30 / 365) ** 0.3)
    assert sizes[2] == sizes[3] == 1.0  # capped


def _book() -> dict[str, np.ndarray]:
    return {
        "kind": np.array([SeriesKind.CALL, SeriesKind.PUT, SeriesKind.LINEAR, SeriesKind.CALL]),
        "underlying": np.array([F, F, 59_950.0, F * 1.01]),
        "strike": np.array([F, 50_000.0, 0.0, 90_000.0]),
        "expiry": np.array([30 / 365, 7 / 365, 0.0, 0.5]),
        "vol": np.array([0.6, 0.9, 0.0, 0.7]),
        "contract_size": np.array([1.0, 1.0, 1.0, 0.1]),
    }


def test_option_arrays_equal_direct_strict_black76_revaluation() -> None:
    book = _book()
    arrays = risk_arrays(**book)
    for i in (0, 1, 3):
        shock = 1.0 + VolShock().size(book["expiry"][i])
        is_call = book["kind"][i] == SeriesKind.CALL
        args = (book["strike"][i], book["expiry"][i], 0.0)
        mark = float(black76_price(book["underlying"][i], *args, book["vol"][i], is_call))
        for s, (move, state) in enumerate(
            zip(DEFAULT_GRID.moves, DEFAULT_GRID.vol_states, strict=True)
        ):
            f = book["underlying"][i] * (1.0 + move)
            vol = {VolState.UP: book["vol"][i] * shock, VolState.SAME: book["vol"][i],
                   VolState.DOWN: book["vol"][i] / shock}[state]  # fmt: skip
            price = float(black76_price(f, *args, vol, is_call))
            x = (price - mark) * book["contract_size"][i] * 1e6
            assert arrays.long[i, s] == math.floor(x) and arrays.short[i, s] == math.floor(-x)


def test_perpetual_pnl_is_linear_in_the_move() -> None:
    arrays = risk_arrays(**_book())
    expected = np.array(DEFAULT_GRID.moves) * 59_950.0 * 1e6
    assert np.all(np.abs(arrays.long[2] - expected) <= 1)
    assert arrays.long[2, 26] == 9_592_000_000  # +16 % of 59,950 USDC
    assert np.all(arrays.long[2] + arrays.short[2] <= 0)


def test_unshocked_scenario_is_exactly_zero() -> None:
    arrays = risk_arrays(**_book())
    centre = [
        s
        for s in range(27)
        if DEFAULT_GRID.moves[s] == 0 and DEFAULT_GRID.vol_states[s] == VolState.SAME
    ]
    assert arrays.long[:, centre].tolist() == [[0]] * 4
    assert arrays.short[:, centre].tolist() == [[0]] * 4


@settings(max_examples=50, deadline=None)
@given(
    kind=st.sampled_from(list(SeriesKind)),
    forward=st.floats(1.0, 200_000.0),
    moneyness=st.floats(0.3, 3.0),
    days=st.floats(0.0, 800.0),
    vol=st.floats(0.0, 3.0),
    size=st.floats(1e-4, 100.0),
)
def test_long_plus_short_never_exceeds_zero(
    kind: SeriesKind, forward: float, moneyness: float, days: float, vol: float, size: float
) -> None:
    arrays = risk_arrays(kind, forward, forward * moneyness, days / 365, vol, size)
    total = arrays.long + arrays.short
    assert np.all(total <= 0) and np.all(total >= -1)
    assert arrays.long.dtype == np.int64


def test_short_call_worst_scenario_is_the_largest_up_move_with_vol_up() -> None:
    arrays = risk_arrays(SeriesKind.CALL, F, F * 1.05, 14 / 365, 0.6, 1.0, grid=REGULAR)
    req = portfolio_margin([-SIZE_SCALE], arrays.long, arrays.short, arrays.cover_ppm)
    assert REGULAR.label(req.worst_scenario) == "+16% vol UP (100%)"
    full = risk_arrays(SeriesKind.CALL, F, F * 1.05, 14 / 365, 0.6, 1.0)
    req = portfolio_margin([-SIZE_SCALE], full.long, full.short, full.cover_ppm)
    s = req.worst_scenario
    assert DEFAULT_GRID.moves[s] > 0 and DEFAULT_GRID.vol_states[s] is VolState.UP


def test_delta_hedged_short_call_needs_less_margin_than_naked() -> None:
    expiry, vol = 30 / 365, 0.6
    delta = float(black76_greeks(F, F, expiry, 0.0, vol, True).delta)
    arrays = risk_arrays(
        [SeriesKind.CALL, SeriesKind.LINEAR], F, [F, 0.0], [expiry, 0.0], [vol, 0.0], 1.0
    )
    naked = portfolio_margin([-SIZE_SCALE, 0], arrays.long, arrays.short, arrays.cover_ppm)
    hedge = round(delta * SIZE_SCALE)
    hedged = portfolio_margin([-SIZE_SCALE, hedge], arrays.long, arrays.short, arrays.cover_ppm)
    assert 0 < hedged.maintenance < 0.5 * naked.maintenance
    assert hedged.initial == -((-hedged.maintenance * 5) // 4)


def test_long_option_never_loses_more_than_its_premium() -> None:
    book = _book()
    arrays = risk_arrays(**book)
    for i in (0, 1, 3):
        is_call = book["kind"][i] == SeriesKind.CALL
        premium = float(
            black76_price(
                book["underlying"][i],
                book["strike"][i],
                book["expiry"][i],
                0.0,
                book["vol"][i],
                is_call,
            )
        )
        premium_micro = premium * book["contract_size"][i] * 1e6
        assert -arrays.long[i].min() <= math.ceil(premium_micro) + 1


def test_vectorised_account_margins_match_single_account_on_real_arrays() -> None:
    arrays = risk_arrays(**_book())
    rng = np.random.default_rng(4)
    sizes = rng.integers(-5 * SIZE_SCALE, 5 * SIZE_SCALE, size=(50, 4), dtype=np.int64)
    sizes[rng.random((50, 4)) < 0.4] = 0
    initial, maintenance = portfolio_margins(sizes, arrays.long, arrays.short, arrays.cover_ppm)
    for a in range(50):
        one = portfolio_margin(sizes[a], arrays.long, arrays.short, arrays.cover_ppm)
        assert (one.initial, one.maintenance) == (initial[a], maintenance[a])


def test_bad_series_inputs_raise() -> None:
    with pytest.raises(ScenarioInputError):
        risk_arrays([7], F, F, 0.1, 0.5, 1.0)
    with pytest.raises(ScenarioInputError):
        risk_arrays(SeriesKind.LINEAR, 1e300, 0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ScenarioInputError):
        ScenarioGrid((0.1, -1.5), (VolState.UP, VolState.UP), (1_000_000, 1_000_000))


def test_short_put_worst_is_the_largest_down_move_with_vol_up() -> None:
    arrays = risk_arrays(SeriesKind.PUT, F, F * 0.95, 14 / 365, 0.6, 1.0, grid=REGULAR)
    req = portfolio_margin([-SIZE_SCALE], arrays.long, arrays.short, arrays.cover_ppm)
    assert REGULAR.label(req.worst_scenario) == "-16% vol UP (100%)"


def test_long_straddle_worst_is_no_move_with_vol_down() -> None:
    kinds = [SeriesKind.CALL, SeriesKind.PUT]
    arrays = risk_arrays(kinds, F, F, 60 / 365, 0.6, 1.0, grid=REGULAR)
    req = portfolio_margin([SIZE_SCALE, SIZE_SCALE], arrays.long, arrays.short, arrays.cover_ppm)
    assert REGULAR.label(req.worst_scenario) == "+0% vol DOWN (100%)"
    assert req.maintenance > 0


def test_pipeline_from_fitted_surface_to_account_margins() -> None:
    from paraclear.risk.surface import fit_surface
    from paraclear.risk.svi import SviParams
    from paraclear.risk.svi_fit import SliceQuotes, implied_vols_from_params

    strikes = F * np.exp(np.linspace(-0.5, 0.5, 15))
    slices = [(7 / 365, SviParams(0.002, 0.03, -0.2, 0.0, 0.1)),
              (30 / 365, SviParams(0.01, 0.06, -0.25, 0.0, 0.15))]  # fmt: skip
    quotes = [SliceQuotes(t, F, strikes, implied_vols_from_params(p, t, F, strikes))
              for t, p in slices]  # fmt: skip
    fitted = fit_surface(quotes)
    assert fitted.arbitrage_free
    series_k = np.array([F, F * 1.1, F * 0.9, 0.0])
    series_t = np.array([7 / 365, 30 / 365, 20 / 365, 0.0])
    kinds = [SeriesKind.CALL, SeriesKind.CALL, SeriesKind.PUT, SeriesKind.LINEAR]
    vols = np.zeros(4)
    vols[:3] = fitted.surface.implied_vol(series_k[:3], series_t[:3], F)
    arrays = risk_arrays(kinds, F, series_k, series_t, vols, 1.0)
    sizes = np.array([[-SIZE_SCALE, 0, 0, 0], [-SIZE_SCALE, 0, 0, SIZE_SCALE // 2]], np.int64)
    _, maintenance = portfolio_margins(sizes, arrays.long, arrays.short, arrays.cover_ppm)
    assert 0 < maintenance[1] < maintenance[0]  # half a perp hedges the short ATM call
