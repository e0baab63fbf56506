"""Replay comparison: a run's blocks re-executed sequentially and in parallel, side by side.

``compare_replay`` opens a node's data directory, rebuilds the state from genesis twice
(one copy per executor) and executes every stored block on the ``SequentialExecutor`` and
on the ``ParallelExecutor``, timing only ``execute`` (not reading or decoding the log). Each
result's state root and receipts are compared with the log's, so ``roots_equal`` says that
both executors reproduced, block by block, what the live node committed. Each block's
dependency metrics (critical path, level widths, hot locks: ``block_dependencies`` on its
start state, untimed) and the parallel executor's (re-executions, worker busy time, its
stages) explain where the speedup went.

The two executors run interleaved, block by block, on the same machine, so noise hits both
alike; a seeded coin says which goes first at each block (the first touches the block's
decoded transactions first). Before timing, the first block runs once on a throwaway genesis
state on each executor (the parallel one inline), so that first-use costs (loading compiled
kernels, warming caches) count against neither; the first timed parallel block still pays for
starting its worker threads.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from paraclear.chain.storage import BlockStore, StoredBlock, encode_receipts
from paraclear.clearing.machine import ClearingMachine, Engine
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.transactions import Transaction
from paraclear.execution import (
    Block,
    BlockMetrics,
    BlockResult,
    DependencyMetrics,
    ParallelExecutor,
    ParallelMetrics,
    SequentialExecutor,
    block_dependencies,
)
from paraclear.execution.metrics import amdahl_bound
from paraclear.execution.parallel import Backend, Spread
from paraclear.state import State

Ceiling = Callable[[State, Block[Transaction], MarginModel], float | None]
"""Measures the machine's ceiling before a block, on the state at its start (None: the
block gives it nothing to measure, as one of oracle updates alone)."""
CEILING_SAMPLES: Final = 5

ReplayProgress = Callable[[int, int, float, float], None]
"""Called after each block with (height, tip, sequential seconds so far, parallel seconds
so far)."""
STAGES: Final = ("access sets", "schedule", "tasks", "workers", "merge", "commit")
"""The parallel executor's stages, as ``BlockComparison.stages`` names them."""


@dataclass(frozen=True)
class BlockComparison:
    """One block, executed by both executors."""

    height: int
    txs: int
    sequential_seconds: float
    parallel_seconds: float
    critical_path: int
    """Longest chain of conflicting transactions in the block (its DAG's depth)."""
    widest_level: int
    """Most transactions in one level of the DAG: how many could run at once."""
    hot_keys: tuple[tuple[str, int], ...]
    """The block's most accessed locks ("account/7", "market/BTC-PERP") with their accesses."""
    reexecutions: int
    busy_seconds: tuple[float, ...]
    """Each parallel worker's busy time in the block."""
    stages: tuple[tuple[str, float], ...] = ()
    """Where the parallel executor's time went ("access sets", "schedule", "tasks",
    "workers", "merge", "commit"), from its metrics."""
    fallback: str = ""
    """Why the parallel executor ran the block sequentially, if it did."""
    spread: bool = False
    """Whether the parallel executor's workers ran the block (else it ran in its thread)."""
    planned: bool = True
    """Whether the parallel executor planned the block (access sets and schedule)."""
    sequential_ok: bool = True
    parallel_ok: bool = True
    """Whether each executor reproduced the logged root and receipts."""

    @property
    def speedup(self) -> float:
        return self.sequential_seconds / self.parallel_seconds if self.parallel_seconds else 0.0

    @property
    def path_share(self) -> float:
        """Critical path as a share of the block's transactions (1.0: a single chain)."""
        return self.critical_path / self.txs if self.txs else 0.0


@dataclass
class ReplayComparison:
    """Every block of a data directory re-executed by both executors."""

    workers: int
    backend: str
    blocks: list[BlockComparison] = field(default_factory=list)
    genesis_ok: bool = True
    final_root: bytes = b""
    """The root both replays ended at (the sequential one's, if they differ)."""
    expected_root: bytes | None = None
    """The live node's final root, when the caller gave it."""
    first_mismatch: int | None = None
    """The first height where either executor differed from the log."""
    engine: str = "reference"
    """The engine of both executors (the parallel workers each run one of their own)."""
    ceiling: float | None = None
    """The machine's ceiling for this many workers, median over a few blocks, when the
    caller measured it: the speedup that threads each running the same compiled work
    reached on this machine during the replay."""
    compiled_seconds: float = 0.0
    """Of the sequential replay's time, the seconds in compiled calls that release the
    interpreter lock: the compiled engine's kernels, the commit's value hashes and tree."""

    @property
    def compiled_share(self) -> float:
        """``compiled_seconds`` over the sequential replay's time."""
        seconds = self.sequential_seconds
        return self.compiled_seconds / seconds if seconds else 0.0

    @property
    def bound(self) -> float:
        """Amdahl's bound on the speedup for this many workers, from ``compiled_share``: the
        rest of a block is Python, which threads run one at a time."""
        return amdahl_bound(self.compiled_share, self.workers)

    @property
    def txs(self) -> int:
        return sum(block.txs for block in self.blocks)

    @property
    def sequential_seconds(self) -> float:
        return sum(block.sequential_seconds for block in self.blocks)

    @property
    def parallel_seconds(self) -> float:
        return sum(block.parallel_seconds for block in self.blocks)

    @property
    def speedup(self) -> float:
        """Total sequential time over total parallel time."""
        par = self.parallel_seconds
        return self.sequential_seconds / par if par else 0.0

    @property
    def median_speedup(self) -> float:
        """Median of the per-block time ratios (robust to a slow outlier block)."""
        ratios = [block.speedup for block in self.blocks if block.parallel_seconds]
        return statistics.median(ratios) if ratios else 0.0

    @property
    def roots_equal(self) -> bool:
        """Every block's root and receipts, on both executors, equal to the log's, and the
        final root equal to the live one (when known)."""
        live = self.expected_root is None or self.expected_root == self.final_root
        return self.genesis_ok and self.first_mismatch is None and live

    @property
    def spread_blocks(self) -> int:
        """Blocks the parallel executor's workers ran (the others ran in its own thread:
        not worth spreading, as measured on this machine)."""
        return sum(1 for block in self.blocks if block.spread)

    @property
    def planned_blocks(self) -> int:
        """Blocks the parallel executor planned (the others ran unplanned in its thread:
        too small to spread, as contended as the blocks before them, or after the measured
        cost of spreading ruled every schedule out)."""
        return sum(1 for block in self.blocks if block.planned)

    @property
    def fallbacks(self) -> int:
        return sum(1 for block in self.blocks if block.fallback)

    @property
    def reexecutions(self) -> int:
        return sum(block.reexecutions for block in self.blocks)

    @property
    def dag_parallelism(self) -> float:
        """Transactions over the sum of critical paths: the speedup the conflict DAGs would
        allow with unlimited workers and free coordination."""
        paths = sum(block.critical_path for block in self.blocks)
        return self.txs / paths if paths else 0.0

    def worker_busy_seconds(self) -> list[float]:
        """Each parallel worker's busy time summed over the run (worker 0 runs on the
        coordinator's thread; the others on threads of their own)."""
        busy = [0.0] * self.workers
        for block in self.blocks:
            for worker, seconds in enumerate(block.busy_seconds[: self.workers]):
                busy[worker] += seconds
        return busy

    def stage_seconds(self) -> dict[str, float]:
        """The parallel executor's time by stage (``STAGES``), summed over the run."""
        total = dict.fromkeys(STAGES, 0.0)
        for block in self.blocks:
            for stage, seconds in block.stages:
                total[stage] += seconds
        return total

    def widest_level_mean(self) -> float:
        """The mean over blocks of two or more transactions of the DAG's widest level: how
        many transactions could run at once at best."""
        busy = [block.widest_level for block in self.blocks if block.txs > 1]
        return statistics.fmean(busy) if busy else 0.0

    def critical_path_stats(self) -> tuple[float, int, float, float]:
        """(mean, max) of the critical path, and (mean, max) of it as a share of the block,
        over blocks of two or more transactions (one transaction is its own whole critical
        path: the oracle's one-transaction blocks would say nothing but that)."""
        busy = [block for block in self.blocks if block.txs > 1]
        if not busy:
            return 0.0, 0, 0.0, 0.0
        paths = [block.critical_path for block in busy]
        shares = [block.path_share for block in busy]
        return statistics.fmean(paths), max(paths), statistics.fmean(shares), max(shares)

    def hot_keys(self, top: int = 5) -> list[tuple[str, int]]:
        """The locks accessed most over the run (summing each block's hot locks)."""
        total: Counter[str] = Counter()
        for block in self.blocks:
            for key, count in block.hot_keys:
                total[key] += count
        return sorted(total.items(), key=lambda item: (-item[1], item[0]))[:top]


def compare_replay(
    data_dir: str | Path,
    *,
    workers: int = 2,
    backend: Backend = "threads",
    expected_root: bytes | None = None,
    progress: ReplayProgress | None = None,
    engine: Engine = "compiled",
    ceiling: Ceiling | None = None,
    spread: Spread = "measured",
) -> ReplayComparison:
    """Re-execute every block in ``data_dir`` from genesis on both executors, each with
    ``engine``.

    ``spread``: how the parallel executor decides to spread a block over its workers.
    ``expected_root``: the live node's final root, checked against the replays' final root.
    ``ceiling``: measures the machine's ceiling on a block (``state`` at its start), before
    ``CEILING_SAMPLES`` blocks spread over the chain (a block that gives it nothing to
    measure passes the sample on to the next); their median is reported.
    Raises ``paraclear.chain.storage.StorageError`` if the directory holds no readable chain.
    """
    comparison = ReplayComparison(workers, backend, expected_root=expected_root)
    with BlockStore.open(data_dir) as store:
        machine = ClearingMachine(store.spec.model(), engine=engine)
        comparison.engine = engine
        sequential_machine = ClearingMachine(store.spec.model(), engine=engine)
        sequential_state, parallel_state = store.spec.genesis_state(), store.spec.genesis_state()
        comparison.genesis_ok = sequential_state.root() == store.genesis_root
        comparison.final_root = sequential_state.root()
        sequential = SequentialExecutor(sequential_machine)
        tip = store.height
        if tip:
            _warm_up(store, machine, workers)
            _warm_up_engine(store, sequential_machine)
        samples = {tip * k // (CEILING_SAMPLES + 1) + 1 for k in range(1, CEILING_SAMPLES + 1)}
        ceilings: list[float] = []
        owed = 0
        timings = getattr(sequential_machine.batch_runner, "timings", None)
        kernels = timings.kernels if timings is not None else 0.0
        order = random.Random(tip)
        with ParallelExecutor(machine, workers, backend, spread=spread) as parallel:
            for stored in store.blocks(1, tip):
                owed += stored.height in samples
                if ceiling is not None and owed:
                    measured = ceiling(sequential_state, stored.block, machine.margin_model)
                    if measured is not None:
                        ceilings.append(measured)
                        owed -= 1
                dag = block_dependencies(machine, sequential_state, stored.block)  # untimed
                # Whichever runs first touches the block's decoded transactions first (a
                # few percent of a block): a seeded coin says which, block by block (turning
                # by height would follow a chain's own rhythm, as the demo's oracle blocks).
                parallel_first = order.random() < 0.5
                if parallel_first:
                    par_result, par_seconds = _timed(parallel, parallel_state, stored)
                seq_result, seq_seconds = _timed(sequential, sequential_state, stored)
                if not parallel_first:
                    par_result, par_seconds = _timed(parallel, parallel_state, stored)
                spent = seq_result.metrics
                comparison.compiled_seconds += spent.value_hash_seconds + spent.tree_seconds
                block = _compare_block(
                    stored, dag, seq_result, seq_seconds, par_result, par_seconds
                )
                comparison.blocks.append(block)
                comparison.final_root = seq_result.state_root
                if not (block.sequential_ok and block.parallel_ok):
                    comparison.first_mismatch = comparison.first_mismatch or block.height
                if progress is not None:
                    progress(
                        stored.height,
                        tip,
                        comparison.sequential_seconds,
                        comparison.parallel_seconds,
                    )
    if timings is not None:
        comparison.compiled_seconds += timings.kernels - kernels
    if ceilings:
        comparison.ceiling = statistics.median(ceilings)
    if parallel_state.root() != sequential_state.root():
        comparison.first_mismatch = comparison.first_mismatch or len(comparison.blocks)
    return comparison


def _warm_up(store: BlockStore, machine: ClearingMachine, workers: int) -> None:
    """Run the first block on throwaway genesis states, sequentially and in parallel inline
    (with the machine's engine: that compiles or loads its kernels)."""
    first = store.block(1).block
    SequentialExecutor(machine).execute(store.spec.genesis_state(), first)
    with ParallelExecutor(machine, workers, "inline") as parallel:
        parallel.execute(store.spec.genesis_state(), first)


def _warm_up_engine(store: BlockStore, machine: ClearingMachine) -> None:
    """Load (or compile) the engine's kernels before the timed blocks."""
    if machine.batch_runner is not None:
        machine.batch_runner.warm_up()


def _timed(
    executor: SequentialExecutor[Transaction] | ParallelExecutor[Transaction],
    state: State,
    stored: StoredBlock,
) -> tuple[BlockResult, float]:
    started = time.perf_counter()
    result = executor.execute(state, stored.block)
    return result, time.perf_counter() - started


def _compare_block(
    stored: StoredBlock,
    dag: DependencyMetrics,
    sequential: BlockResult,
    sequential_seconds: float,
    parallel: BlockResult,
    parallel_seconds: float,
) -> BlockComparison:
    """One block's comparison; ``dag``: the block's dependency metrics on its start state
    (the parallel executor's own are there only for the blocks it planned)."""
    metrics = parallel.metrics.parallel or ParallelMetrics("", 0)
    return BlockComparison(
        height=stored.height,
        txs=stored.tx_count,
        sequential_seconds=sequential_seconds,
        parallel_seconds=parallel_seconds,
        critical_path=dag.critical_path,
        widest_level=max(dag.level_widths, default=0),
        hot_keys=tuple(dag.hot_keys()),
        reexecutions=metrics.reexecutions,
        busy_seconds=tuple(metrics.busy_seconds),
        stages=_stages(parallel.metrics, metrics),
        fallback=metrics.fallback or "",
        spread=metrics.spread,
        planned=metrics.planned,
        sequential_ok=_matches(stored, sequential),
        parallel_ok=_matches(stored, parallel),
    )


def _stages(block: BlockMetrics, parallel: ParallelMetrics) -> tuple[tuple[str, float], ...]:
    """The parallel executor's time by stage: access sets (and speculation), the schedule,
    building the workers' tasks, the workers' run (the rest of execution), merging their
    results, committing to state."""
    parts = (parallel.access_seconds, parallel.dag_seconds, parallel.tasks_seconds)
    workers = max(block.execute_seconds - sum(parts), 0.0)
    merge = parallel.merge_seconds
    seconds = (*parts, workers, merge, max(block.commit_seconds - merge, 0.0))
    return tuple(zip(STAGES, seconds, strict=True))


def _matches(stored: StoredBlock, result: BlockResult) -> bool:
    if result.state_root != stored.state_root:
        return False
    return encode_receipts(result.receipts) == stored.receipts_data
