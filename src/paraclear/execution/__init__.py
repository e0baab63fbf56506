"""The generic execution engine: runs blocks of transactions of any ``StateMachine``.

This package knows state, keys and locks, never derivatives; it is tested with a mock
transaction universe as well as with the clearing house.

* ``machine``: the ``StateMachine`` protocol a transaction universe implements, ``Block`` and
  ``BlockContext``.
* ``transaction``: ``run_transaction``, the one way every executor runs one transaction
  (begin → savepoint → apply, rolling back the body on failure) and builds its ``Receipt``.
* ``result``: ``Receipt``, ``ErrorInfo``, ``BlockResult``, ``BlockMetrics``.
* ``sequential``: ``execute_block``, the sequential executor: the oracle that every other
  executor must equal bit for bit, and the fallback.
* ``schedule``: dependency mapping (critical path, level widths, hot locks) and the
  parallel schedule (placement, rounds, which locks move between workers).
* ``shard``: one shard worker; ``parallel``: ``ParallelExecutor`` and its backends;
  ``wire``: the encodings that cross process boundaries.
"""

from paraclear.execution.machine import Block, BlockContext, StateMachine
from paraclear.execution.parallel import BACKENDS, MAX_WORKERS, ParallelExecutor
from paraclear.execution.result import BlockMetrics, BlockResult, ErrorInfo, Receipt
from paraclear.execution.schedule import DependencyMetrics, plan_block
from paraclear.execution.sequential import SequentialExecutor, execute_block
from paraclear.execution.transaction import run_transaction

__all__ = [
    "BACKENDS",
    "MAX_WORKERS",
    "Block",
    "BlockContext",
    "BlockMetrics",
    "BlockResult",
    "DependencyMetrics",
    "ErrorInfo",
    "ParallelExecutor",
    "Receipt",
    "SequentialExecutor",
    "StateMachine",
    "execute_block",
    "plan_block",
    "run_transaction",
]
