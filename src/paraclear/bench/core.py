"""Sequential execution throughput on a trade workload, and the cost of the state root."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from paraclear.bench import machine
from paraclear.clearing import ClearingMachine
from paraclear.execution import execute_block
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import State

Progress = Callable[[str], None]


def bench_exec(
    accounts: list[int], txs: int, repeats: int = 3, progress: Progress | None = None
) -> dict[str, object]:
    """Sequential tx/s of blocks of ``txs`` trades over each account count (median of repeats):
    end to end, execution alone, and the commit (state and root) per 1,000 written keys.

    Each measured block follows a warm-up block, so accounts already hold positions and
    margin checks value real portfolios.
    """
    rows = []
    for count in accounts:
        workload = Workload(
            WorkloadConfig(seed=1, accounts=count, txs_per_block=txs, mix={"trade": 1.0})
        )
        machine_ = ClearingMachine(workload.model)
        state = workload.genesis()
        execute_block(state, workload.setup_block(), machine_)
        execute_block(state, workload.next_block(state), machine_)
        rates, execute_rates, root_ms, failed = [], [], [], 0
        for _ in range(repeats):
            block = workload.next_block(state)
            started = time.perf_counter()
            result = execute_block(state, block, machine_)
            rates.append(len(block.txs) / (time.perf_counter() - started))
            metrics = result.metrics
            execute_rates.append(len(block.txs) / metrics.execute_seconds)
            commit = metrics.commit_seconds + metrics.root_seconds
            root_ms.append(commit * 1e6 / max(metrics.keys_written, 1))
            failed += metrics.failed
        rows.append(
            {
                "accounts": count,
                "txs": txs,
                "sequential_tps": round(statistics.median(rates), 1),
                "execute_only_tps": round(statistics.median(execute_rates), 1),
                "commit_ms_per_1000_keys": round(statistics.median(root_ms), 2),
                "failed_share": round(failed / (repeats * txs), 4),
            }
        )
        if progress:
            progress(f"{count:,} accounts: {rows[-1]['sequential_tps']:,.0f} tx/s")
    return {"machine": machine(), "executor": "sequential", "rows": rows}


def bench_root(
    state_keys: int = 100_000,
    changed: int = 1_000,
    repeats: int = 5,
    progress: Progress | None = None,
) -> dict[str, object]:
    """Milliseconds to commit ``changed`` keys and recompute the root of a state of
    ``state_keys`` keys: half updates of existing keys, half new keys (median of repeats)."""
    rng = random.Random(1)
    state = State({("acct", f"a{i}", "collateral"): i + 1 for i in range(state_keys)})
    state.root()
    timings = []
    for repeat in range(repeats):
        writes: dict[tuple[str, ...], object] = {
            ("acct", f"a{rng.randrange(state_keys)}", "collateral"): rng.randrange(1, 10**9)
            for _ in range(changed // 2)
        }
        writes.update(
            {
                ("acct", f"new{repeat}-{i}", "collateral"): i + 1
                for i in range(changed - len(writes))
            }
        )
        started = time.perf_counter()
        state.apply(writes)
        state.root()
        timings.append(time.perf_counter() - started)
    ms = statistics.median(timings) * 1_000
    if progress:
        progress(f"{changed:,} changed keys in a state of {state_keys:,}: {ms:.1f} ms")
    return {
        "machine": machine(),
        "state_keys": state_keys,
        "changed_keys": changed,
        "ms_per_1000_keys": round(ms * 1_000 / changed, 3),
    }
