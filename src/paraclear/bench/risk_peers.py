"""Peers for the risk benchmark: the same options through pyvolr, fast-vollib, vollib,
QuantLib; shared input batch and timing helpers.

pyvolr and fast-vollib are vectorised and timed like ours. vollib and QuantLib are scalar
Python loops: a few thousand options are timed and the rate extrapolated. What each peer
computes per option differs: pyvolr and fast-vollib are timed for a price call plus their
Greeks call (delta, gamma, vega, theta, rho), vollib and QuantLib for the same five Greeks
plus price; none returns vanna or volga, so peers do 6 outputs where we do 8. Missing
packages give NaN. Analytics only.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from paraclear.risk.greeks import FloatArray, bsm_greeks, bsm_price
from paraclear.risk.implied_vol import implied_vol_bsm

Progress = Callable[[str], None]
NAN = math.nan


@dataclass(frozen=True, slots=True)
class Options:
    """One batch of BSM options (spot 100, moderate moneyness, expiry, rates, vols)."""

    spot: FloatArray
    strike: FloatArray
    expiry: FloatArray
    rate: FloatArray
    dividend: FloatArray
    vol: FloatArray
    is_call: npt.NDArray[np.bool_]

    @property
    def flag_int(self) -> npt.NDArray[np.int8]:
        return np.where(self.is_call, 1, -1).astype(np.int8)

    @property
    def flag_str(self) -> npt.NDArray[np.str_]:
        return np.where(self.is_call, "c", "p")


def make_options(n: int, seed: int = 20261125) -> Options:
    rng = np.random.default_rng(seed)
    spot = np.full(n, 100.0)
    return Options(
        spot=spot,
        strike=spot * np.exp(rng.uniform(-0.5, 0.5, n)),
        expiry=rng.uniform(0.02, 2.0, n),
        rate=rng.uniform(0.0, 0.05, n),
        dividend=rng.uniform(0.0, 0.03, n),
        vol=rng.uniform(0.1, 1.0, n),
        is_call=rng.random(n) < 0.5,
    )


def rate(fn: Callable[[], object], count: int, repeats: int) -> float:
    """Items per second: ``count`` over the median wall time of ``repeats`` runs."""
    fn()  # warm-up (numba compile, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def pyvolr_rates(o: Options, repeats: int, say: Progress) -> dict[str, float]:
    try:
        import pyvolr.bs as pb
    except ImportError:
        return {"pyvolr_greeks_per_s": NAN, "pyvolr_iv_per_s": NAN}
    say("pyvolr: price + greeks, implied vol")
    n, f = o.spot.size, o.flag_int
    args = (o.spot, o.strike, o.expiry, o.rate, o.vol, o.dividend)

    def greeks() -> None:
        pb.price(f, *args)
        pb.greeks(f, *args)

    price = bsm_price(o.spot, o.strike, o.expiry, o.rate, o.dividend, o.vol, o.is_call)
    iv_args = (price, f, o.spot, o.strike, o.expiry, o.rate, o.dividend)

    def iv() -> None:
        pb.implied_vol(*iv_args, on_error="ignore")

    return {
        "pyvolr_greeks_per_s": rate(greeks, n, repeats),
        "pyvolr_iv_per_s": rate(iv, n, repeats),
        "pyvolr_iv_cores_used": cores_used(iv),
    }


def cores_used(fn: Callable[[], object]) -> float:
    """CPU seconds per wall second of one run: how many cores a peer used by itself."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def fast_vollib_rates(o: Options, repeats: int, say: Progress) -> dict[str, float]:
    try:
        import fast_vollib as fv
    except ImportError:
        return {"fast_vollib_greeks_per_s": NAN, "fast_vollib_iv_per_s": NAN}
    say("fast-vollib: price + greeks, implied vol")
    n, f = o.spot.size, o.flag_str
    args = (o.spot, o.strike, o.expiry, o.rate, o.vol, o.dividend)
    model: Literal["black_scholes_merton"] = "black_scholes_merton"

    def greeks() -> None:
        fv.fast_black_scholes_merton(f, *args, return_as="numpy")
        fv.get_all_greeks(f, *args, model=model, return_as="dict")

    price = bsm_price(o.spot, o.strike, o.expiry, o.rate, o.dividend, o.vol, o.is_call)
    iv_args = (price, o.spot, o.strike, o.expiry, o.rate, f, o.dividend)

    def iv() -> None:
        fv.fast_implied_volatility(*iv_args, model=model, return_as="numpy", on_error="ignore")

    return {
        "fast_vollib_greeks_per_s": rate(greeks, n, repeats),
        "fast_vollib_iv_per_s": rate(iv, n, repeats),
    }


def scalar_peer_rates(o: Options, m: int, say: Progress) -> dict[str, float]:
    """vollib and QuantLib per option in Python: time ``m`` options, extrapolate."""
    out = {"vollib_greeks_per_s": NAN, "vollib_iv_per_s": NAN, "quantlib_greeks_per_s": NAN}
    rows = list(zip(o.flag_str[:m].tolist(), o.spot[:m].tolist(), o.strike[:m].tolist(),
                    o.expiry[:m].tolist(), o.rate[:m].tolist(), o.vol[:m].tolist(),
                    o.dividend[:m].tolist(), strict=True))  # fmt: skip
    try:
        from vollib.black_scholes_merton import black_scholes_merton as vp
        from vollib.black_scholes_merton.greeks import analytical as va
        from vollib.black_scholes_merton.implied_volatility import implied_volatility as viv
    except ImportError:
        pass
    else:
        say(f"vollib: {m} options in a Python loop (extrapolated)")

        def vollib_greeks() -> None:
            for row in rows:
                vp(*row), va.delta(*row), va.gamma(*row), va.vega(*row)
                va.theta(*row), va.rho(*row)

        prices = [vp(*row) for row in rows]

        def vollib_iv() -> None:
            for p, (flag, s, k, t, r, _, q) in zip(prices, rows, strict=True):
                viv(p, s, k, t, r, q, flag)

        out["vollib_greeks_per_s"] = rate(vollib_greeks, m, 3)
        out["vollib_iv_per_s"] = rate(vollib_iv, m, 3)
    try:
        import QuantLib as ql
    except ImportError:
        return out
    say(f"QuantLib: {m} options via ql.BlackCalculator in a Python loop (extrapolated)")

    def quantlib_greeks() -> None:
        for flag, s, k, t, r, v, q in rows:
            kind = ql.Option.Call if flag == "c" else ql.Option.Put
            calc = ql.BlackCalculator(
                ql.PlainVanillaPayoff(kind, k), s * math.exp((r - q) * t), v * math.sqrt(t),
                math.exp(-r * t),
            )  # fmt: skip
            calc.value(), calc.delta(s), calc.gamma(s), calc.vega(t)
            calc.theta(s, t), calc.rho(t)

    out["quantlib_greeks_per_s"] = rate(quantlib_greeks, m, 3)
    return out


def iv_accuracy(o: Options) -> dict[str, float]:
    """Max relative vol error of ours and pyvolr on the same strict-kernel prices.

    Only options whose price pins the vol (``ulp(price) ≤ 1e-13·vega·vol``) count.
    """
    g = bsm_greeks(o.spot, o.strike, o.expiry, o.rate, o.dividend, o.vol, o.is_call)
    use = np.spacing(g.price) <= 1e-13 * g.vega * o.vol
    args = (o.spot[use], o.strike[use], o.expiry[use], o.rate[use], o.dividend[use])
    ours = implied_vol_bsm(g.price[use], *args, o.is_call[use]).vol
    out = {"iv_max_rel_err": float(np.max(np.abs(ours / o.vol[use] - 1.0)))}
    try:
        import pyvolr.bs as pb
    except ImportError:
        return out | {"pyvolr_iv_max_rel_err": NAN}
    theirs = pb.implied_vol(g.price[use], o.flag_int[use], *args, on_error="ignore")
    return out | {"pyvolr_iv_max_rel_err": float(np.nanmax(np.abs(theirs / o.vol[use] - 1.0)))}
