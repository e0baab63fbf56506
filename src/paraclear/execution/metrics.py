"""How a block was executed: typed per-block metrics. Nothing here is consensus.

* ``BlockMetrics``: what every executor reports (transactions, failures, keys written, and
  seconds spent executing, committing and hashing; the sequential run splits execution's
  access sets and commit's stages out of them).
* ``ParallelMetrics``: what the parallel executor adds: where its time went by stage, the
  shape of the block's dependency DAG (``DependencyMetrics``), re-executions, each worker's
  time (``WorkerMetrics``), and why the block ran sequentially if it did.

All durations are wall-clock seconds unless a field says CPU seconds; they vary run to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paraclear.state import Lock


@dataclass
class DependencyMetrics:
    """The shape of a block's conflict DAG."""

    critical_path: int = 0
    """Levels of the DAG: the longest chain of conflicting transactions."""
    level_widths: list[int] = field(default_factory=list)
    """Transactions in each level, first level first."""
    hot_locks: list[tuple[Lock, int]] = field(default_factory=list)
    """The most accessed locks written in the block, with their accesses, most first."""

    def hot_keys(self) -> list[tuple[str, int]]:
        """``hot_locks`` named as the API and reports show them (``"acct/alice"``)."""
        return [("/".join(lock), count) for lock, count in self.hot_locks]


@dataclass
class WorkerMetrics:
    """One shard worker's time in one block."""

    busy_seconds: float = 0.0
    """Running transactions, then committing and hashing its subtrees."""
    cpu_seconds: float = 0.0
    """Thread CPU seconds from the block's start to its commit's end (exchanges included:
    waiting in them takes none)."""
    commit_cpu_seconds: float = 0.0
    """Thread CPU seconds of committing and hashing alone."""
    exchange_seconds: float = 0.0
    """In exchanges with peers, waiting included (``threads``)."""
    exchange_wait_seconds: float = 0.0
    """Blocked waiting for peers (``threads``)."""
    results_tail_seconds: float = 0.0
    """Worker 0 on the coordinator's thread: waiting for the others' results after its own."""
    batched_txs: int = 0
    """Transactions it ran in batches of its machine's batch runner (the rest one by one)."""
    hashed_keys: int = 0
    """Keys it committed with the paths and value hashes its batch runner computed
    (``BatchRunner.hashed_part``; the rest it encoded and hashed itself)."""


@dataclass
class ParallelMetrics:
    """How the parallel executor ran a block, stage by stage."""

    backend: str
    workers: int
    access_seconds: float = 0.0
    """Access sets, and the speculative runs that predict undeclared ones."""
    speculative_runs: int = 0
    dag_seconds: float = 0.0
    """Dependency mapping and the schedule (the last attempt's)."""
    tasks_seconds: float = 0.0
    """Building the workers' tasks."""
    merge_seconds: float = 0.0
    """Merging the workers' receipts, writes and subtree digests into the root."""
    attempts: int = 0
    """Parallel attempts (more than one after a mispredicted optimistic transaction)."""
    reexecutions: int = 0
    """Transactions run more than once: speculation, aborted attempts, the fallback."""
    dag: DependencyMetrics | None = None
    """The DAG of the schedule that ran; None when the block fell back to sequential or was
    not planned (``planned``)."""
    planned: bool = True
    """Whether the block was planned (access sets, DAG, schedule); False: it ran here
    unplanned, because the measured cost of spreading ruled out every schedule
    (``SpreadGauge``), or the block was too small to spread, or as contended as the blocks
    before it."""
    rounds: int = 0
    spread: bool = False
    """Whether the block was spread over workers (else the schedule gave it all to one
    worker, and it ran on the sequential executor in the coordinator's thread)."""
    replicated: int = 0
    """Transactions run on every worker (barriers read by all)."""
    transfers: int = 0
    """Lock batches exchanged between workers."""
    cost_factor: float = 1.0
    """What the schedule counted a spread transaction to cost against one run here
    (``SpreadGauge.factor``; ``inf``: the block was kept here to measure that side)."""
    started_workers: bool = False
    """Whether its workers were started for it, loading their shards from state (the first
    spread block, after a lost worker, or after something else changed the state)."""
    per_worker: list[WorkerMetrics] = field(default_factory=list)
    fallback: str | None = None
    """Why the block ran on the sequential executor instead (None: it did not)."""

    @property
    def busy_seconds(self) -> list[float]:
        """Each worker's busy time, worker 0 first (empty after a fallback)."""
        return [worker.busy_seconds for worker in self.per_worker]


@dataclass
class BlockMetrics:
    """How a block was executed, by any executor."""

    txs: int = 0
    failed: int = 0
    keys_written: int = 0
    execute_seconds: float = 0.0
    access_seconds: float = 0.0
    """Of ``execute_seconds``: computing the transactions' access sets (``BlockRun.access``;
    a batch runner computes none for what it runs itself). 0 from the parallel executor,
    which reports its own in ``parallel.access_seconds``."""
    commit_seconds: float = 0.0
    encode_seconds: float = 0.0
    """Of ``commit_seconds``: each changed key's path, comparison and canonical encoding
    (``State.apply``'s ``encode``). 0 from the parallel executor, as are the next two."""
    value_hash_seconds: float = 0.0
    """Of ``commit_seconds``: hashing the encoded values (``value_hashes``)."""
    tree_seconds: float = 0.0
    """Of ``commit_seconds``: updating the tree with the new leaves (``tree``)."""
    row_hash_seconds: float = 0.0
    """Of ``commit_seconds``: the batch runner's compiled encoding and hashing of the keys
    it wrote from its tables (``BatchRunner.hashed``), which ``encode`` then skips."""
    root_seconds: float = 0.0
    parallel: ParallelMetrics | None = None
    """The parallel executor's own metrics; None from the sequential executor."""


def amdahl_bound(share: float, workers: int) -> float:
    """The most ``workers`` threads can speed up work of which only ``share`` runs on all of
    them at once (compiled calls that release the interpreter lock) and the rest on one at a
    time (Python): Amdahl's law."""
    return 1 / ((1 - share) + share / max(workers, 1))
