"""What the parallel executor's coordinator and its shard workers exchange: a worker's part
of a block (``Task`` of ``TaskTx``), its report (``WorkerResult``), the lockstep messages
between workers, and ``WorkerLost``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paraclear.execution.metrics import WorkerMetrics
from paraclear.execution.result import Receipt
from paraclear.state import AccessSet, Key, Lock

LockData = dict[Key, object]
Message = tuple[bool, Any]
Predicted = tuple[tuple[Lock, ...], tuple[Lock, ...], tuple[Lock, ...]]
Mispredicted = tuple[int, Lock, str]
"""(index of the transaction, the lock it stepped into, the error's message)."""


@dataclass
class TaskTx:
    """One transaction of a worker's task: where it sits and what it sends afterwards."""

    index: int
    tx: object
    round: int
    sends: Sequence[tuple[int, Lock]] = ()
    predicted: Predicted | None = None
    """The predicted (reads, writes, deltas) of an optimistic transaction."""
    replica: bool = False
    """A replicated transaction run here only for its writes: another worker reports it
    (its receipt and its pure deltas)."""
    access: AccessSet | None = None
    """The access set, when the worker shares the coordinator's process (never encoded)."""


@dataclass
class Task:
    """A worker's part of a block."""

    height: int
    time: int
    rounds: int
    txs: list[TaskTx]
    """Sorted by (round, index)."""
    prefetch: list[tuple[int, Lock]]
    final: list[tuple[int, Lock]]
    pure_deltas: frozenset[Lock]
    die_after: int | None = None
    """Fault injection for tests: the worker is lost after running this many transactions."""


@dataclass
class WorkerResult:
    """What a worker reports after ``commit``; empty fields when it aborted."""

    receipts: list[Receipt]
    writes: dict[Key, object]
    subtrees: list[tuple[int, bytes, int]]
    """(nibble, digest, leaves) of every subtree the worker owns."""
    transfers: int
    metrics: WorkerMetrics
    aborted: bool = False
    mispredicted: Mispredicted | None = None
    """Why it aborted: the first transaction that stepped outside its predicted set."""


class WorkerLost(Exception):
    """A worker died mid-block (or was made to, by fault injection)."""
