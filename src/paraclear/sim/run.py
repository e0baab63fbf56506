"""Run a generated workload through an executor, checking invariants after every block."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from paraclear.clearing import ClearingMachine, Engine
from paraclear.clearing.invariants import check_invariants
from paraclear.clearing.transactions import Transaction
from paraclear.execution import (
    ParallelExecutor,
    SequentialExecutor,
    block_dependencies,
    execute_block,
)
from paraclear.execution.parallel import Backend, Spread
from paraclear.sim.pool_flow import pool_summary
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import State


@dataclass
class SimulationReport:
    """What a simulation did. ``seconds`` counts block execution and commit only."""

    seed: int
    accounts: int
    blocks: int
    txs: int
    seconds: float
    failed_by_error: dict[str, int]
    invariants_ok: bool
    invariant_violations: list[str]
    state_root: str
    keys_written: int
    root_seconds: float
    events: dict[str, int] = field(default_factory=dict)
    executor: str = "sequential"
    engine: str = "reference"
    workers: int = 1
    critical_path_max: int = 0
    reexecutions: int = 0
    fallbacks: int = 0
    hot_locks: list[str] = field(default_factory=list)
    pool: dict[str, object] | None = None
    """The options pool at the end (``sim.pool_flow.pool_summary``), if it was opened."""

    @property
    def tps(self) -> float:
        return self.txs / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "accounts": self.accounts,
            "blocks": self.blocks,
            "txs": self.txs,
            "seconds": round(self.seconds, 6),
            "tps": round(self.tps, 1),
            "failed_by_error": dict(sorted(self.failed_by_error.items())),
            "events": dict(sorted(self.events.items())),
            "invariants_ok": self.invariants_ok,
            "invariant_violations": self.invariant_violations[:20],
            "keys_written": self.keys_written,
            "root_seconds": round(self.root_seconds, 6),
            "state_root": self.state_root,
            "executor": self.executor,
            "engine": self.engine,
            "workers": self.workers,
            "critical_path_max": self.critical_path_max,
            "reexecutions": self.reexecutions,
            "fallbacks": self.fallbacks,
            "hot_locks": self.hot_locks,
            "pool": self.pool,
        }


Progress = Callable[[int, int, int, float], None]
"""Called after each block with (block number, blocks, transactions so far, seconds so far)."""


def run_simulation(
    config: WorkloadConfig,
    blocks: int,
    progress: Progress | None = None,
    *,
    executor: str = "sequential",
    workers: int = 2,
    backend: Backend = "threads",
    engine: Engine = "compiled",
    spread: Spread = "measured",
) -> SimulationReport:
    """Generate and execute ``blocks`` blocks (after a setup block) on ``executor``
    (``sequential`` or ``parallel`` with ``workers`` on ``backend``, spreading blocks by
    ``spread``), running transactions on ``engine``."""
    workload = Workload(config)
    machine = ClearingMachine(workload.model, engine=engine)
    state = workload.genesis()
    execute_block(state, workload.setup_block(), machine)
    if executor == "parallel":
        with ParallelExecutor(machine, workers, backend, spread=spread) as parallel:
            return _run(workload, machine, state, blocks, progress, parallel, workers)
    if executor != "sequential":
        raise ValueError(f"executor must be sequential or parallel, got {executor!r}")
    return _run(workload, machine, state, blocks, progress, SequentialExecutor(machine), 1)


def _run(
    workload: Workload,
    machine: ClearingMachine,
    state: State,
    blocks: int,
    progress: Progress | None,
    executor: SequentialExecutor[Transaction] | ParallelExecutor[Transaction],
    workers: int,
) -> SimulationReport:
    config = workload.config
    failures: Counter[str] = Counter()
    events: Counter[str] = Counter()
    violations: list[str] = []
    txs = keys_written = critical_path = reexecutions = fallbacks = 0
    hot_locks: list[str] = []
    seconds = root_seconds = 0.0
    for number in range(1, blocks + 1):
        block = workload.next_block(state)
        dag = None
        if isinstance(executor, ParallelExecutor):  # the block's, whether it is planned or not
            dag = block_dependencies(machine, state, block)
        started = time.perf_counter()
        result = executor.execute(state, block)
        seconds += time.perf_counter() - started
        root_seconds += result.metrics.root_seconds + result.metrics.commit_seconds
        txs += len(block.txs)
        keys_written += result.metrics.keys_written
        for receipt in result.receipts:
            if receipt.error is not None:
                failures[receipt.error.code] += 1
            events.update(type(event).__name__ for event in receipt.events)
        violations += [f"block {block.height}: {v}" for v in check_invariants(state)]
        parallel = result.metrics.parallel
        if parallel is not None:
            reexecutions += parallel.reexecutions
            fallbacks += parallel.fallback is not None
        if dag is not None:
            critical_path = max(critical_path, dag.critical_path)
            hot_locks = [name for name, _ in dag.hot_keys()]
        if progress:
            progress(number, blocks, txs, seconds)
    return SimulationReport(
        seed=config.seed,
        accounts=config.accounts,
        blocks=blocks,
        txs=txs,
        seconds=seconds,
        failed_by_error=dict(failures),
        invariants_ok=not violations,
        invariant_violations=violations,
        state_root=state.root().hex(),
        keys_written=keys_written,
        root_seconds=root_seconds,
        events=dict(events),
        executor="parallel" if isinstance(executor, ParallelExecutor) else "sequential",
        engine=machine.engine,
        workers=workers,
        critical_path_max=critical_path,
        reexecutions=reexecutions,
        fallbacks=fallbacks,
        hot_locks=hot_locks[:5],
        pool=pool_summary(state),
    )
