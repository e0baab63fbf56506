"""What the parallel executor's coordinator and its shard workers exchange: a worker's part
of a block (``Task``), its report (``WorkerResult``), the lockstep messages
between workers, and ``WorkerLost``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paraclear.execution.access_batch import AccessBatch
from paraclear.execution.metrics import WorkerMetrics
from paraclear.execution.result import Receipt
from paraclear.state import AccessSet, Key, Lock
from paraclear.state.hashed import TreeRows

LockData = dict[Key, object]
Message = tuple[bool, Any]
Mispredicted = tuple[int, Lock, str]
"""(index of the transaction, the lock it stepped into, the error's message)."""


@dataclass
class Task:
    """A worker's part of a block: positions in the block's transactions, by round."""

    height: int
    time: int
    rounds: int
    txs: Sequence[Any]
    """The block's transactions, all of them (shared, never copied)."""
    order: list[int]
    """Positions of the transactions this worker runs, by round, then position."""
    starts: list[int]
    """Round r runs ``order[starts[r]:starts[r + 1]]``."""
    sends: dict[int, list[tuple[int, Lock]]]
    """After the transaction at a position: (destination worker, lock) pairs to send."""
    one_by_one: frozenset[int]
    """Positions this worker runs alone, not in a batch: predicted access sets, replicas."""
    replicas: frozenset[int]
    """Positions run here only for their writes: another worker reports them (their
    receipts and their pure deltas)."""
    accesses: AccessBatch
    """The block's access sets (predictions included)."""
    prefetch: list[tuple[int, Lock]]
    final: list[tuple[int, Lock]]
    pure_deltas: frozenset[Lock]
    die_after: int | None = None
    """Fault injection for tests: the worker is lost after running this many transactions."""

    def access(self, position: int) -> AccessSet | None:
        """The access set of the transaction at ``position`` if known here (the one it was
        planned with, or a prediction); None: ask the machine."""
        accesses = self.accesses
        if accesses.sets is not None or accesses.predicted[position]:
            return accesses.access(position)
        return None


@dataclass
class WorkerResult:
    """What a worker reports after ``commit``; empty fields when it aborted."""

    receipts: list[Receipt]
    writes: dict[Key, object]
    subtrees: list[tuple[int, bytes, int]]
    """(nibble, digest, leaves) of every subtree the worker owns."""
    transfers: int
    metrics: WorkerMetrics
    rows: TreeRows | None = None
    """The tree rows of the keys it changed (for the coordinator's tree to catch up)."""
    aborted: bool = False
    mispredicted: Mispredicted | None = None
    """Why it aborted: the first transaction that stepped outside its predicted set."""


class WorkerLost(Exception):
    """A worker died mid-block (or was made to, by fault injection)."""
