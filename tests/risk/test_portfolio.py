"""Portfolio margin: exact integer arithmetic, rounding against the account, extremes."""

from __future__ import annotations

from fractions import Fraction
from math import ceil, floor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.risk.portfolio import (
    COVER_SCALE,
    SIZE_SCALE,
    MarginPolicy,
    PortfolioInputError,
    portfolio_margin,
    portfolio_margins,
    portfolio_margins_sparse,
)

I64_MAX = 2**63 - 1


def reference_maintenance(
    sizes: list[int], long_pnl: list[list[int]], short_pnl: list[list[int]], cover: list[int]
) -> int:
    """Readable reference with exact rationals: worst covered loss, rounded against the account."""
    worst = 0
    for s, c in enumerate(cover):
        pnl = Fraction(0)
        for i, q in enumerate(sizes):
            row = long_pnl[i] if q > 0 else short_pnl[i]
            pnl += Fraction(abs(q) * row[s], SIZE_SCALE)
        loss = max(0, -floor(pnl))
        worst = max(worst, ceil(Fraction(loss * c, COVER_SCALE)))
    return worst


def test_one_long_contract_margin_is_its_worst_loss() -> None:
    long_pnl = np.array([[-5_000_000, 0, 7_000_000]], dtype=np.int64)
    short_pnl = -long_pnl
    req = portfolio_margin([SIZE_SCALE], long_pnl, short_pnl)
    assert (req.maintenance, req.worst_scenario) == (5_000_000, 0)
    assert req.initial == 6_250_000
    short = portfolio_margin([-2 * SIZE_SCALE], long_pnl, short_pnl)
    assert (short.maintenance, short.worst_scenario) == (14_000_000, 2)


def test_fractional_size_rounds_loss_up_and_gain_down() -> None:
    long_pnl = np.array([[-1, 1]], dtype=np.int64)  # one micro-USDC per contract
    req = portfolio_margin([1], long_pnl, -long_pnl)  # 1e-6 contract
    assert req.maintenance == 1  # floor(-1e-6) = -1: the account pays the rounding
    gain_only = portfolio_margin([1], np.array([[1, 1]], np.int64), np.array([[-1, -1]], np.int64))
    assert gain_only.maintenance == 0 and gain_only.worst_scenario == -1


def test_no_position_needs_no_margin() -> None:
    long_pnl = np.array([[-10, 10]], dtype=np.int64)
    assert portfolio_margin([0], long_pnl, -long_pnl).maintenance == 0
    assert portfolio_margin([], long_pnl[:0], long_pnl[:0]).maintenance == 0


def test_offsetting_positions_net_before_the_worst_scenario() -> None:
    call = np.array([[-9_000_000, 1_000_000, 12_000_000]], dtype=np.int64)
    hedge = np.array([[8_000_000, 0, -10_000_000]], dtype=np.int64)
    rows = np.vstack([call, hedge])
    naked = portfolio_margin([SIZE_SCALE], call, -call).maintenance
    hedged = portfolio_margin([SIZE_SCALE, SIZE_SCALE], rows, -rows).maintenance
    assert hedged < naked
    assert hedged == 1_000_000


def test_extended_scenarios_count_only_their_cover_fraction() -> None:
    long_pnl = np.array([[-3_000_000, -10_000_001]], dtype=np.int64)
    cover = np.array([COVER_SCALE, 330_000], dtype=np.int64)
    req = portfolio_margin([SIZE_SCALE], long_pnl, -long_pnl, cover)
    assert req.maintenance == 3_300_001  # ceil(10_000_001 * 0.33)
    assert req.worst_scenario == 1


def test_custom_policy_rounds_initial_margin_up() -> None:
    assert MarginPolicy(3, 2).initial_from(3) == 5
    assert MarginPolicy(1, 1).initial_from(7) == 7


def test_margin_is_exact_at_int64_extremes() -> None:
    big = 10**12
    long_pnl = np.array([[-big, big], [3, -5]], dtype=np.int64)
    short_pnl = np.array([[-big - 1, big - 1], [-(I64_MAX // 2), 5]], dtype=np.int64)
    sizes = [big, -big]
    expected = reference_maintenance(
        sizes, long_pnl.tolist(), short_pnl.tolist(), [COVER_SCALE] * 2
    )
    assert expected > 2**63  # far beyond int64 …
    assert portfolio_margin(sizes, long_pnl, short_pnl).maintenance == expected
    with pytest.raises(PortfolioInputError):  # … so the int64 vector API must refuse it
        portfolio_margins(np.array([sizes], np.int64), long_pnl, short_pnl)


def test_vectorised_uses_exact_fallback_when_int64_partial_sums_would_overflow() -> None:
    # Each product is ~9e18 (> int64) but the net P&L is small: the exact path must run.
    q = 9 * 10**6
    long_pnl = np.array([[-(10**12)], [10**12 - 1]], dtype=np.int64)
    sizes = np.array([[q * 10**6, q * 10**6]], dtype=np.int64)
    initial, maintenance = portfolio_margins(sizes, long_pnl, -long_pnl)
    expected = reference_maintenance(
        sizes[0].tolist(), long_pnl.tolist(), (-long_pnl).tolist(), [COVER_SCALE]
    )
    assert maintenance.tolist() == [expected] and expected == q
    assert initial.tolist() == [MarginPolicy().initial_from(expected)]


pnl_values = st.integers(-(10**12), 10**12)
size_values = st.one_of(st.integers(-(10**12), 10**12), st.integers(-100, 100))


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(), n_series=st.integers(1, 5), n_scen=st.integers(1, 6), n_acc=st.integers(1, 4)
)
def test_vectorised_and_single_account_margins_equal_the_rational_reference(
    data: st.DataObject, n_series: int, n_scen: int, n_acc: int
) -> None:
    grid = st.lists(
        st.lists(pnl_values, min_size=n_scen, max_size=n_scen), min_size=n_series, max_size=n_series
    )
    long_rows = data.draw(grid)
    gap = data.draw(
        st.lists(
            st.lists(st.integers(0, 3), min_size=n_scen, max_size=n_scen),
            min_size=n_series,
            max_size=n_series,
        )
    )
    short_rows = [
        [-v - g for v, g in zip(r, gr, strict=True)] for r, gr in zip(long_rows, gap, strict=True)
    ]
    cover = data.draw(st.lists(st.integers(0, COVER_SCALE), min_size=n_scen, max_size=n_scen))
    accounts = data.draw(
        st.lists(
            st.lists(size_values, min_size=n_series, max_size=n_series),
            min_size=n_acc,
            max_size=n_acc,
        )
    )
    long_pnl, short_pnl = np.array(long_rows, np.int64), np.array(short_rows, np.int64)
    cover_arr = np.array(cover, np.int64)
    expected = [reference_maintenance(a, long_rows, short_rows, cover) for a in accounts]
    singles = [portfolio_margin(a, long_pnl, short_pnl, cover_arr).maintenance for a in accounts]
    assert singles == expected
    if max(expected) < 2**62:
        dense = np.array(accounts, np.int64)
        _, vector = portfolio_margins(dense, long_pnl, short_pnl, cover_arr)
        assert vector.tolist() == expected
        _, sparse = portfolio_margins_sparse(*_to_csr(dense), long_pnl, short_pnl, cover_arr)
        assert sparse.tolist() == expected


def _to_csr(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of each account (reversed, to show row order does not matter)."""
    rows = [np.flatnonzero(r)[::-1] for r in dense]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    series = np.concatenate([r for r in rows] + [np.zeros(0, np.int64)]).astype(np.int64)
    sizes = np.concatenate(
        [d[r] for d, r in zip(dense, rows, strict=True)] + [np.zeros(0, np.int64)]
    )
    return indptr, series, sizes.astype(np.int64)


def test_sparse_scan_handles_empty_accounts_and_rejects_bad_indices() -> None:
    long_pnl = np.array([[-5, 5], [7, -7]], dtype=np.int64) * SIZE_SCALE
    indptr = np.array([0, 0, 2, 3], dtype=np.int64)
    series = np.array([0, 1, 1], dtype=np.int64)
    sizes = np.array([1, 1, -2], dtype=np.int64) * SIZE_SCALE
    initial, maintenance = portfolio_margins_sparse(indptr, series, sizes, long_pnl, -long_pnl)
    assert maintenance.tolist() == [0, 2 * SIZE_SCALE, 14 * SIZE_SCALE]
    assert initial.tolist() == [0, 2_500_000, 17_500_000]
    with pytest.raises(PortfolioInputError):
        bad = np.array([0, 2, 5], dtype=np.int64)
        portfolio_margins_sparse(indptr, bad, sizes, long_pnl, -long_pnl)
    with pytest.raises(PortfolioInputError):
        portfolio_margins_sparse(indptr[:-1], series, sizes, long_pnl, -long_pnl)


def test_bad_inputs_raise_typed_errors() -> None:
    long_pnl = np.array([[-1, 1]], dtype=np.int64)
    with pytest.raises(PortfolioInputError):
        portfolio_margin([1], long_pnl.astype(np.float64), -long_pnl)  # type: ignore[arg-type]
    with pytest.raises(PortfolioInputError):
        portfolio_margin([1, 2], long_pnl, -long_pnl)
    with pytest.raises(PortfolioInputError):
        portfolio_margin([1], long_pnl, -long_pnl, np.array([1, COVER_SCALE + 1], np.int64))
    with pytest.raises(PortfolioInputError):
        portfolio_margins(np.array([[1.0]]), long_pnl, -long_pnl)  # type: ignore[arg-type]
