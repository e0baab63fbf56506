"""Per-block statistics for the ``blocks`` channel, ``public/get_block_stats`` and the dashboard.

One record per committed block: its size (transactions, submitted orders, fills, failures),
where its time went (build, execute, persist, total seconds), throughput, and the shape of
its dependency DAG (critical path, widest level, hot locks), and the index prices its
oracle updates set.

The DAG comes from the execution engine's own planner (``execution.plan_batch``) over the
block's declared access sets, which the builder's dry run has computed already. The
parallel executor reports it itself; under the "dry-run" and "sequential" executors it is
computed here, on one worker, for every block, from the machine's access sets in bulk
(``access_batch``: lock ids by transaction type, no object per transaction);
``dag_seconds`` says what it cost. A block with a transaction that declares no
access set has no DAG to show.

``speedup`` is measured, not modelled: under the parallel executor it is the builder's
sequential execution of the block (its dry run: transactions only) over the parallel
executor's execution (``parallel_run``: access sets, schedule and the workers' run, which
hashes their subtrees; the merge and commit after it excluded, as the dry run has none).
Other executors have no parallel run to measure; they report ``parallelism``, the DAG's
bound ``txs / critical_path``, and ``speedup`` null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any, Final

from paraclear.api import views
from paraclear.api.jsonl_history import JsonlHistory
from paraclear.api.methods import Params
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.chain.core import BlockReport
from paraclear.clearing.events import OrderFilled
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import OracleData
from paraclear.execution.access_batch import AccessBatch
from paraclear.execution.schedule import batch_metrics as plan_metrics
from paraclear.state import AccessSet, Key, lock_of
from paraclear.state import keys as k
from paraclear.state.keys import MarketKey, parse_key

STATS_FILE: Final = "block_stats.jsonl"
HISTORY: Final = 500
"""Blocks of statistics kept for ``public/get_block_stats``."""
HOT_KEYS: Final = 5


class BlockStatsParams(Params, frozen=True):
    count: int = 100


Dag = tuple[int, list[int], list[tuple[str, int]]]


def dependency_metrics(accesses: Sequence[AccessSet | None]) -> Dag | None:
    """Critical path, level widths and hot locks of a block with these access sets, or None
    if a transaction declares none."""
    return batch_metrics(AccessBatch.of(accesses))


def batch_metrics(batch: AccessBatch) -> Dag | None:
    """``dependency_metrics`` of access sets given as lock ids (``access_batch``)."""
    if not batch.declared.all():
        return None
    metrics = plan_metrics(batch)
    return metrics.critical_path, metrics.level_widths, metrics.hot_keys()


def block_stats(report: BlockReport, machine: ClearingMachine, executor: str) -> dict[str, Any]:
    """The statistics record of one committed block (see the module docstring)."""
    block, result = report.block, report.result
    parallel = result.metrics.parallel
    started = perf_counter()
    dag: Dag | None
    if parallel is not None and parallel.dag is not None:
        dag = (parallel.dag.critical_path, parallel.dag.level_widths, parallel.dag.hot_keys())
        dag_seconds = parallel.dag_seconds
    else:
        if report.accesses:
            dag = dependency_metrics(report.accesses)
        else:
            dag = batch_metrics(machine.access_batch(block.txs))
        dag_seconds = perf_counter() - started
    seconds = report.seconds
    total = seconds.get("total", 0.0)
    txs = len(block.txs)
    critical_path = dag[0] if dag else None
    parallel_run = result.metrics.execute_seconds if executor == "parallel" else 0.0
    speedup = None
    if parallel_run > 0:
        speedup = round(seconds.get("dry_run", 0.0) / parallel_run, 3)
    return {
        "height": block.height,
        "time": block.time,
        "executor": executor,
        "txs": txs,
        "submitted": report.submitted,
        "fills": sum(
            1 for receipt in result.receipts for e in receipt.events if isinstance(e, OrderFilled)
        ),
        "failed": result.metrics.failed,
        "seconds": {
            **{
                name: round(seconds.get(name, 0.0), 6)
                for name in ("build", "dry_run", "execute", "persist", "total")
            },
            "parallel_run": round(parallel_run, 6),
        },
        "orders_per_second": round(report.submitted / total, 1) if total > 0 else None,
        "txs_per_second": round(txs / total, 1) if total > 0 else None,
        "critical_path": critical_path,
        "widest_level": max(dag[1], default=0) if dag else None,
        "levels": len(dag[1]) if dag else None,
        "hot_keys": [[lock, count] for lock, count in dag[2][:HOT_KEYS]] if dag else [],
        "dag_seconds": round(dag_seconds, 6),
        "speedup": speedup,
        "parallelism": round(txs / critical_path, 3) if critical_path else None,
        "index": _indices(result.write_set),
    }


def _indices(writes: Mapping[Key, object]) -> dict[str, float]:
    """The index prices the block's oracle updates set, by underlying."""
    indices: dict[str, float] = {}
    for key, value in writes.items():
        if lock_of(key) == k.ORACLE_LOCK and isinstance(value, OracleData):
            match parse_key(key):
                case MarketKey(_, underlying, ""):
                    indices[underlying] = views.price(value.index)
    return indices


class BlockStats:
    """The statistics of the latest ``HISTORY`` blocks, and ``public/get_block_stats``.

    With a ``path`` (``STATS_FILE`` in the node's data directory), the records are kept in
    that file too (``JsonlHistory``) and read back when a node starts, so that a restart
    shows the same statistics (their stage times cannot be derived from the log).
    """

    def __init__(
        self,
        machine: ClearingMachine,
        executor: str,
        path: Path | None = None,
        height: int | None = None,
    ) -> None:
        self.machine = machine
        self.executor = executor
        self.history = JsonlHistory(HISTORY, path, height)
        dependency_metrics([])  # load the planner's compiled kernel now, not in a block

    def record(self, report: BlockReport) -> dict[str, Any]:
        stats = block_stats(report, self.machine, self.executor)
        self.history.append(stats)
        return stats

    def register(self, registry: Registry) -> None:
        registry.add("public/get_block_stats", BlockStatsParams, self.get_block_stats)

    def get_block_stats(self, context: Context, params: BlockStatsParams) -> list[dict[str, Any]]:
        """The latest ``count`` blocks' statistics, oldest first."""
        if not 1 <= params.count <= HISTORY:
            raise RpcError.invalid_params("count", f"must be between 1 and {HISTORY}")
        return self.history.recent(params.count)
