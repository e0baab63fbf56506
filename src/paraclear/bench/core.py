"""Execution throughput on trade workloads, sequential and parallel."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from paraclear.bench import machine
from paraclear.clearing import ClearingMachine
from paraclear.execution import (
    DependencyMetrics,
    ParallelExecutor,
    ParallelMetrics,
    execute_block,
)
from paraclear.execution.parallel import Backend
from paraclear.sim.workload import Workload, WorkloadConfig

Progress = Callable[[str], None]


def bench_exec(
    accounts: list[int],
    txs: int,
    repeats: int = 3,
    progress: Progress | None = None,
    workers: list[int] | None = None,
    backend: Backend = "processes",
) -> dict[str, object]:
    """Sequential and parallel tx/s on the same blocks of ``txs`` trades, side by side.

    For each account count (fewer accounts, more contention) and worker count: a setup block
    and a warm-up block (which also starts the worker pool), then ``repeats`` measured blocks,
    each run by the sequential executor on one copy of state and by the parallel executor on
    another. Rows give medians; ``speedup`` is the median of the per-block time ratios.
    """
    rows = []
    for count in accounts:
        for worker_count in workers or [1, 2]:
            rows.append(_exec_row(count, worker_count, txs, repeats, backend))
            if progress:
                row = rows[-1]
                progress(
                    f"{count:,} accounts, {worker_count} workers: {row['seq_tps']:,.0f} tx/s "
                    f"sequential, {row['par_tps']:,.0f} tx/s parallel, x{row['speedup']:.2f}"
                )
    return {"machine": machine(), "backend": backend, "txs": txs, "rows": rows}


def _exec_row(
    accounts: int, workers: int, txs: int, repeats: int, backend: Backend
) -> dict[str, object]:
    workload = Workload(
        WorkloadConfig(seed=1, accounts=accounts, txs_per_block=txs, mix={"trade": 1.0})
    )
    machine_ = ClearingMachine(workload.model)
    sequential, parallel_state = workload.genesis(), workload.genesis()
    seq_times, par_times, ratios, equal = [], [], [], True
    execute_times, commit_ms = [], []
    parallel_metrics: list[ParallelMetrics] = []
    failed = 0
    with ParallelExecutor(machine_, workers, backend) as parallel:
        for number in range(repeats + 2):
            block = workload.setup_block() if number == 0 else workload.next_block(sequential)
            started = time.perf_counter()
            expected = execute_block(sequential, block, machine_)
            seq = time.perf_counter() - started
            started = time.perf_counter()
            got = parallel.execute(parallel_state, block)
            par = time.perf_counter() - started
            equal = equal and got.state_root == expected.state_root
            if number < 2:
                continue
            seq_times.append(seq)
            par_times.append(par)
            ratios.append(seq / par)
            metrics = expected.metrics
            execute_times.append(metrics.execute_seconds)
            commit = metrics.commit_seconds + metrics.root_seconds
            commit_ms.append(commit * 1e6 / max(metrics.keys_written, 1))
            failed += metrics.failed
            assert got.metrics.parallel is not None
            parallel_metrics.append(got.metrics.parallel)
    seq_median = statistics.median(seq_times)
    dags = [p.dag or DependencyMetrics() for p in parallel_metrics]

    def median_of(values: Iterable[float]) -> float:
        return float(statistics.median(values))

    dag_seconds = median_of(p.dag_seconds for p in parallel_metrics)
    return {
        "accounts": accounts,
        "workers": workers,
        "txs": txs,
        "seq_tps": round(txs / seq_median, 1),
        "par_tps": round(txs / statistics.median(par_times), 1),
        "speedup": round(statistics.median(ratios), 3),
        "roots_equal": equal,
        "reexecutions": sum(p.reexecutions for p in parallel_metrics),
        "critical_path": int(median_of(dag.critical_path for dag in dags)),
        "rounds": int(median_of(p.rounds for p in parallel_metrics)),
        "spread": all(p.spread for p in parallel_metrics),
        "dag_seconds": round(dag_seconds, 6),
        "dag_share": round(dag_seconds / seq_median, 4),
        "access_seconds": round(median_of(p.access_seconds for p in parallel_metrics), 6),
        "fallbacks": sum(1 for p in parallel_metrics if p.fallback is not None),
        "seq_execute_only_tps": round(txs / statistics.median(execute_times), 1),
        "seq_commit_ms_per_1000_keys": round(statistics.median(commit_ms), 2),
        "failed_share": round(failed / (repeats * txs), 4),
        "hot_locks": [name for name, _ in dags[-1].hot_keys()[:3]],
    }


def plot_speedup(result: dict[str, object], path: str) -> None:
    """A PNG of speedup against the number of accounts, one line per worker count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: list[dict[str, Any]] = result["rows"]  # type: ignore[assignment]
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for workers in sorted({row["workers"] for row in rows}):
        mine = sorted((r for r in rows if r["workers"] == workers), key=lambda r: r["accounts"])
        axes.plot(
            [r["accounts"] for r in mine],
            [r["speedup"] for r in mine],
            marker="o",
            label=f"{workers} worker{'s' if workers > 1 else ''}",
        )
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    axes.set_xscale("log")
    axes.set_xlabel("accounts (fewer = more contention)")
    axes.set_ylabel("speedup over sequential")
    axes.set_title(f"parallel execution, blocks of {result['txs']:,} trades")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
