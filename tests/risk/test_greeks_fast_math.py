"""The libm-free exp/log/erfcx used by the fast-math kernel: accuracy and provenance."""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt
import pytest

from paraclear.risk import _black_fast as fm

mp = pytest.importorskip("mpmath")

FloatArray = npt.NDArray[np.float64]


@numba.njit(fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _apply(xs: FloatArray, which: int) -> FloatArray:
    out = np.empty_like(xs)
    for i in range(xs.size):
        if which == 0:
            out[i] = fm.exp_fast(xs[i])
        elif which == 1:
            out[i] = fm.log_fast(xs[i])
        else:
            out[i] = fm.erfcx_fast(xs[i])
    return out


def test_exp_fast_is_within_a_few_ulps_times_argument_size() -> None:
    xs = np.random.default_rng(1).uniform(-700.0, 709.0, 100_000)
    got, want = _apply(xs, 0), np.exp(xs)
    # fast-math may reassociate the Cody-Waite reduction: error grows like ε·|x|
    assert np.all(np.abs(got / want - 1.0) <= 4e-16 * (1.0 + np.abs(xs)))


def test_exp_fast_underflows_gradually_and_overflows_to_inf() -> None:
    got = _apply(np.array([-740.0, -800.0, -1e4, 710.0, 0.0]), 0)
    assert abs(got[0] - math.exp(-740.0)) <= 2 * 5e-324 and got[1] == 0.0 and got[2] == 0.0
    assert got[3] == math.inf and got[4] == 1.0


def test_log_fast_is_within_two_ulps() -> None:
    xs = 10 ** np.random.default_rng(2).uniform(-300, 300, 100_000)
    got, want = _apply(xs, 1), np.log(xs)
    assert np.all(np.abs(got - want) <= 2 * np.spacing(np.abs(want)) + 1e-300)


def test_erfcx_fast_matches_mpmath_where_the_kernel_uses_it() -> None:
    # Φ(d) = erfcx(|d|/√2)·exp(-d²/2)/2 and exp(-d²/2) underflows beyond |d| ≈ 38.6, so
    # only a = |d|/√2 ≤ ~28 matters; check to 40.
    xs = np.concatenate([np.linspace(0.0, 3.0, 301), np.linspace(3.0, 40.0, 371)])
    got = _apply(xs, 2)
    mp.mp.dps = 50
    want = np.array([float(mp.erfc(x) * mp.exp(x * x)) for x in xs])
    # the interpolant is least accurate towards t → 0 (a → ∞): ~4e-15·a, still below the
    # conditioning ε·a² of the exp(-a²) factor it multiplies
    assert np.all(np.abs(got / want - 1.0) <= 1e-15 + 4e-15 * xs)


def test_erfcx_coefficients_are_the_chebyshev_fit_they_claim_to_be() -> None:
    # Refit: degree-27 Chebyshev interpolant of erfcx(2/t - 2)/t on t in [0, 1] at 128
    # nodes, converted to powers of u = 2t - 1.
    mp.mp.dps = 50
    m, n = 128, 28
    theta = [mp.pi * (k + mp.mpf(1) / 2) / m for k in range(m)]

    def q(t: object) -> object:
        x = 2 / t - 2
        return mp.erfc(x) * mp.exp(x * x) / t

    values = [q((mp.cos(a) + 1) / 2) for a in theta]
    cheb = [2 * mp.fsum(v * mp.cos(j * a) for v, a in zip(values, theta, strict=True)) / m
            for j in range(n)]  # fmt: skip
    cheb[0] /= 2
    powers = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for j in range(2, n):
        up = [mp.mpf(0)] + [2 * c for c in powers[j - 1]]
        down = powers[j - 2] + [mp.mpf(0)] * (len(up) - len(powers[j - 2]))
        powers.append([a - b for a, b in zip(up, down, strict=True)])
    mono = [mp.fsum(cheb[j] * powers[j][k] for j in range(k, n)) for k in range(n)]
    assert [float(c) for c in mono] == fm._ERFCX_POLY.tolist()
