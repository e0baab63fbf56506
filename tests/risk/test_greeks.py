"""Unit tests of Black-76/BSM prices and Greeks: textbook values, limits, invalid inputs."""

from __future__ import annotations

import numpy as np
import pytest

from paraclear.risk.errors import BackendUnavailable, InputReason, InvalidInputError
from paraclear.risk.greeks import (
    KernelMode,
    black76_greeks,
    black76_price,
    bsm_greeks,
    bsm_price,
)

MODES = [KernelMode.STRICT, KernelMode.FAST]


@pytest.mark.parametrize("mode", MODES)
def test_hull_call_and_put_match_textbook_to_four_decimals(mode: KernelMode) -> None:
    # Hull, Options Futures and Other Derivatives, ex. 15.6: S=42 K=40 r=10% σ=20% T=0.5
    g = bsm_greeks(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, [True, False], mode=mode)
    assert np.round(g.price, 4).tolist() == [4.7594, 0.8086]


def test_haug_generalised_bsm_put_with_dividend_matches_textbook() -> None:
    # Haug, Complete Guide (2nd ed.) §1.1.6 example: S=100 K=95 T=0.5 r=10% q=5% σ=20%
    # gives put 2.4648.
    assert round(float(bsm_price(100.0, 95.0, 0.5, 0.10, 0.05, 0.20, False)), 4) == 2.4648


def test_haug_black76_call_matches_textbook() -> None:
    # Haug §1.1.3 Black-76: F=19 K=19 T=0.75 r=10% σ=28% gives call = put = 1.7011.
    p = black76_price(19.0, 19.0, 0.75, 0.10, 0.28, [True, False])
    assert np.round(p, 4).tolist() == [1.7011, 1.7011]


def test_hull_greeks_match_closed_forms() -> None:
    # Hull ex. 19.1-style check: S=49 K=50 r=5% σ=20% T=0.3846, call delta 0.522, gamma
    # 0.066, vega 12.1 (per 1.00), theta -4.31 per year, rho 8.91.
    g = bsm_greeks(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, True)
    assert round(float(g.delta), 3) == 0.522
    assert round(float(g.gamma), 3) == 0.066
    assert round(float(g.vega), 1) == 12.1
    assert round(float(g.theta), 2) == -4.31
    assert round(float(g.rho), 2) == 8.91


def test_black76_rho_is_minus_expiry_times_price() -> None:
    g = black76_greeks([90.0, 110.0], 100.0, 2.0, 0.03, 0.5, [True, False])
    np.testing.assert_array_equal(g.rho, -2.0 * g.price)


@pytest.mark.parametrize("mode", MODES)
def test_expiry_zero_gives_intrinsic_and_limiting_greeks(mode: KernelMode) -> None:
    g = black76_greeks(100.0, [90.0, 100.0, 110.0], 0.0, 0.05, 0.2, True, mode=mode)
    assert g.price.tolist() == [10.0, 0.0, 0.0]
    assert g.delta.tolist() == [1.0, 0.5, 0.0]
    assert g.gamma.tolist() == [0.0, np.inf, 0.0]
    assert g.vega.tolist() == [0.0, 0.0, 0.0]
    assert g.theta[1] == -np.inf and g.theta[0] == pytest.approx(0.05 * 10.0)
    assert not np.isnan(np.stack([g.price, g.delta, g.vanna, g.volga, g.rho])).any()


@pytest.mark.parametrize("mode", MODES)
def test_expiry_zero_put_is_intrinsic(mode: KernelMode) -> None:
    g = bsm_greeks(100.0, [90.0, 110.0], 0.0, 0.05, 0.01, 0.3, False, mode=mode)
    assert g.price.tolist() == [0.0, 10.0]
    assert g.delta.tolist() == [0.0, -1.0]


@pytest.mark.parametrize("mode", MODES)
def test_zero_vol_gives_discounted_intrinsic_of_forward(mode: KernelMode) -> None:
    g = bsm_greeks(100.0, 90.0, 1.0, 0.05, 0.0, 0.0, True, mode=mode)
    assert float(g.price) == pytest.approx(100.0 - 90.0 * np.exp(-0.05), rel=1e-15)
    assert float(g.delta) == 1.0


@pytest.mark.parametrize(
    ("forward", "strike", "expiry", "vol", "reason"),
    [
        (np.nan, 100.0, 1.0, 0.2, InputReason.NAN_OR_INF),
        (-1.0, 100.0, 1.0, 0.2, InputReason.NON_POSITIVE_UNDERLYING),
        (100.0, 0.0, 1.0, 0.2, InputReason.NON_POSITIVE_STRIKE),
        (100.0, 100.0, -1.0, 0.2, InputReason.NEGATIVE_EXPIRY),
        (100.0, 100.0, 1.0, -0.2, InputReason.NEGATIVE_VOL),
        (100.0, 100.0, np.inf, 0.2, InputReason.NAN_OR_INF),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_invalid_element_raises_typed_error_naming_its_index(
    forward: float,
    strike: float,
    expiry: float,
    vol: float,
    reason: InputReason,
    mode: KernelMode,
) -> None:
    forwards = np.array([100.0, 100.0, forward])
    strikes = np.array([100.0, 100.0, strike])
    with pytest.raises(InvalidInputError) as info:
        black76_greeks(
            forwards,
            strikes,
            expiry if reason is InputReason.OK else np.array([1.0, 1.0, expiry]),
            0.0,
            np.array([0.2, 0.2, vol]),
            True,
            mode=mode,
        )
    assert info.value.indices == [2]
    assert info.value.reasons == [reason]
    assert info.value.count == 1


def test_broadcasting_returns_the_common_shape() -> None:
    strikes = np.linspace(80.0, 120.0, 5)[:, None]
    vols = np.array([0.1, 0.2, 0.3])[None, :]
    g = black76_greeks(100.0, strikes, 1.0, 0.0, vols, True)
    assert g.price.shape == (5, 3) and g.volga.shape == (5, 3)
    assert g.price[2, 1] == float(black76_price(100.0, 100.0, 1.0, 0.0, 0.2, True))


def test_cuda_backend_refuses_strict_mode_and_bsm() -> None:
    with pytest.raises(BackendUnavailable, match="strict"):
        black76_greeks(100.0, 100.0, 1.0, 0.0, 0.2, True, backend="cuda")
    with pytest.raises(BackendUnavailable, match="Black-76"):
        bsm_greeks(100.0, 100.0, 1.0, 0.0, 0.0, 0.2, True, mode=KernelMode.FAST, backend="cuda")


def test_unknown_backend_raises_backend_unavailable() -> None:
    with pytest.raises(BackendUnavailable):
        black76_greeks(100.0, 100.0, 1.0, 0.0, 0.2, True, backend="tpu")  # type: ignore[arg-type]


def test_reused_output_block_never_overwrites_a_result_still_held() -> None:
    n = 100_000  # large enough for output-block reuse
    strikes = np.linspace(50.0, 150.0, n)
    first = black76_greeks(100.0, strikes, 1.0, 0.0, 0.2, True, mode=KernelMode.FAST)
    kept = first.price.copy()
    second = black76_greeks(100.0, strikes, 1.0, 0.0, 0.4, True, mode=KernelMode.FAST)
    assert np.array_equal(first.price, kept)  # first still held: fresh block for second
    assert not np.shares_memory(first.price, second.price)
    held_delta = second.delta
    del first, second
    third = black76_greeks(100.0, strikes, 1.0, 0.0, 0.3, True, mode=KernelMode.FAST)
    assert not np.shares_memory(held_delta, third.price)  # a view of second is still held
    block = id(third.price.base)  # the id only: holding the block would prevent reuse
    del third, held_delta
    fourth = black76_greeks(100.0, strikes, 1.0, 0.0, 0.3, True, mode=KernelMode.FAST)
    assert id(fourth.price.base) == block  # nothing held any more: the block is reused
