"""The house's totals' proofs of a block, path by path (``CompiledTree.prove``) against one
compiled walk (``CompiledTree.prove_many``), side by side in one process.

    python -m paraclear.bench.prove_many [--keys 100000] [--listed 1 40 400] [--repeats 15]

A state of ``keys`` collateral keys and the totals of ``listed`` instruments (net deposits,
fee pool, insurance fund, and each instrument's open interest, every other one absent: an
exclusion proof) on the compiled tree. For each count, the totals' proofs are taken four
ways, alternating, each timed over enough calls to last ~20 ms (thread CPU time, then wall):

* ``prove``: ``State.prove`` per key, as ``capture`` took them before;
* ``many``: ``State.prove_many``, the arrays only (what ``capture`` now costs a block);
* ``many_read``: ``State.prove_many`` and every ``Proof`` made from it (an answer's cost);
* ``capture``: ``api.proof_records.capture`` (values and root too).

Prints a JSON line per count: medians in µs per block (all its keys), and the runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from statistics import median
from time import perf_counter, thread_time
from typing import Any

from paraclear.api.proof_records import capture
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.keys import Key


def totals(listed: int) -> list[Key]:
    """The totals' keys with ``listed`` instruments (``proof_records.total_keys``'s)."""
    interest = [k.open_interest(f"BTC-{n}") for n in range(listed)]
    return [k.NET_DEPOSITS, k.FEE_POOL, k.INSURANCE_FUND, *interest]


def make_state(keys: int, listed: int) -> State:
    """``keys`` accounts' collateral and the totals of ``listed`` instruments, every other
    open interest absent."""
    data: dict[Key, object] = {k.collateral(f"trader{n}"): 1_000 + n for n in range(keys)}
    data |= {k.NET_DEPOSITS: 10**12, k.FEE_POOL: 10**8, k.INSURANCE_FUND: 10**9}
    data |= {k.open_interest(f"BTC-{n}"): 1 + n for n in range(0, listed, 2)}
    return State(data)


def ways(state: State, keys: list[Key]) -> dict[str, Callable[[], object]]:
    return {
        "prove": lambda: [state.prove(key) for key in keys],
        "many": lambda: state.prove_many(keys),
        "many_read": lambda: list(state.prove_many(keys)),
        "capture": lambda: capture(state, 1, keys),
    }


def timed(run: Callable[[], object], calls: int) -> tuple[float, float]:
    """(thread CPU, wall) µs per call over ``calls`` calls."""
    cpu, wall = thread_time(), perf_counter()
    for _ in range(calls):
        run()
    return (thread_time() - cpu) * 1e6 / calls, (perf_counter() - wall) * 1e6 / calls


def measure(state: State, listed: int, repeats: int) -> dict[str, Any]:
    keys = totals(listed)
    runs = ways(state, keys)
    calls = {
        name: max(1, int(0.02 / (timed(run, 3)[1] * 1e-6 or 1e-6))) for name, run in runs.items()
    }
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(repeats):
        order = list(runs) if repeat % 2 == 0 else list(runs)[::-1]
        for name in order:
            c, w = timed(runs[name], calls[name])
            cpu[name].append(round(c, 1))
            wall[name].append(round(w, 1))
    return {
        "listed": listed,
        "keys": len(keys),
        "cpu_us_median": {name: round(median(v), 1) for name, v in cpu.items()},
        "wall_us_median": {name: round(median(v), 1) for name, v in wall.items()},
        "cpu_us": cpu,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--listed", type=int, nargs="+", default=[1, 40, 400])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    state = make_state(args.keys, max(args.listed))
    for listed in args.listed:
        keys = totals(listed)
        assert list(state.prove_many(keys)) == [state.prove(key) for key in keys]
        print(json.dumps(measure(state, listed, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
