"""The generic execution engine: runs blocks of transactions of any ``StateMachine``.

This package knows state, keys and locks, never derivatives; it is tested with a mock
transaction universe as well as with the clearing house.

* ``machine``: the ``StateMachine`` protocol a transaction universe implements, ``Block`` and
  ``BlockContext``.
* ``block_run``: ``BlockRun``, the one way a block's transactions are run (begin →
  savepoint → apply, rolling back the body on failure; receipts; deltas folded once) and
  committed, by every executor, the node's builder and the liquidation planner.
* ``result``: ``Receipt``, ``ErrorInfo``, ``BlockResult``.
* ``metrics``: typed metrics: ``BlockMetrics``, the parallel executor's ``ParallelMetrics``
  and ``WorkerMetrics``, the DAG's ``DependencyMetrics``.
* ``sequential``: ``execute_block``, the sequential executor: the oracle that every other
  executor must equal bit for bit, and the fallback.
* ``schedule``: dependency mapping (critical path, level widths, hot locks) and the
  parallel schedule (placement, rounds, which locks move between workers).
* ``access_batch``: a block's access sets as lock ids in columns (``AccessBatch``), from a
  machine in bulk (``BatchAccess``) or one by one; ``plan_kernels``: the planner's compiled
  passes over them.
* ``shard``: one shard worker; ``shard_batch``: how it runs with a machine's batch runner;
  ``task``: what the coordinator and the workers exchange;
  ``parallel``: ``ParallelExecutor``; ``gauge``: ``SpreadGauge``, whether spreading a block
  over the workers pays on this machine, measured; ``threads``: its ``threads`` backend
  (the default);
  ``pool``: its ``inline`` backend and the steps every backend drives; ``wire``: the
  encoding of receipts.
"""

from paraclear.execution.block_run import (
    NOT_HELD,
    BatchRunner,
    BlockRun,
    BlockRunFinished,
    fold,
    fold_delta,
)
from paraclear.execution.gauge import SpreadGauge
from paraclear.execution.machine import Block, BlockContext, StateMachine
from paraclear.execution.metrics import (
    BlockMetrics,
    DependencyMetrics,
    ParallelMetrics,
    WorkerMetrics,
)
from paraclear.execution.parallel import (
    BACKENDS,
    MAX_WORKERS,
    SPREADS,
    ParallelExecutor,
    block_dependencies,
)
from paraclear.execution.result import BlockResult, ErrorInfo, Receipt
from paraclear.execution.schedule import plan_block
from paraclear.execution.sequential import SequentialExecutor, execute_block

__all__ = [
    "BACKENDS",
    "MAX_WORKERS",
    "NOT_HELD",
    "SPREADS",
    "BatchRunner",
    "Block",
    "BlockContext",
    "BlockMetrics",
    "BlockResult",
    "BlockRun",
    "BlockRunFinished",
    "DependencyMetrics",
    "ErrorInfo",
    "ParallelExecutor",
    "ParallelMetrics",
    "Receipt",
    "SequentialExecutor",
    "SpreadGauge",
    "StateMachine",
    "WorkerMetrics",
    "block_dependencies",
    "execute_block",
    "fold",
    "fold_delta",
    "plan_block",
]
