"""Run a generated workload through an executor, checking invariants after every block."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from paraclear.clearing import ClearingMachine
from paraclear.clearing.invariants import check_invariants
from paraclear.execution import execute_block
from paraclear.sim.workload import Workload, WorkloadConfig


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
        }


Progress = Callable[[int, int, int, float], None]
"""Called after each block with (block number, blocks, transactions so far, seconds so far)."""


def run_simulation(
    config: WorkloadConfig, blocks: int, progress: Progress | None = None
) -> SimulationReport:
    """Generate and execute ``blocks`` blocks (after a setup block) sequentially."""
    workload = Workload(config)
    machine = ClearingMachine(workload.model)
    state = workload.genesis()
    execute_block(state, workload.setup_block(), machine)
    failures: Counter[str] = Counter()
    events: Counter[str] = Counter()
    violations: list[str] = []
    txs = keys_written = 0
    seconds = root_seconds = 0.0
    for number in range(1, blocks + 1):
        block = workload.next_block(state)
        started = time.perf_counter()
        result = execute_block(state, block, machine)
        seconds += time.perf_counter() - started
        root_seconds += result.metrics.root_seconds + result.metrics.commit_seconds
        txs += len(block.txs)
        keys_written += result.metrics.keys_written
        for receipt in result.receipts:
            if receipt.error is not None:
                failures[receipt.error.code] += 1
            events.update(type(event).__name__ for event in receipt.events)
        violations += [f"block {block.height}: {v}" for v in check_invariants(state)]
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
    )
