"""All eight outputs against a 40-digit mpmath evaluation of the same closed forms.

This covers what QuantLib cannot arbitrate: vanna, volga, and far tails (|d1| up to ~40),
where our kernel must stay within a few hundred ulps times the condition number.
"""

from __future__ import annotations

import numpy as np
import pytest

from paraclear.risk.greeks import KernelMode, bsm_greeks

mp = pytest.importorskip("mpmath")


def _reference(
    s: float, k: float, t: float, r: float, q: float, v: float, call: bool
) -> list[float]:
    mp.mp.dps = 40
    S, K, T, R, Q, V = (mp.mpf(x) for x in (s, k, t, r, q, v))
    w = 1 if call else -1
    sq = mp.sqrt(T)
    d1 = (mp.log(S / K) + (R - Q + V * V / 2) * T) / (V * sq)
    d2 = d1 - V * sq
    cf, df = mp.exp(-Q * T), mp.exp(-R * T)
    n1, n2, pdf = mp.ncdf(w * d1), mp.ncdf(w * d2), mp.npdf(d1)
    price = w * (S * cf * n1 - K * df * n2)
    vega = S * cf * pdf * sq
    theta = -S * cf * pdf * V / (2 * sq) - w * (-Q * S * cf * n1 + R * K * df * n2)
    return [
        float(x)
        for x in (
            price,
            w * cf * n1,
            cf * pdf / (S * V * sq),
            vega,
            theta,
            w * K * T * df * n2,
            -cf * pdf * d2 / V,
            vega * d1 * d2 / V,
        )
    ]


@pytest.mark.parametrize("mode", [KernelMode.STRICT, KernelMode.FAST])
def test_all_outputs_match_mpmath_including_far_tails(mode: KernelMode) -> None:
    rng = np.random.default_rng(21)
    n = 300
    s = rng.uniform(1.0, 1000.0, n)
    x = np.column_stack(
        [
            s,
            s * np.exp(rng.uniform(-3.0, 3.0, n)),
            rng.uniform(1 / 365, 5.0, n),
            rng.uniform(-0.02, 0.15, n),
            rng.uniform(-0.05, 0.1, n),
            rng.uniform(0.05, 2.0, n),
        ]
    )
    call = rng.random(n) < 0.5
    ref = np.array([_reference(*row, c) for row, c in zip(x.tolist(), call, strict=True)]).T
    g = bsm_greeks(*x.T, call, mode=mode)
    sq = np.sqrt(x[:, 2])
    d1 = np.log(x[:, 0] / x[:, 1]) / (x[:, 5] * sq)
    cond = 1.0 + d1 * d1  # condition number of exp(-d1²/2) and of N(d) in the tail
    size = x[:, 0] + x[:, 1]
    # vanna ∝ d2 and volga ∝ d1·d2 lose relative precision where d1 or d2 crosses zero
    # (d2 = d1 - σ√T cancels): floor on the size of the factors instead.
    vega, vol = np.abs(ref[3]), x[:, 5]
    d_size = np.abs(d1) + vol * sq + 1.0
    vanna_floor = vega / (x[:, 0] * sq * vol) * d_size
    volga_floor = vega / vol * d_size * d_size
    floors = [size, np.ones(n), 0 * size, 0 * size, size / sq, 0 * size, vanna_floor, volga_floor]
    names = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga")
    for name, want, floor in zip(names, ref, floors, strict=True):
        got = getattr(g, name)
        tol = 1e-14 * cond * np.abs(want) + 1e-14 * floor + 1e-300
        err = np.abs(got - want)
        assert np.all(err <= tol), f"{name}: worst ratio {np.max(err / tol):.3g}"
