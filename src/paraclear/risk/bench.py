"""Risk-engine benchmark: Greeks/s, implied vols/s, Monte Carlo path-steps/s, and peers.

Everything is measured in one run, on the same inputs, so that ratios are comparable on a
noisy shared machine: each figure is the median of several timed repeats after a warm-up
(which also triggers numba compilation), and our 1- and 2-thread timings alternate so that
both see the same background load. Our Greeks count price + 7 Greeks (8 float64
outputs) per option through the public API (allocation of the 8 output arrays included);
``greeks_kernel_per_s`` is the same fast kernel writing into reused buffers, to show what
the allocation (page faults on 64 MB per million options) costs. A million options move
~114 MB through memory per call, so those figures are partly memory-bound;
``greeks_l3_per_s`` repeats batches of 32,768 options that stay in the L3 cache (the size
of a clearing house's option book), which is where thread scaling shows.

Peers get the same options. pyvolr and fast-vollib are vectorised and timed like ours.
vollib and QuantLib are scalar Python loops: a few thousand options are timed and the rate
is extrapolated (reported as such). What each peer computes per option differs: pyvolr
and fast-vollib are timed for a price call plus their Greeks call (delta, gamma, vega,
theta, rho), vollib and QuantLib for the same five Greeks plus price; none returns vanna
or volga, so peers do 6 outputs where we do 8.

pyvolr runs multi-threaded (Rust): ``pyvolr_iv_cores_used`` reports its CPU seconds per
wall second, so compare it with our 2-thread figures as well as the 1-thread ones.

Run ``python -m paraclear.risk.bench --help``. Analytics only: never call from consensus.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from paraclear.risk._black_fast import greeks_fast
from paraclear.risk.greeks import FloatArray, KernelMode, bsm_greeks, bsm_price
from paraclear.risk.implied_vol import implied_vol_bsm

__all__ = ["machine_info", "main", "run_risk_bench"]

Progress = Callable[[str], None]
NAN = math.nan
_L3_BATCH = 32_768
"""Options per batch for the cache-resident figures (~3.7 MB of inputs and outputs)."""


@dataclass(frozen=True, slots=True)
class _Options:
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


def _options(n: int, seed: int = 20261125) -> _Options:
    rng = np.random.default_rng(seed)
    spot = np.full(n, 100.0)
    return _Options(
        spot=spot,
        strike=spot * np.exp(rng.uniform(-0.5, 0.5, n)),
        expiry=rng.uniform(0.02, 2.0, n),
        rate=rng.uniform(0.0, 0.05, n),
        dividend=rng.uniform(0.0, 0.03, n),
        vol=rng.uniform(0.1, 1.0, n),
        is_call=rng.random(n) < 0.5,
    )


def _rate(fn: Callable[[], object], count: int, repeats: int) -> float:
    """Items per second: ``count`` over the median wall time of ``repeats`` runs."""
    fn()  # warm-up (numba compile, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def _max_threads() -> int:
    """How many threads numba may use in this process (``NUMBA_NUM_THREADS``)."""
    return int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))


def _load() -> float:
    """1-minute load average (other processes on a shared machine skew thread scaling)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else NAN


def machine_info() -> dict[str, str | int]:
    """Platform, Python, CPU count and numba threading facts of this machine."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
        "numba": numba.__version__,
        "numba_max_threads": _max_threads(),
        "numba_threading_layer": str(getattr(numba.config, "THREADING_LAYER", "?")),
    }


def _rates_1_and_2_threads(
    fn: Callable[[], object], count: int, repeats: int
) -> tuple[float, float]:
    """Items/s on 1 and on 2 numba threads, timed alternately (1, 2, 1, 2, …) so that both
    see the same background load; medians. NaN for 2 threads if numba may not use 2."""
    two = _max_threads() >= 2
    times: dict[int, list[float]] = {1: [], 2: []}
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):  # warm-up both
            if threads == 1 or two:
                numba.set_num_threads(threads)
                fn()
        for _ in range(repeats):
            for threads in (1, 2) if two else (1,):
                numba.set_num_threads(threads)
                start = time.perf_counter()
                fn()
                times[threads].append(time.perf_counter() - start)
    finally:
        numba.set_num_threads(before)
    rate2 = count / statistics.median(times[2]) if two else NAN
    return count / statistics.median(times[1]), rate2


def _ours(o: _Options, repeats: int, say: Progress) -> dict[str, float]:
    n = o.spot.size
    args = (o.spot, o.strike, o.expiry, o.rate, o.dividend, o.vol, o.is_call)
    price = bsm_price(*args)
    buffer, reasons = np.empty((8, n)), np.empty(n, dtype=np.int8)  # kernel-only timing
    small = tuple(a[:_L3_BATCH] for a in args)
    iv_args = (price, o.spot, o.strike, o.expiry, o.rate, o.dividend, o.is_call)

    def cached_batches() -> None:  # a batch small enough to stay in cache, 32 times
        for _ in range(32):
            bsm_greeks(*small, mode=KernelMode.FAST)

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("greeks_per_s", lambda: bsm_greeks(*args, mode=KernelMode.FAST), n),
        ("greeks_kernel_per_s", lambda: greeks_fast(*args, True, buffer, reasons), n),
        ("greeks_strict_per_s", lambda: bsm_greeks(*args), n),
        ("greeks_l3_per_s", cached_batches, small[0].size * 32),
        ("iv_per_s", lambda: implied_vol_bsm(*iv_args), n),
    ]
    out: dict[str, float] = {}
    for key, fn, count in cases:
        say(f"ours: {key} on 1 and 2 threads, alternating")
        out[key], out[f"{key}_2threads"] = _rates_1_and_2_threads(fn, count, repeats)
    return out


def _pyvolr(o: _Options, repeats: int, say: Progress) -> dict[str, float]:
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
        "pyvolr_greeks_per_s": _rate(greeks, n, repeats),
        "pyvolr_iv_per_s": _rate(iv, n, repeats),
        "pyvolr_iv_cores_used": _cores_used(iv),
    }


def _cores_used(fn: Callable[[], object]) -> float:
    """CPU seconds per wall second of one run: how many cores a peer used by itself."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def _fast_vollib(o: _Options, repeats: int, say: Progress) -> dict[str, float]:
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
        "fast_vollib_greeks_per_s": _rate(greeks, n, repeats),
        "fast_vollib_iv_per_s": _rate(iv, n, repeats),
    }


def _scalar_peers(o: _Options, m: int, say: Progress) -> dict[str, float]:
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

        out["vollib_greeks_per_s"] = _rate(vollib_greeks, m, 3)
        out["vollib_iv_per_s"] = _rate(vollib_iv, m, 3)
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

    out["quantlib_greeks_per_s"] = _rate(quantlib_greeks, m, 3)
    return out


def _iv_accuracy(o: _Options) -> dict[str, float]:
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


def _monte_carlo(quick: bool, say: Progress) -> dict[str, float]:
    """GBM path-steps/s from ``paraclear.risk.mc_paths.mc_throughput`` if it exists."""
    try:
        from paraclear.risk.mc_paths import mc_throughput
    except ImportError:
        say("Monte Carlo: paraclear.risk.mc_paths.mc_throughput not available, reporting null")
        return {"mc_path_steps_per_s": NAN}
    say("Monte Carlo: GBM path-steps (paraclear.risk.mc_paths.mc_throughput)")
    n_paths = 1 << 12 if quick else 1 << 16
    return {
        "mc_path_steps_per_s": float(mc_throughput(n_paths=n_paths, n_steps=64 if quick else 252))
    }


def _ratios(r: dict[str, float]) -> dict[str, float]:
    def div(a: str, b: str) -> float:
        num, den = r.get(a, NAN), r.get(b, NAN)
        return num / den if den and not math.isnan(den) else NAN

    return {
        "greeks_2thread_speedup": div("greeks_per_s_2threads", "greeks_per_s"),
        "greeks_l3_2thread_speedup": div("greeks_l3_per_s_2threads", "greeks_l3_per_s"),
        "iv_2thread_speedup": div("iv_per_s_2threads", "iv_per_s"),
        "greeks_vs_pyvolr": div("greeks_per_s", "pyvolr_greeks_per_s"),
        "greeks_2threads_vs_pyvolr": div("greeks_per_s_2threads", "pyvolr_greeks_per_s"),
        "iv_vs_pyvolr": div("iv_per_s", "pyvolr_iv_per_s"),
        "iv_2threads_vs_pyvolr": div("iv_per_s_2threads", "pyvolr_iv_per_s"),
        "greeks_vs_fast_vollib": div("greeks_per_s", "fast_vollib_greeks_per_s"),
        "greeks_vs_vollib": div("greeks_per_s", "vollib_greeks_per_s"),
        "greeks_vs_quantlib": div("greeks_per_s", "quantlib_greeks_per_s"),
    }


def run_risk_bench(
    n: int = 1_000_000, quick: bool = False, progress: Progress | None = None
) -> dict[str, float]:
    """Measure the risk engine and its peers on ``n`` options; figures per second.

    ``quick`` uses at most 20,000 options, two repeats and 200 scalar options (a smoke run
    of a few seconds once numba's cache is warm). Missing peers or Monte Carlo give NaN.
    Keys: ``greeks_per_s`` (fast kernel, 1 thread), ``greeks_per_s_2threads``,
    ``greeks_kernel_per_s[_2threads]``, ``greeks_l3_per_s[_2threads]``,
    ``greeks_strict_per_s[_2threads]``,
    ``iv_per_s[_2threads]``, ``mc_path_steps_per_s``,
    ``pyvolr_greeks_per_s``, ``pyvolr_iv_per_s``, ``fast_vollib_greeks_per_s``,
    ``fast_vollib_iv_per_s``, ``vollib_greeks_per_s``, ``vollib_iv_per_s``,
    ``quantlib_greeks_per_s``, accuracies ``iv_max_rel_err``/``pyvolr_iv_max_rel_err``,
    ratios (``greeks_vs_pyvolr``, ``greeks_2thread_speedup``, …), ``n_options`` and the
    1-minute load average at start and end (``load_avg_1min_start``/``_end``): on a
    shared 2-core machine a load above 1 means the 2-thread figures had no free core.
    """
    say = progress or (lambda _msg: None)
    n = min(n, 20_000) if quick else n
    repeats, scalar_m = (2, 200) if quick else (7, 3000)
    o = _options(n)
    results: dict[str, float] = {"n_options": float(n), "load_avg_1min_start": _load()}
    results |= _ours(o, repeats, say)
    results |= _pyvolr(o, repeats, say)
    results |= _fast_vollib(o, repeats, say)
    results |= _scalar_peers(o, scalar_m, say)
    results |= _iv_accuracy(_options(min(n, 200_000), seed=7))
    results |= _monte_carlo(quick, say)
    results["load_avg_1min_end"] = _load()
    return results | _ratios(results)


def _format_table(results: dict[str, float]) -> str:
    lines = []
    for key, value in results.items():
        text = "n/a" if math.isnan(value) else (f"{value:,.0f}" if value >= 100 else f"{value:.3g}")
        lines.append(f"{key:32s} {text:>18s}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``paraclear bench risk`` (or ``python -m paraclear.risk.bench``)."""
    parser = argparse.ArgumentParser(
        prog="paraclear bench risk",
        description=(
            "Benchmark the risk engine on this machine: Black-Scholes price + 7 Greeks per "
            "second (fast-math kernel on 1 and 2 threads, and the strict consensus kernel), "
            "implied vols per second, Monte Carlo path-steps per second, and the same "
            "options through pyvolr, fast-vollib, vollib and QuantLib (scalar libraries are "
            "timed on a few thousand options and extrapolated). Figures are medians of "
            "repeats after a warm-up; ratios come from the same run."
        ),
        epilog=(
            "Keys: greeks_per_s (public API, fast kernel, 1 thread), greeks_kernel_per_s "
            "(reused buffers), greeks_l3_per_s (32k-option batches that stay in cache), "
            "greeks_strict_per_s (consensus kernel), iv_per_s; each also _2threads. pyvolr "
            "is multi-threaded (pyvolr_iv_cores_used). load_avg_1min_start/_end show "
            "whether other processes shared the cores. Takes ~1-2 minutes at the default "
            "size; --quick takes a few seconds once numba's cache is warm."
        ),
    )
    parser.add_argument("--size", type=int, default=1_000_000, metavar="N",
                        help="options per batch (default 1,000,000)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: at most 20,000 options and 2 repeats")  # fmt: skip
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (NaN as null) instead of a table")  # fmt: skip
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error("--size must be positive")

    def say(msg: str) -> None:
        print(f"... {msg}", file=sys.stderr, flush=True)

    results = run_risk_bench(args.size, quick=args.quick, progress=say)
    if args.json:
        clean = {k: (None if math.isnan(v) else v) for k, v in results.items()}
        print(json.dumps({"machine": machine_info(), **clean}))
    else:
        print("\n".join(f"{k:32s} {v}" for k, v in machine_info().items()))
        print(_format_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
