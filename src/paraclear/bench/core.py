"""Execution throughput: the engines and executors side by side on the same blocks.

For each account count (fewer accounts, more contention) one block source (``blocks``:
trades, or the node's order flow through its builder) makes a setup block, ``warmup``
warm-up blocks (two by default) and ``repeats`` measured blocks. Each block is encoded
once, then run by every engine's sequential executor end to end, stage by stage
(``stages.run_staged``), each on its own copy of state (the compiled engine once per way
of committing, ``bench.COMMITS``; which run goes first turns from block to block), and by
the parallel executor for each engine, worker count and backend, again on copies of their
own. Before each measured block the box's ceiling is measured for each worker count
(``ceiling``). Rows give medians over the measured blocks, speedups over the compiled
engine's sequential executor, whether every state root and every receipt came out equal
(to each other, and for the order flow to the builder's dry run), and how many keys the
state held as the measured blocks began (``state_keys``): the order flow's books deepen
from block to block (makers' orders rest), and a block costs more over a larger state, so
more warm-up blocks measure a later, larger state.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Final

from paraclear.bench import WARM_UP_BLOCKS, Commit, Margin, Mix, machine
from paraclear.bench.blocks import OrderBlocks, TradeBlocks, composition, make_source
from paraclear.bench.ceiling import measure_ceiling
from paraclear.bench.stages import (
    PARTS,
    STAGES,
    StageTimes,
    decode_block,
    encode_block,
    run_staged,
)
from paraclear.clearing import ENGINES, ClearingMachine, Engine
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.kernels.timings import PARTS as ENGINE_PARTS
from paraclear.clearing.kernels.timings import EngineTimings
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.transactions import Transaction
from paraclear.execution import (
    Block,
    BlockResult,
    DependencyMetrics,
    ParallelExecutor,
    ParallelMetrics,
    block_dependencies,
)
from paraclear.execution.metrics import amdahl_bound
from paraclear.execution.parallel import Backend, Spread

Progress = Callable[[str], None]
ParallelRun = tuple[Engine, int, Backend, Spread]
"""(engine, workers, backend)."""
SequentialRun = tuple[Engine, Commit]
"""(engine, commit): the reference engine's commit is always ``plain``."""


@dataclass
class _Samples:
    """What one engine (and worker count) measured over the measured blocks."""

    txs: list[int] = field(default_factory=list)
    stages: list[StageTimes] = field(default_factory=list)
    execute_only: list[float] = field(default_factory=list)
    commit_us_per_key: list[float] = field(default_factory=list)
    keys_written: list[int] = field(default_factory=list)
    failed: int = 0
    parallel: list[float] = field(default_factory=list)
    parallel_metrics: list[ParallelMetrics] = field(default_factory=list)


def bench_exec(
    accounts: list[int],
    txs: int,
    repeats: int = 3,
    progress: Progress | None = None,
    workers: list[int] | None = None,
    backends: Sequence[Backend] = ("threads",),
    mix: Mix = "trades",
    spreads: Sequence[Spread] = ("measured",),
    engines: Sequence[Engine] = ENGINES,
    builder: Engine = "compiled",
    commits: Sequence[Commit] = ("hashed",),
    margin: Margin = "standard",
    warmup: int = WARM_UP_BLOCKS,
    quote_life: int = 0,
) -> dict[str, object]:
    """Rows of tx/s and stage shares for each account count, engine (the compiled one for
    each of ``commits``), worker count (0: the sequential executor alone) and backend, on
    the same blocks of about ``txs`` transactions (``builder``: the engine of the order
    flow's dry run; ``margin``: the accounts' margin model; ``quote_life``: blocks the
    order flow's orders are good for, 0 until cancelled or filled), measured after
    ``warmup`` blocks. Raises ``ValueError`` for a negative ``warmup`` or ``quote_life``,
    or a ``quote_life`` for trades."""
    if warmup < 0:
        raise ValueError(f"warmup must be 0 or more blocks, not {warmup}")
    if quote_life < 0 or (quote_life and mix != "orders"):
        raise ValueError(f"quote_life is 0 or more blocks of the order flow, not {quote_life}")
    sequential = [
        (engine, commit)
        for engine in engines
        for commit in (commits if engine == "compiled" else ("plain",))
    ]
    rows: list[dict[str, object]] = []
    for count in accounts:
        source = make_source(mix, count, txs, builder, margin, quote_life)
        rows += _exec_rows(
            mix, source, count, sequential, workers or [1, 2], repeats, warmup, backends,
            spreads, progress,
        )  # fmt: skip
    return {
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "mix": mix,
        "margin": margin,
        "engines": list(engines),
        "commits": list(commits),
        "builder": builder if mix == "orders" else None,
        "backends": list(backends),
        "spreads": list(spreads),
        "txs": txs,
        "warmup": warmup,
        "quote_life": quote_life,
        "rows": rows,
    }


def _exec_rows(
    mix: Mix,
    source: TradeBlocks | OrderBlocks,
    accounts: int,
    sequential: list[SequentialRun],
    workers: list[int],
    repeats: int,
    warmup: int,
    backends: Sequence[Backend],
    spreads: Sequence[Spread],
    progress: Progress | None,
) -> list[dict[str, object]]:
    """``repeats`` measured blocks after ``warmup`` warm-up blocks."""
    say = progress or (lambda text: None)
    side = _SideBySide(source, sequential, workers, backends, spreads)
    with ExitStack() as stack:
        executors = {
            run: stack.enter_context(
                ParallelExecutor(side.machines[run[0]], run[1], run[2], spread=run[3])
            )
            for run in side.parallel_runs
        }
        count = repeats + warmup + 1
        for number in range(count):
            started = time.perf_counter()
            block = side.block(number)
            if number:
                say(
                    f"{mix}, {accounts:,} accounts: block {number}/{count - 1} of "
                    f"{len(block.txs):,} txs made in {time.perf_counter() - started:.1f} s"
                )
            side.run(block, number, number > warmup, executors)
    rows = side.rows(mix, accounts, workers)
    for row in rows:
        say(_summary(row))
    return rows


class _SideBySide:
    """The blocks of one source run by each sequential run (engine, commit) and by each
    parallel run (engine, workers, backend), each on its own copy of state; what they
    measured, and the box's ceiling for each worker count, measured before each block."""

    def __init__(
        self,
        source: TradeBlocks | OrderBlocks,
        sequential: list[SequentialRun],
        workers: list[int],
        backends: Sequence[Backend],
        spreads: Sequence[Spread],
    ) -> None:
        self.source = source
        model = source.workload.model
        engines = list(dict.fromkeys(engine for engine, _ in sequential))
        self.machines = {e: ClearingMachine(model, engine=e) for e in engines}
        self.sequential = {run: _sequential_machine(model, *run) for run in sequential}
        genesis = source.workload.genesis()
        self.states = {run: genesis.copy() for run in sequential}
        self.parallel_runs = [
            (e, w, b, s)
            for e in engines
            for w in workers
            if w > 0
            for b in backends
            for s in spreads
        ]
        self.ceilings: dict[int, list[float]] = {w: [] for w in workers if w > 0}
        self.parallel_states = {run: genesis.copy() for run in self.parallel_runs}
        self.samples = {run: _Samples() for run in sequential}
        self.backends = list(backends)
        self.spreads = list(spreads)
        self.par_samples = {run: _Samples() for run in self.parallel_runs}
        self.roots_equal = True
        self.receipts_equal = True
        self.kinds: Counter[str] = Counter()
        self.build_seconds: list[float] = []
        self.state_keys: list[int] = []
        """The keys the first sequential run's state held before each measured block."""
        self.dags: list[DependencyMetrics] = []
        """Each measured block's dependency metrics on its start state (untimed)."""
        self.dry_runs: list[tuple[int, float, EngineTimings | None]] = []
        """Each measured order-flow block's transactions, dry-run seconds and where the
        compiled engine's went."""

    def block(self, number: int) -> Block[Transaction]:
        """The setup block (``number`` 0), else the next block on the first run's state."""
        if number == 0:
            return self.source.setup_block()
        return self.source.next_block(next(iter(self.states.values())))

    def run(
        self,
        block: Block[Transaction],
        number: int,
        measured: bool,
        executors: dict[ParallelRun, ParallelExecutor[Transaction]],
    ) -> None:
        """Run ``block`` everywhere, compare, and record the figures if ``measured``."""
        if measured:
            state, model = next(iter(self.states.values())), self.source.workload.model
            machine = next(iter(self.machines.values()))
            self.state_keys.append(len(state))
            self.dags.append(block_dependencies(machine, state, block))
            for count, ceilings in self.ceilings.items():
                ceiling = measure_ceiling(state.data, block, model, count)
                if ceiling is not None:
                    ceilings.append(ceiling)
        wire = encode_block(block)
        first = self._sequential(wire, number, measured)
        if isinstance(self.source, OrderBlocks) and block.height > 0:
            assert self.source.built is not None
            self.receipts_equal &= first.receipts == self.source.built.receipts
            self.roots_equal &= first.state_root == self.source.root
        for run, executor in executors.items():
            fresh = decode_block(wire)  # as the sequential runs have theirs, untimed
            started = time.perf_counter()
            got = executor.execute(self.parallel_states[run], fresh)
            seconds = time.perf_counter() - started
            self.roots_equal &= got.state_root == first.state_root
            self.receipts_equal &= got.receipts == first.receipts
            if measured:
                assert got.metrics.parallel is not None
                self.par_samples[run].parallel.append(seconds)
                self.par_samples[run].parallel_metrics.append(got.metrics.parallel)
        if measured:
            self.kinds.update(composition(block))
            if isinstance(self.source, OrderBlocks):
                assert self.source.built is not None
                self.build_seconds.append(self.source.build_seconds)
                seconds = self.source.built.run_seconds
                self.dry_runs.append((len(block.txs), seconds, self.source.dry_run))

    def _sequential(self, wire: bytes, number: int, measured: bool) -> BlockResult:
        """Every sequential run end to end, stage by stage, from the same encoded block
        (``wire``), block ``number`` starting with run ``number`` (modulo their count); the
        result of the one that went first."""
        results: list[tuple[BlockResult, bytes]] = []
        runs = list(self.states)
        turn = number % len(runs)
        for run in runs[turn:] + runs[:turn]:
            result, receipts, times = run_staged(self.states[run], wire, self.sequential[run])
            results.append((result, receipts))
            if measured:
                _record(self.samples[run], result.metrics.txs, times, result)
        first, first_receipts = results[0]
        self.roots_equal &= all(r.state_root == first.state_root for r, _ in results)
        self.receipts_equal &= all(receipts == first_receipts for _, receipts in results)
        return first

    def rows(self, mix: Mix, accounts: int, workers: list[int]) -> list[dict[str, object]]:
        """One row per engine and worker count."""
        shared = {
            "mix": mix,
            "margin": "portfolio" if self.source.workload.config.portfolio_margin else "standard",
            "accounts": accounts,
            "state_keys": round(_median(self.state_keys)),
            "roots_equal": self.roots_equal,
            "receipts_equal": self.receipts_equal,
            "composition": _shares(self.kinds),
            "build_seconds": _median(self.build_seconds) if self.build_seconds else None,
            "dry_run": _dry_run(self.dry_runs) if self.dry_runs else None,
        }
        reference = self.samples.get(("reference", "plain"))
        compiled = [mine for (engine, _), mine in self.samples.items() if engine == "compiled"]
        fastest = (compiled or list(self.samples.values()))[0]
        rows = []
        for (engine, commit), mine in self.samples.items():
            for count in workers:
                row = shared | _sequential(engine, mine, reference) | {"workers": count}
                row["commit"] = commit
                if count == 0:
                    rows.append(
                        row
                        | {"backend": None, "spread_policy": None}
                        | _parallel(fastest, mine, None, [], 0, self.dags)
                    )
                    continue
                for backend, spread in product(self.backends, self.spreads):
                    par = self.par_samples[(engine, count, backend, spread)]
                    ceilings = self.ceilings[count]
                    rows.append(
                        row
                        | {"backend": backend, "spread_policy": spread}
                        | _parallel(fastest, mine, par, ceilings, count, self.dags)
                    )
        return rows


def _sequential_machine(model: MarginModel, engine: Engine, commit: Commit) -> ClearingMachine:
    """A machine of its own for one sequential run (its compiled engine keeps tables)."""
    made = ClearingMachine(model, engine=engine)
    if isinstance(made.batch_runner, CompiledEngine):
        made.batch_runner.prehashed = commit == "hashed"
    return made


def _record(samples: _Samples, txs: int, times: StageTimes, result: BlockResult) -> None:
    metrics = result.metrics
    samples.txs.append(txs)
    samples.stages.append(times)
    samples.execute_only.append(metrics.execute_seconds)
    commit = metrics.commit_seconds + metrics.root_seconds
    samples.commit_us_per_key.append(commit * 1e6 / max(metrics.keys_written, 1))
    samples.keys_written.append(metrics.keys_written)
    samples.failed += metrics.failed


def _sequential(engine: Engine, mine: _Samples, reference: _Samples | None) -> dict[str, object]:
    """The sequential executor's figures for one engine: rates and the stages."""
    blocks = list(zip(mine.txs, mine.stages, strict=True))
    seconds = {s: _median(getattr(t, s) for t in mine.stages) for s in STAGES}
    total = sum(seconds.values()) or 1.0
    txs = _median(mine.txs)
    ratio = cpu_ratio = None
    if reference is not None:
        pairs = list(zip(reference.stages, mine.stages, strict=True))
        ratio = round(_median(r.total / t.total for r, t in pairs), 3)
        cpu_ratio = round(_median(r.cpu / max(t.cpu, 1e-9) for r, t in pairs), 3)
    return {
        "engine": engine,
        "txs": round(txs),
        "e2e_tps": round(_median(n / t.total for n, t in blocks), 1),
        "e2e_cpu_tps": round(_median(n / max(t.cpu, 1e-9) for n, t in blocks), 1),
        "seq_tps": round(_median(n / t.executor for n, t in blocks), 1),
        "seq_execute_only_tps": round(
            _median(n / s for n, s in zip(mine.txs, mine.execute_only, strict=True)), 1
        ),
        "vs_reference": ratio,
        "vs_reference_cpu": cpu_ratio,
        "compiled_share": round(_median(_compiled(t) / t.executor for t in mine.stages), 4),
        "stages": {
            stage: _stage([(n, getattr(t, stage)) for n, t in blocks], total) for stage in STAGES
        },
        "parts": {
            stage: {
                part: _stage([(n, t.parts[stage][part]) for n, t in blocks], total)
                for part in PARTS[stage]
            }
            for stage in PARTS
            if all(stage in t.parts for t in mine.stages)
        },
        "kernel_txs": round(_median(t.kernel_txs for t in mine.stages)),
        "kernel_tps": _kernel_tps(mine.stages),
        "keys_written": round(_median(mine.keys_written)),
        "seq_commit_ms_per_1000_keys": round(_median(mine.commit_us_per_key), 2),
        "failed_share": round(mine.failed / max(1, sum(mine.txs)), 4),
    }


def _dry_run(runs: list[tuple[int, float, EngineTimings | None]]) -> dict[str, object]:
    """The builder's dry run (matching excluded): median milliseconds per block and
    microseconds per transaction, and for the compiled engine its parts (``rest``: the
    dry run's own work between batches)."""
    txs = [n for n, _, _ in runs]
    seconds = [s for _, s, _ in runs]
    spent = [timings for _, _, timings in runs if timings is not None]
    parts: dict[str, dict[str, float]] | None = None
    if len(spent) == len(runs):
        named = {part: [getattr(t, part) for t in spent] for part in ENGINE_PARTS}
        named["rest"] = [s - t.seconds for s, t in zip(seconds, spent, strict=True)]
        total = _median(seconds)
        parts = {
            part: _stage(list(zip(txs, values, strict=True)), total)
            for part, values in named.items()
        }
    return {
        "ms": round(_median(seconds) * 1e3, 3),
        "us_per_tx": round(_median(s * 1e6 / n for n, s in zip(txs, seconds, strict=True)), 3),
        "parts": parts,
    }


def _stage(blocks: list[tuple[int, float]], total: float) -> dict[str, float]:
    """A stage's (or part's) median ``seconds`` per block, median ``us_per_tx`` and
    ``share`` of ``total`` (the sum of the stages' medians), from each block's
    (transactions, seconds)."""
    seconds = _median(s for _, s in blocks)
    return {
        "seconds": round(seconds, 6),
        "us_per_tx": round(_median(s * 1e6 / n for n, s in blocks), 3),
        "share": round(seconds / total, 4),
    }


COMPILED_PARTS: Final = (("execute", "kernels"), ("commit", "value_hashes"), ("commit", "tree"))
"""The parts of a sequential block that run in compiled calls with the interpreter lock
released (the kernels, the commit's value hashes and tree): the rest is Python, which
threads run one at a time."""


def _compiled(times: StageTimes) -> float:
    """Seconds of ``times`` in ``COMPILED_PARTS``."""
    return sum(times.parts.get(stage, {}).get(part, 0.0) for stage, part in COMPILED_PARTS)


def _kernel_tps(stages: list[StageTimes]) -> float | None:
    """Median over the blocks of the compiled engine's kernels' own rate: transactions they
    ran per second of ``run_orders`` (None for the reference engine)."""
    rates = [
        t.kernel_txs / t.parts["execute"]["kernels"]
        for t in stages
        if t.kernel_txs and t.parts["execute"]["kernels"] > 0
    ]
    return round(_median(rates), 1) if rates else None


def _parallel(
    fastest: _Samples,
    mine: _Samples,
    par: _Samples | None,
    ceilings: list[float],
    workers: int,
    dags: list[DependencyMetrics],
) -> dict[str, object]:
    """The parallel executor's figures (None for worker count 0: not run); its speedup is
    over the fastest sequential executor (the compiled engine's, where it ran), median of
    per-block ratios; ``ceiling`` is the box's (``bench.ceiling``), median over the blocks,
    and ``efficiency`` the speedup over it; ``bound`` is Amdahl's for ``workers`` threads,
    from the share of the fastest sequential executor's time in compiled calls
    (``COMPILED_PARTS``); the critical path and hot locks are the blocks' (``dags``, each
    on its start state), the share of blocks it planned its own (``planned_share``)."""
    names = (
        *("par_tps", "speedup", "ceiling", "efficiency", "reexecutions", "critical_path"),
        *("rounds", "spread", "dag_seconds", "dag_share", "access_seconds", "fallbacks"),
        *("plan_share", "hot_locks", "batched_share", "hashed_share", "bound"),
        *("spread_share", "planned_share", "cost_factor"),
    )
    if par is None:
        return dict.fromkeys(names)
    share = _median(_compiled(t) / t.executor for t in fastest.stages)
    metrics = par.parallel_metrics
    executor = [t.executor for t in fastest.stages]
    planned = [p for p in metrics if p.planned]
    dag_seconds = _median(p.dag_seconds for p in planned) if planned else 0.0
    speedup = _median(s / p for s, p in zip(executor, par.parallel, strict=True))
    ceiling = _median(ceilings) if ceilings else 1.0
    batched = sum(w.batched_txs for p in metrics for w in p.per_worker)
    hashed = sum(w.hashed_keys for p in metrics for w in p.per_worker)
    return {
        "par_tps": round(_median(n / s for n, s in zip(mine.txs, par.parallel, strict=True)), 1),
        "speedup": round(speedup, 3),
        "ceiling": round(ceiling, 3),
        "efficiency": round(speedup / ceiling, 3),
        "batched_share": round(batched / max(1, sum(mine.txs)), 4),
        "hashed_share": round(hashed / max(1, sum(mine.keys_written)), 4),
        "bound": round(amdahl_bound(share, workers), 3),
        "reexecutions": sum(p.reexecutions for p in metrics),
        "critical_path": int(_median(dag.critical_path for dag in dags)) if dags else None,
        "rounds": int(_median(p.rounds for p in metrics)),
        "spread": all(p.spread for p in metrics),
        "spread_share": round(sum(p.spread for p in metrics) / len(metrics), 4),
        "planned_share": round(len(planned) / len(metrics), 4),
        "cost_factor": _finite(_median(p.cost_factor for p in metrics)),
        "dag_seconds": round(dag_seconds, 6),  # of a planned block
        # Of all the measured blocks' time, not a median's: most blocks may skip planning.
        "dag_share": round(sum(p.dag_seconds for p in metrics) / sum(executor), 4),
        "plan_share": round(
            sum(p.access_seconds + p.dag_seconds + p.tasks_seconds for p in metrics)
            / sum(executor),
            4,
        ),
        "access_seconds": round(_median(p.access_seconds for p in planned), 6) if planned else 0.0,
        "fallbacks": sum(1 for p in metrics if p.fallback is not None),
        "hot_locks": [name for name, _ in dags[-1].hot_keys()[:3]] if dags else [],
    }


def _summary(row: dict[str, Any]) -> str:
    text = (
        f"{row['mix']}, {row['accounts']:,} accounts, {row['engine']} ({row['commit']} commit): "
        f"{row['e2e_tps']:,.0f} tx/s end to end, {row['seq_tps']:,.0f} tx/s sequential executor"
    )
    if row["par_tps"] is not None:
        text += (
            f", {row['par_tps']:,.0f} tx/s parallel on {row['workers']} workers "
            f"({row['backend']}), x{row['speedup']:.2f} of ceiling x{row['ceiling']:.2f}"
        )
    return text


def _shares(kinds: Counter[str]) -> dict[str, float]:
    total = sum(kinds.values()) or 1
    return {name: round(count / total, 4) for name, count in kinds.most_common()}


def _finite(value: float) -> float | None:
    """``value`` rounded for JSON, None if it is not finite (JSON has no infinity)."""
    return round(value, 3) if math.isfinite(value) else None


def _median(values: Iterable[float]) -> float:
    return float(statistics.median(values))
