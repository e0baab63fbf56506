"""Recovery and replay: rebuild the state from the block log and check every root.

``open_state`` is what a node does on start: load the latest snapshot (its root checked),
re-execute the blocks after it and compare each state root with the log's; a block whose
SQLite transaction had not committed when the process died is simply not in the log. It
raises ``RootMismatch`` at the first divergence. A snapshot that does not load (damaged
bytes, another root) is skipped with a warning for the next older one, or genesis: the log
is the truth, a snapshot only a shortcut. (``BlockStore.open`` has already refused a log
shorter than what was acknowledged.)

``replay`` is the audit behind ``paraclear replay``: the same re-execution, from genesis or
from the latest snapshot, on either executor, reporting blocks, transactions, time and the
first mismatching height instead of raising. Both also compare every block's receipts with
the logged ones and its block hash with the one recomputed over its stored bytes
(``BlockHashMismatch``: envelopes or times altered, which re-execution cannot see). From
genesis, replay checks every stored snapshot against the replayed state, byte for byte.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from paraclear.chain.snapshot import CorruptSnapshot, encode_state
from paraclear.chain.storage import (
    DEFAULT_KEEP_SNAPSHOTS,
    DEFAULT_SNAPSHOT_EVERY,
    BlockStore,
    ChainSpec,
    CorruptStore,
    Divergence,
    ReceiptsMismatch,
    RootMismatch,
    StorageError,
    StoredBlock,
    TablesMismatch,
    check_block_hash,
    encode_receipts,
)
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.kernels.mirror import TablesDiverged
from paraclear.clearing.machine import ClearingMachine, Engine
from paraclear.clearing.transactions import Transaction
from paraclear.execution import ParallelExecutor, Receipt, SequentialExecutor
from paraclear.state import State

log = logging.getLogger(__name__)

Source = Literal["genesis", "snapshot"]
ExecutorName = Literal["sequential", "parallel"]
Executor = SequentialExecutor[Transaction] | ParallelExecutor[Transaction]
Progress = Callable[[int, int, int, float], None]
"""Called after each block with (height, tip height, transactions so far, seconds so far)."""


@dataclass
class ReplayReport:
    """What a replay re-executed, and where it first diverged from the log (if it did)."""

    source: Source
    start_height: int
    """The height whose state the replay started from (0: genesis)."""
    tip: int
    blocks: int
    txs: int
    seconds: float
    """Wall time of the re-execution loop: reading, decoding, executing, comparing."""
    state_root: bytes
    """The root of the replayed state (after the last block that matched)."""
    executor: ExecutorName = "sequential"
    workers: int = 1
    engine: str = "reference"
    snapshots_checked: int = 0
    tables_checked: int = 0
    """Blocks after which the compiled engine's tables were checked against the state
    (``check_tables``)."""
    mismatch: Divergence | None = None
    """The first block whose root (``RootMismatch``) or receipts (``ReceiptsMismatch``)
    re-execution did not reproduce, or after which the compiled engine's tables did not
    mirror the state (``TablesMismatch``)."""
    skipped_snapshots: list[tuple[int, str]] = field(default_factory=list)
    """Snapshots that would not load, newest first: (height, what was wrong)."""

    @property
    def ok(self) -> bool:
        return self.mismatch is None

    @property
    def tps(self) -> float:
        return self.txs / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        mismatch = self.mismatch
        root = mismatch if isinstance(mismatch, RootMismatch) else None
        return {
            "ok": self.ok,
            "source": self.source,
            "start_height": self.start_height,
            "tip": self.tip,
            "blocks": self.blocks,
            "txs": self.txs,
            "seconds": round(self.seconds, 6),
            "tps": round(self.tps, 1),
            "executor": self.executor,
            "engine": self.engine,
            "workers": self.workers,
            "snapshots_checked": self.snapshots_checked,
            "tables_checked": self.tables_checked,
            "state_root": self.state_root.hex(),
            "mismatch_height": None if mismatch is None else mismatch.height,
            "mismatch": None if mismatch is None else _kind(mismatch),
            "expected_root": None if root is None else root.expected.hex(),
            "got_root": None if root is None else root.got.hex(),
            "receipt_index": mismatch.index if isinstance(mismatch, ReceiptsMismatch) else None,
            "skipped_snapshots": [
                {"height": height, "error": error} for height, error in self.skipped_snapshots
            ],
        }


def _kind(mismatch: Divergence) -> str:
    if isinstance(mismatch, RootMismatch):
        return "root"
    return "tables" if isinstance(mismatch, TablesMismatch) else "receipts"


def open_state(
    data_dir: str | Path,
    spec: ChainSpec | None = None,
    *,
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS,
    accept_loss: bool = False,
    max_bytes: int | None = None,
) -> tuple[BlockStore, State]:
    """Open (or create) the chain in ``data_dir`` as its writer (``BlockStore.open``'s
    ``recover``) and rebuild its state at the tip, from the latest snapshot that loads (see
    the module docstring).

    Raises ``RootMismatch`` at the first block whose root the re-executed state does not
    reproduce, ``ReceiptsMismatch`` at the first whose receipts it does not,
    ``BlockHashMismatch`` at the first whose stored bytes were altered, and
    ``BlockStore.open``'s errors (``accept_loss`` and ``max_bytes`` are passed to it).
    """
    store = BlockStore.open(
        data_dir,
        spec,
        snapshot_every=snapshot_every,
        keep_snapshots=keep_snapshots,
        accept_loss=accept_loss,
        max_bytes=max_bytes,
        recover=True,
    )
    try:
        state, report = replay(store, "snapshot")
        if report.mismatch is not None:
            raise report.mismatch
    except BaseException:
        store.close()
        raise
    return store, state


def replay(
    store: BlockStore,
    source: Source = "genesis",
    *,
    executor: ExecutorName = "sequential",
    workers: int = 2,
    progress: Progress | None = None,
    engine: Engine = "compiled",
    check_tables: bool = False,
) -> tuple[State, ReplayReport]:
    """Re-execute the log from genesis or from the latest snapshot, comparing every root.

    ``check_tables``: after every block, also check that the compiled engine's tables
    mirror the replayed state (``kernels.mirror``; sequential executor, compiled engine).

    Stops at the first mismatch and reports it (``report.mismatch``). Raises
    ``CorruptStore`` if the log has a gap, a block that cannot be read or whose hash is
    wrong (``BlockHashMismatch``), or a snapshot differs from the replayed state;
    ``ValueError`` for ``check_tables`` with another executor or engine.
    """
    if check_tables and (executor != "sequential" or engine != "compiled"):
        raise ValueError("check_tables needs the sequential executor and the compiled engine")
    skipped: list[tuple[int, str]] = []
    state, start = _start_state(store, source, skipped)
    report = ReplayReport(source, start, store.height, 0, 0, 0.0, state.root(), executor)
    report.skipped_snapshots = skipped
    if state.root() != store.root_at(start):
        report.mismatch = RootMismatch(start, store.root_at(start), state.root())
        return state, report
    machine = ClearingMachine(store.spec.model(), engine=engine)
    report.engine = engine
    if executor == "parallel":
        report.workers = workers
        with ParallelExecutor(machine, workers) as parallel:
            reexecute(store, state, parallel, report, progress)
    else:
        reexecute(store, state, SequentialExecutor(machine), report, progress, check_tables)
    return state, report


def _start_state(
    store: BlockStore, source: Source, skipped: list[tuple[int, str]]
) -> tuple[State, int]:
    """Genesis, or the latest snapshot that loads with the log's root at its height;
    those that do not are logged and added to ``skipped``."""
    if source == "snapshot":
        for height in reversed(store.snapshot_heights()):
            try:
                return _load_snapshot(store, height), height
            except (StorageError, CorruptSnapshot) as error:
                log.warning("skipping the snapshot at height %d: %s", height, error)
                skipped.append((height, str(error)))
    return store.spec.genesis_state(), 0


def _load_snapshot(store: BlockStore, height: int) -> State:
    """The snapshot at ``height``, decoded. Raises ``CorruptStore``, ``CorruptSnapshot``,
    ``RootMismatch`` (its root is not the one stored with it, or not the log's)."""
    state = store.snapshot(height).state()
    if state.root() != store.root_at(height):
        raise RootMismatch(height, store.root_at(height), state.root())
    return state


def reexecute(
    store: BlockStore,
    state: State,
    executor: Executor,
    report: ReplayReport,
    progress: Progress | None,
    check_tables: bool = False,
) -> None:
    """Execute every block after ``report.start_height`` on ``state``, filling ``report``
    (the whole replay here, one segment in ``paraclear.chain.segments``); with
    ``check_tables``, check the compiled engine's tables after every block
    (``_check_tables``)."""
    snapshots = set(store.snapshot_heights()) if report.source == "genesis" else set()
    parent = store.hash_at(report.start_height)
    started = time.perf_counter()
    for stored in store.blocks(report.start_height + 1, report.tip):
        result = executor.execute(state, stored.block)
        report.seconds = time.perf_counter() - started
        if result.state_root != stored.state_root:
            report.mismatch = RootMismatch(stored.height, stored.state_root, result.state_root)
            return
        if encode_receipts(result.receipts) != stored.receipts_data:
            report.mismatch = _receipts_mismatch(stored, result.receipts)
            return
        if check_tables and not _check_tables(executor, state, stored.height, report):
            return
        parent = check_block_hash(stored, parent)
        report.blocks += 1
        report.txs += stored.tx_count
        report.state_root = result.state_root
        if stored.height in snapshots:
            check_snapshot(store, stored.height, state)
            report.snapshots_checked += 1
        if progress is not None:
            progress(stored.height, report.tip, report.txs, report.seconds)
    if report.start_height + report.blocks != report.tip:
        raise CorruptStore(f"block log ends at {report.start_height + report.blocks}")


def _check_tables(executor: Executor, state: State, height: int, report: ReplayReport) -> bool:
    """Check that the tables ``executor``'s compiled engine carries mirror ``state`` after
    the block at ``height`` (counted in ``report.tables_checked`` if it carries any); False,
    with ``report.mismatch`` set, if they do not."""
    engine = getattr(executor.machine, "batch_runner", None)
    if not isinstance(engine, CompiledEngine):
        return True
    try:
        report.tables_checked += engine.check_tables(state)
    except TablesDiverged as diverged:
        report.mismatch = TablesMismatch(height, diverged.differences)
        return False
    return True


def _receipts_mismatch(stored: StoredBlock, receipts: list[Receipt]) -> ReceiptsMismatch:
    logged = stored.receipts()
    differ = (i for i, pair in enumerate(zip(logged, receipts, strict=True)) if pair[0] != pair[1])
    return ReceiptsMismatch(stored.height, next(differ, 0))


def check_snapshot(store: BlockStore, height: int, state: State) -> None:
    """Raise CorruptStore unless the stored snapshot at ``height`` encodes ``state``."""
    if store.snapshot(height).data != encode_state(state):
        raise CorruptStore(f"the snapshot at height {height} differs from the replayed state")
