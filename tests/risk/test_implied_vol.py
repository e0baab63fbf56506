"""Implied vol: round trips against 40-digit prices, extremes, reason codes, properties.

Round-trip accuracy is defined against exact prices: each test price is computed in mpmath
and rounded once to float64. A case counts as *informative* when that rounding alone moves
the implied vol by at most 1e-13 relative, i.e. ``ulp(price)/2 ≤ 1e-13 · vega · vol`` (and,
for BSM, the rounding of the forward computed from spot moves it by no more). On every
informative case with ``|ln(F/K)| ≤ 3`` and vol in [1 %, 400 %] the solver must return
the vol to 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.risk.errors import InputReason, InvalidInputError
from paraclear.risk.greeks import black76_price
from paraclear.risk.implied_vol import implied_vol_black76, implied_vol_bsm

mp = pytest.importorskip("mpmath")

FloatArray = npt.NDArray[np.float64]


def _exact_black(
    f: float, k: float, t: float, r: float, v: float, call: bool
) -> tuple[float, float, float]:
    """(price, vega, |delta|) of a discounted Black-76 option to 40 digits, then rounded."""
    mp.mp.dps = 40
    F, K, T, R, V = (mp.mpf(a) for a in (f, k, t, r, v))
    w = 1 if call else -1
    sq = mp.sqrt(T)
    d1 = mp.log(F / K) / (V * sq) + V * sq / 2
    df = mp.exp(-R * T)
    price = df * w * (F * mp.ncdf(w * d1) - K * mp.ncdf(w * (d1 - V * sq)))
    return float(price), float(df * F * mp.npdf(d1) * sq), float(df * mp.ncdf(w * d1))


def _cases(seed: int, n: int) -> tuple[FloatArray, ...]:
    rng = np.random.default_rng(seed)
    f = 10 ** rng.uniform(0, 4, n)
    k = f * np.exp(-rng.uniform(-3.0, 3.0, n))
    t = 10 ** rng.uniform(np.log10(1 / 365), np.log10(5.0), n)
    r = rng.uniform(-0.02, 0.1, n)
    v = 10 ** rng.uniform(-2, np.log10(4.0), n)
    return f, k, t, r, v, rng.random(n) < 0.5


def _informative(price: FloatArray, vega: FloatArray, vol: FloatArray) -> npt.NDArray[np.bool_]:
    normal = price >= np.finfo(np.float64).tiny  # subnormal prices carry few digits
    with np.errstate(divide="ignore", invalid="ignore"):
        return normal & (0.5 * np.spacing(price) / price <= 1e-13 * vega * vol / price)


def test_black76_round_trip_to_1e12_on_every_informative_case() -> None:
    f, k, t, r, v, call = _cases(1, 4000)
    exact = np.array([_exact_black(*a) for a in zip(f, k, t, r, v, call, strict=True)])
    price, vega = exact[:, 0], exact[:, 1]
    use = _informative(price, vega, v)
    assert use.mean() > 0.4, "too few informative cases: the test would prove little"
    res = implied_vol_black76(price[use], f[use], k[use], t[use], r[use], call[use])
    assert np.all(res.ok)
    rel = np.abs(res.vol / v[use] - 1.0)
    worst = int(np.argmax(rel))
    assert rel[worst] <= 1e-12, (
        rel[worst],
        f[use][worst],
        k[use][worst],
        t[use][worst],
        v[use][worst],
        call[use][worst],
        price[use][worst],
    )


def test_bsm_round_trip_to_1e12_on_every_informative_case() -> None:
    f, k, t, r, v, call = _cases(2, 1500)
    q = np.random.default_rng(3).uniform(-0.05, 0.1, f.size)
    spot = f * np.exp(-(r - q) * t)  # float spot; the exact forward follows from it
    mp.mp.dps = 40
    fwd = np.array(
        [
            float(mp.mpf(s) * mp.exp((mp.mpf(a) - mp.mpf(b)) * mp.mpf(c)))
            for s, a, b, c in zip(spot, r, q, t, strict=True)
        ]
    )
    exact = np.array([_exact_black(*a) for a in zip(fwd, k, t, r, v, call, strict=True)])
    price, vega, delta = exact[:, 0], exact[:, 1], exact[:, 2]
    # the solver forms the forward in float64: a few ulps of F move the price by delta·dF
    use = _informative(price, vega, v) & (4 * np.spacing(fwd) * delta <= 1e-13 * vega * v)
    assert use.mean() > 0.4
    res = implied_vol_bsm(price[use], spot[use], k[use], t[use], r[use], q[use], call[use])
    rel = np.abs(res.vol / v[use] - 1.0)
    assert np.all(res.ok) and rel.max() <= 1e-12, rel.max()


@pytest.mark.parametrize(
    ("log_moneyness", "vol", "expiry"),
    [
        (-3.0, 0.01, 1 / 365),
        (3.0, 0.01, 1 / 365),
        (-3.0, 4.0, 5.0),
        (3.0, 4.0, 5.0),
        (0.0, 0.01, 1 / 365),
        (0.0, 4.0, 5.0),
        (-3.0, 0.05, 1.0),
        (1e-9, 0.3, 0.5),
        (-0.5, 0.01, 1 / 365),
    ],
)
@pytest.mark.parametrize("call", [True, False])
def test_extreme_cases_round_trip_or_are_uninformative(
    log_moneyness: float, vol: float, expiry: float, call: bool
) -> None:
    f = 100.0
    k = f * np.exp(-log_moneyness)
    price, vega, _ = _exact_black(f, k, expiry, 0.01, vol, call)
    res = implied_vol_black76(price, f, k, expiry, 0.01, call)
    if _informative(np.array(price), np.array(vega), np.array(vol)):
        assert abs(float(res.vol) / vol - 1.0) <= 1e-12
    elif res.ok:
        # uninformative: any vol that reprices to the same float within rounding will do
        again = black76_price(f, k, expiry, 0.01, float(res.vol), call)
        assert again == pytest.approx(price, rel=1e-12, abs=4 * np.spacing(price))
    else:
        # the rounded price fell on the wrong side of a bound by rounding only
        df = np.exp(-0.01 * expiry)
        bounds = (df * max((f - k) if call else (k - f), 0.0), df * (f if call else k))
        assert int(res.reason) in (InputReason.BELOW_INTRINSIC, InputReason.ABOVE_UPPER_BOUND)
        assert min(abs(price - b) for b in bounds) <= 8 * np.spacing(max(bounds))


def test_reason_codes_for_prices_without_a_vol() -> None:
    res = implied_vol_black76(
        price=[-1.0, 5.0, 120.0, 10.0, np.nan, 10.0, 0.0],
        forward=[100.0, 100.0, 100.0, 100.0, 100.0, -1.0, 100.0],
        strike=[100.0, 90.0, 100.0, 100.0, 100.0, 100.0, 120.0],
        expiry=[1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        rate=0.0,
        is_call=True,
    )
    assert res.reason.tolist() == [
        InputReason.NEGATIVE_PRICE,
        InputReason.BELOW_INTRINSIC,
        InputReason.ABOVE_UPPER_BOUND,
        InputReason.ZERO_EXPIRY,
        InputReason.NAN_OR_INF,
        InputReason.NON_POSITIVE_UNDERLYING,
        InputReason.OK,
    ]
    assert np.isnan(res.vol[:6]).all() and res.vol[6] == 0.0
    with pytest.raises(InvalidInputError) as info:
        res.raise_if_invalid()
    assert info.value.indices == [0, 1, 2, 3, 4, 5]


@settings(max_examples=200, deadline=None)
@given(st.floats(-3.0, 3.0), st.floats(0.02, 3.0), st.floats(0.01, 5.0), st.booleans())
def test_implied_vol_increases_with_price(m: float, vol: float, t: float, call: bool) -> None:
    k = 100.0 * np.exp(-m)
    p = black76_price(100.0, k, t, 0.02, np.array([vol, vol * 1.01]), call)
    res = implied_vol_black76(p, 100.0, k, t, 0.02, call)
    # a price near the bottom of the float range (e.g. 1e-322) normalises to beta == 0
    if res.ok.all() and p[1] > max(p[0], 1e-300):
        assert res.vol[1] > res.vol[0]
