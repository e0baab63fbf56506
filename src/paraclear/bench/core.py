"""Execution throughput: the engines and executors side by side on the same blocks.

For each account count (fewer accounts, more contention) one block source (``blocks``:
trades, or the node's order flow through its builder) makes a setup block, two warm-up
blocks and ``repeats`` measured blocks. Each block is encoded once, then run by every
engine's sequential executor end to end, stage by stage (``stages.run_staged``), each on its
own copy of state, and by the parallel executor for each engine and worker count, again on
copies of their own. Rows give medians over the measured blocks, and whether every state
root and every receipt came out equal (to each other, and for the order flow to the
builder's dry run).
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from paraclear.bench import Mix, machine
from paraclear.bench.blocks import OrderBlocks, composition, make_source
from paraclear.bench.stages import STAGES, StageTimes, encode_block, run_staged
from paraclear.clearing import ENGINES, ClearingMachine, Engine
from paraclear.execution import (
    BlockResult,
    DependencyMetrics,
    ParallelExecutor,
    ParallelMetrics,
)
from paraclear.execution.parallel import Backend

Progress = Callable[[str], None]
WARM_UP_BLOCKS = 2


@dataclass
class _Samples:
    """What one engine (and worker count) measured over the measured blocks."""

    txs: list[int] = field(default_factory=list)
    stages: list[StageTimes] = field(default_factory=list)
    execute_only: list[float] = field(default_factory=list)
    commit_us_per_key: list[float] = field(default_factory=list)
    failed: int = 0
    parallel: list[float] = field(default_factory=list)
    parallel_metrics: list[ParallelMetrics] = field(default_factory=list)


def bench_exec(
    accounts: list[int],
    txs: int,
    repeats: int = 3,
    progress: Progress | None = None,
    workers: list[int] | None = None,
    backend: Backend = "processes",
    mix: Mix = "trades",
    engines: Sequence[Engine] = ENGINES,
) -> dict[str, object]:
    """Rows of tx/s and stage shares for each account count, engine and worker count (0:
    the sequential executor alone), on the same blocks of about ``txs`` transactions."""
    rows: list[dict[str, object]] = []
    for count in accounts:
        rows += _exec_rows(
            mix, count, list(engines), workers or [1, 2], txs, repeats, backend, progress
        )
    return {
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "mix": mix,
        "engines": list(engines),
        "backend": backend,
        "txs": txs,
        "rows": rows,
    }


def _exec_rows(
    mix: Mix,
    accounts: int,
    engines: list[Engine],
    workers: list[int],
    txs: int,
    repeats: int,
    backend: Backend,
    progress: Progress | None,
) -> list[dict[str, object]]:
    say = progress or (lambda text: None)
    source = make_source(mix, accounts, txs)
    machines = {e: ClearingMachine(source.workload.model, engine=e) for e in engines}
    genesis = source.workload.genesis()
    states = {e: genesis.copy() for e in engines}
    parallel_runs = [(e, w) for e in engines for w in workers if w > 0]
    parallel_states = {run: genesis.copy() for run in parallel_runs}
    samples = {e: _Samples() for e in engines}
    par_samples = {run: _Samples() for run in parallel_runs}
    equal = {"roots": True, "receipts": True}
    kinds: Counter[str] = Counter()
    build_seconds: list[float] = []
    with ExitStack() as stack:
        executors = {
            run: stack.enter_context(ParallelExecutor(machines[run[0]], run[1], backend))
            for run in parallel_runs
        }
        total_blocks = repeats + WARM_UP_BLOCKS + 1
        for number in range(total_blocks):
            measured = number > WARM_UP_BLOCKS
            started = time.perf_counter()
            block = source.setup_block() if number == 0 else source.next_block(states[engines[0]])
            if number:
                say(
                    f"{mix}, {accounts:,} accounts: block {number}/{total_blocks - 1} of "
                    f"{len(block.txs):,} txs made in {time.perf_counter() - started:.1f} s"
                )
            data = encode_block(block)
            results: list[tuple[BlockResult, bytes]] = []
            for engine in engines:
                result, receipts, times = run_staged(states[engine], data, machines[engine])
                results.append((result, receipts))
                if measured:
                    _record(samples[engine], len(block.txs), times, result)
            first = results[0][0]
            equal["roots"] &= all(r.state_root == first.state_root for r, _ in results)
            equal["receipts"] &= all(receipts == results[0][1] for _, receipts in results)
            if isinstance(source, OrderBlocks) and number:
                assert source.built is not None
                equal["receipts"] &= first.receipts == source.built.receipts
            for run, executor in executors.items():
                started = time.perf_counter()
                got = executor.execute(parallel_states[run], block)
                seconds = time.perf_counter() - started
                equal["roots"] &= got.state_root == first.state_root
                equal["receipts"] &= got.receipts == first.receipts
                if measured:
                    assert got.metrics.parallel is not None
                    par_samples[run].parallel.append(seconds)
                    par_samples[run].parallel_metrics.append(got.metrics.parallel)
            if measured:
                kinds.update(composition(block))
                if isinstance(source, OrderBlocks):
                    build_seconds.append(source.build_seconds)
    shared = {
        "mix": mix,
        "accounts": accounts,
        "roots_equal": equal["roots"],
        "receipts_equal": equal["receipts"],
        "composition": _shares(kinds),
        "build_seconds": _median(build_seconds) if build_seconds else None,
    }
    rows = []
    reference = samples.get("reference")
    for engine in engines:
        for worker_count in workers:
            mine = samples[engine]
            row = shared | _sequential(engine, mine, reference)
            row["workers"] = worker_count
            row |= _parallel(mine, par_samples.get((engine, worker_count)))
            rows.append(row)
            say(_summary(row))
    return rows


def _record(samples: _Samples, txs: int, times: StageTimes, result: BlockResult) -> None:
    metrics = result.metrics
    samples.txs.append(txs)
    samples.stages.append(times)
    samples.execute_only.append(metrics.execute_seconds)
    commit = metrics.commit_seconds + metrics.root_seconds
    samples.commit_us_per_key.append(commit * 1e6 / max(metrics.keys_written, 1))
    samples.failed += metrics.failed


def _sequential(engine: Engine, mine: _Samples, reference: _Samples | None) -> dict[str, object]:
    """The sequential executor's figures for one engine: rates and the stages."""
    blocks = list(zip(mine.txs, mine.stages, strict=True))
    seconds = {s: _median(getattr(t, s) for t in mine.stages) for s in STAGES}
    total = sum(seconds.values()) or 1.0
    txs = _median(mine.txs)
    ratio = None
    if reference is not None:
        pairs = zip(reference.stages, mine.stages, strict=True)
        ratio = _median(r.total / t.total for r, t in pairs)
    return {
        "engine": engine,
        "txs": round(txs),
        "e2e_tps": round(_median(n / t.total for n, t in blocks), 1),
        "seq_tps": round(_median(n / t.executor for n, t in blocks), 1),
        "seq_execute_only_tps": round(
            _median(n / s for n, s in zip(mine.txs, mine.execute_only, strict=True)), 1
        ),
        "vs_reference": None if ratio is None else round(ratio, 3),
        "stages": {
            stage: {
                "seconds": round(seconds[stage], 6),
                "us_per_tx": round(_median(getattr(t, stage) * 1e6 / n for n, t in blocks), 3),
                "share": round(seconds[stage] / total, 4),
            }
            for stage in STAGES
        },
        "seq_commit_ms_per_1000_keys": round(_median(mine.commit_us_per_key), 2),
        "failed_share": round(mine.failed / max(1, sum(mine.txs)), 4),
    }


def _parallel(mine: _Samples, par: _Samples | None) -> dict[str, object]:
    """The parallel executor's figures beside the same engine's sequential executor (None
    for worker count 0: not run)."""
    names = (
        *("par_tps", "speedup", "reexecutions", "critical_path", "rounds", "spread"),
        *("dag_seconds", "dag_share", "access_seconds", "fallbacks", "hot_locks"),
    )
    if par is None:
        return dict.fromkeys(names)
    metrics = par.parallel_metrics
    dags = [p.dag or DependencyMetrics() for p in metrics]
    executor = [t.executor for t in mine.stages]
    dag_seconds = _median(p.dag_seconds for p in metrics)
    return {
        "par_tps": round(_median(n / s for n, s in zip(mine.txs, par.parallel, strict=True)), 1),
        "speedup": round(_median(s / p for s, p in zip(executor, par.parallel, strict=True)), 3),
        "reexecutions": sum(p.reexecutions for p in metrics),
        "critical_path": int(_median(dag.critical_path for dag in dags)),
        "rounds": int(_median(p.rounds for p in metrics)),
        "spread": all(p.spread for p in metrics),
        "dag_seconds": round(dag_seconds, 6),
        "dag_share": round(dag_seconds / _median(executor), 4),
        "access_seconds": round(_median(p.access_seconds for p in metrics), 6),
        "fallbacks": sum(1 for p in metrics if p.fallback is not None),
        "hot_locks": [name for name, _ in dags[-1].hot_keys()[:3]],
    }


def _summary(row: dict[str, Any]) -> str:
    text = (
        f"{row['mix']}, {row['accounts']:,} accounts, {row['engine']}: "
        f"{row['e2e_tps']:,.0f} tx/s end to end, {row['seq_tps']:,.0f} tx/s sequential executor"
    )
    if row["par_tps"] is not None:
        text += (
            f", {row['par_tps']:,.0f} tx/s parallel on {row['workers']} workers, "
            f"x{row['speedup']:.2f}"
        )
    return text


def _shares(kinds: Counter[str]) -> dict[str, float]:
    total = sum(kinds.values()) or 1
    return {name: round(count / total, 4) for name, count in kinds.most_common()}


def _median(values: Iterable[float]) -> float:
    return float(statistics.median(values))


def plot_speedup(result: dict[str, object], path: str) -> bool:
    """A PNG of speedup against the number of accounts, one line per worker count (the
    first engine's rows). Returns False, writing nothing, when no parallel run was made."""
    rows: list[dict[str, Any]] = [
        row
        for row in result["rows"]  # type: ignore[attr-defined]
        if row["speedup"] is not None and row["engine"] == result["engines"][0]  # type: ignore[index]
    ]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    axes.set_title(f"parallel execution, blocks of {result['txs']:,} {result['mix']}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return True
