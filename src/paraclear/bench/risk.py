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

Peers (``_bench_peers.py``) get the same options: pyvolr and fast-vollib vectorised,
vollib and QuantLib as scalar Python loops timed on a few thousand options and
extrapolated (reported as such); they compute 6 outputs per option where we compute 8.

pyvolr runs multi-threaded (Rust): ``pyvolr_iv_cores_used`` reports its CPU seconds per
wall second, so compare it with our 2-thread figures as well as the 1-thread ones.

Run ``python -m paraclear.bench.risk --help``. Analytics only: never call from consensus.
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

import numba
import numpy as np

from paraclear.bench.risk_peers import (
    NAN,
    Options,
    Progress,
    fast_vollib_rates,
    iv_accuracy,
    make_options,
    pyvolr_rates,
    scalar_peer_rates,
)
from paraclear.risk._black_fast import greeks_fast
from paraclear.risk.greeks import KernelMode, bsm_greeks, bsm_price
from paraclear.risk.implied_vol import implied_vol_bsm

__all__ = ["machine_info", "main", "run_risk_bench"]

_L3_BATCH = 32_768
"""Options per batch for the cache-resident figures (~3.7 MB of inputs and outputs)."""


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


def _ours(o: Options, repeats: int, say: Progress) -> dict[str, float]:
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
    o = make_options(n)
    results: dict[str, float] = {"n_options": float(n), "load_avg_1min_start": _load()}
    results |= _ours(o, repeats, say)
    results |= pyvolr_rates(o, repeats, say)
    results |= fast_vollib_rates(o, repeats, say)
    results |= scalar_peer_rates(o, scalar_m, say)
    results |= iv_accuracy(make_options(min(n, 200_000), seed=7))
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
    """Command line: ``paraclear bench risk`` (or ``python -m paraclear.bench.risk``)."""
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
