"""The node core: admission, the block producer, and what the API reads.

Pipeline, two blocks in flight::

    submit ─► admission thread: signature checks (threads) ─► mempool
    producer thread, as soon as transactions wait while no block is in flight (the block
    before is durable; its listeners may still run), else every ``block_interval`` (or at
    once when ``max_block_txs`` wait):
        take ─► build (dry run, books matched in parallel, fills settled) ─► wait for the
        previous block to be durable and its listeners to have run ─► execute (parallel
        executor) ─► compare with the dry run ─► commit to the state and the mempool ─►
        hand over to ...
    persister thread:
        persist (SQLite, durable) ─► wake the producer ─► resolve inclusions ─► publish
        to listeners

so block n+1 is taken and built while block n is written and fsynced. ``state_lock`` is
held from a block's commit to the state until it is durable and ``height`` names it, so a
reader holding it never sees a state the log does not have. ``submit`` returns a
``concurrent.futures.Future`` that resolves to an ``Inclusion`` once the block holding the
transaction is durable on disk (so an acknowledged transaction is never lost by a crash),
or fails with the node's typed admission error (``submit_checked``, for envelopes an API
front-end checked, tells a ``Waiter`` of the caller's instead). Listeners get a
``BlockReport`` per block, on the persister thread, before the next block commits (the
state is the block's while they run); they must not block (the API hands them to its event
loop).

Full disk: when the store has no room for a block (``StorageFull``: the disk, or the
``max_db_bytes`` cap), nothing of the block was written; the node puts its state and books
back as they were after the previous block (dropping the block built meanwhile), fails the
block's transactions and everything waiting with ``StorageFull`` (retryable: clients see
``data.error == "storage_full"``), refuses new submissions with it, and stops producing
while reads go on. The producer probes for room every ``ROOM_PROBE_SECONDS`` and resumes by
itself once a block's worth fits.

Restart: ``Node`` on an existing data directory rebuilds the state from the latest snapshot
and the blocks after it (every root, receipt and block hash checked; ``open_state``), while
a background thread checks the block hashes of the whole log below, and of the whole log
again every ``verify_every`` seconds (``damage`` holds what it found), then reopens the
books from the open orders in state. The books are the producer's, off-chain: after a
restart the orders at one price level queue by account and order nonce, not by their
original arrival (book snapshots with a replay of the blocks after them would keep arrival
order; not done yet).
"""

from __future__ import annotations

import logging
import threading
import time as wallclock
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final, Literal, Protocol

from paraclear.chain import lookups
from paraclear.chain.builder import BlockBuilder, Built
from paraclear.chain.chain_clock import ClockMode, chain_clock
from paraclear.chain.dir_lock import DirectoryLock
from paraclear.chain.mempool import Mempool, TieBreak
from paraclear.chain.replay import open_state
from paraclear.chain.sigverify import SigVerifier
from paraclear.chain.storage import BlockStore, ChainSpec, StorageError, StorageFull
from paraclear.chain.tape import Tape
from paraclear.clearing.events import OrderFilled
from paraclear.clearing.machine import ClearingMachine, Engine
from paraclear.clearing.records import HouseConfig
from paraclear.clearing.transactions import AmendOrder, CancelOrder, PlaceOrder, Transaction
from paraclear.client.envelope import Keypair, SignedTx, encode_signed, tx_id
from paraclear.client.errors import Dropped, EnvelopeError, NodeError
from paraclear.execution import (
    Block,
    BlockResult,
    ParallelExecutor,
    Receipt,
    SequentialExecutor,
)
from paraclear.execution.parallel import Backend
from paraclear.market import (
    BookResult,
    ParallelMatcher,
    SerialMatcher,
)
from paraclear.state import AccessSet, Key
from paraclear.state import keys as k

log = logging.getLogger(__name__)

DEFAULT_CHAIN_ID: Final = "paraclear-local"
SERVE_SNAPSHOT_SECONDS: Final = 10.0
"""``snapshot_seconds`` of a served node (``paraclear serve``, ``paraclear bench node``)."""
ROOM_PROBE_SECONDS: Final = 0.5
"""While storage is full, how often the producer checks whether a block fits again."""


@dataclass(frozen=True)
class NodeConfig:
    """How a node runs. ``operator_seed`` derives the house's admin and oracle key."""

    data_dir: Path
    chain_id: str = DEFAULT_CHAIN_ID
    operator_seed: int = 0
    margin_model: str = "standard"
    block_interval: float = 0.1
    """Seconds between block starts while the block before is still being persisted. When
    it is durable (no block in flight), the next block starts as soon as a transaction
    waits: under light traffic a transaction waits for no interval, only for a block's
    build and fsync (blocks of a few transactions, a few milliseconds apart); under heavy
    traffic blocks come every ``block_interval`` and grow."""
    max_block_txs: int = 20_000
    executor: Literal["dry-run", "sequential", "parallel"] = "dry-run"
    """How a built block is executed: "dry-run" commits the builder's own sequential run;
    "sequential" and "parallel" execute it again and check that they agree with it."""
    workers: int = 2
    backend: Backend = "threads"
    engine: Engine = "compiled"
    """How the block builder's dry run (and a sequential executor) runs transactions."""
    matcher_processes: int = 1
    """1: books matched in the producer; more: ``ParallelMatcher`` processes."""
    sig_threads: int = 2
    snapshot_every: int = 100
    snapshot_seconds: float = 0.0
    """Least wall time between two snapshots: a height that ``snapshot_every`` names is
    skipped while the last snapshot is younger. Blocks come as fast as the disk takes them
    when traffic is light, so a count of blocks alone may mean several full-state
    snapshots a second (``paraclear serve`` sets 10 s)."""
    accept_loss: bool = False
    """Start even if the block log ends below the acknowledged height (``BlockStore.open``):
    the operator gives those blocks up, and their heights are reused."""
    max_db_bytes: int | None = None
    """Cap on the chain database's size; reaching it is handled as a full disk."""
    verify_every: float = 600.0
    """Seconds between background checks of every block hash in the log."""
    genesis_time: int = 1_767_225_600
    """Block time floor (2026-01-01T00:00Z): a block's time is max(previous, clock)."""
    clock: ClockMode = "auto"
    """Where block times come from after a restart (``chain_clock``): the wall clock, or
    the chain's own time continued at the wall clock's pace when it is simulated."""
    tie_break: TieBreak = "arrival"
    """Mempool order of equal-fee heads: by arrival, or by (sender, nonce) so that the same
    set of submissions gives the same block however they raced (``paraclear.sim.market``)."""

    @property
    def operator(self) -> Keypair:
        return Keypair.from_seed_int(self.operator_seed)

    @property
    def spec(self) -> ChainSpec:
        account = self.operator.account
        return ChainSpec(
            self.chain_id, HouseConfig(admin=account, oracle=account), self.margin_model
        )


@dataclass(frozen=True)
class Inclusion:
    """Where a submitted transaction landed: its block and receipt; for an order
    transaction, the block's fills of its order, each with its number among the block's
    fills of the instrument (from 0)."""

    tx_id: str
    height: int
    index: int
    receipt: Receipt
    time: int = 0
    fills: tuple[tuple[int, OrderFilled], ...] = ()


@dataclass
class BlockReport:
    """One committed block, for listeners (API subscriptions, dashboard, metrics)."""

    block: Block[Transaction]
    result: BlockResult
    books: dict[str, BookResult]
    submitted: int
    """Transactions in the block that came from the mempool (the rest are settlements)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each stage: admission wait excluded; build, wait (for the block before
    to be durable), execute, persist, total; and dry_run, the part of build that executed
    the block's transactions."""
    accesses: list[AccessSet | None] = field(default_factory=list)
    """Each transaction's declared access set, as the builder found them."""
    delisted: list[str] = field(default_factory=list)
    """Instruments whose books the block closed (their ``depth`` is gone)."""


Listener = Callable[[BlockReport], None]


class Waiter(Protocol):
    """Told how a submitted transaction ended: its ``Inclusion`` once its block is durable,
    or the error that refused or dropped it (a ``concurrent.futures.Future`` is one). Called
    once, on whichever node thread settled it (``submit_checked``'s caller, the producer,
    the persister), mostly holding the node's lock: it must not block or call the node."""

    def set_result(self, result: Inclusion, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...

    def done(self) -> bool: ...


Pending = tuple[SignedTx, bytes | None, Waiter]
"""A submitted envelope, its encoding if the submitter had it, and who waits for it."""


class Node(lookups.StateReads):
    """One node over one data directory. ``start`` runs the admission and producer threads;
    ``produce_block`` runs one block on the caller's thread instead (tests, tools)."""

    def __init__(self, config: NodeConfig, *, clock: Callable[[], float] = wallclock.time) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.operator = config.operator
        self.lock = DirectoryLock.acquire(config.data_dir)
        try:
            self.store, self.state = open_state(
                config.data_dir,
                config.spec,
                snapshot_every=config.snapshot_every,
                accept_loss=config.accept_loss,
                max_bytes=config.max_db_bytes,
            )
        except BaseException:
            self.lock.release()
            raise
        self.machine = ClearingMachine(config.spec.model(), engine=config.engine)
        self.height = self.store.height
        """The latest durable block."""
        self._start_height = self.height
        self.block_time = (
            self.store.block(self.height).block.time if self.height else config.genesis_time
        )
        self._tip = (self.height, self.block_time)
        """Height and time of the latest block committed to the state (durable or not)."""
        self._void: tuple[dict[Key, object], StorageFull] | None = None
        """A block the store had no room for: its undo, and why (see ``_settle_void``)."""
        self._clock = chain_clock(self.block_time if self.height else None, clock, config.clock)
        self.depth: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
        """Best levels of each book after the latest block: (bids, asks)."""
        self.tape = Tape.from_log(self.store.blocks(1, self.height))
        """Trades, candles, index, funding and settlements, from the blocks (``tape``)."""
        self.matcher: SerialMatcher | ParallelMatcher
        self.builder: BlockBuilder
        self._open_books()
        self.mempool = self._new_mempool()
        self.storage_full: StorageFull | None = None
        """Why the node stopped producing for want of room, while it has (see the module
        docstring); None while it produces."""
        self.verifier = SigVerifier(config.sig_threads)
        self.executor: SequentialExecutor[Transaction] | ParallelExecutor[Transaction] | None
        """What re-executes each block after the builder's dry run: None commits the dry
        run itself (it is a sequential execution), a ``ParallelExecutor`` checks it."""
        self.executor = None
        if config.executor == "sequential":
            self.executor = SequentialExecutor(self.machine)
        elif config.executor == "parallel":
            self.executor = ParallelExecutor(
                self.machine, workers=config.workers, backend=config.backend
            )
        self._lock = threading.Lock()
        """Guards the mempool, the inbox and the waiting futures."""
        self.state_lock = threading.Lock()
        """Held from a block's commit to the state until it is durable and ``height`` names
        it (taken by the producer, released by the persister): a reader that holds it sees
        a state, its tree, the log and ``height`` that agree (proofs)."""
        self._inbox: list[Pending] = []
        self._waiting: dict[int, Pending] = {}
        """By ``id`` of the transaction object taken from the mempool into a block."""
        self._futures: dict[tuple[str, int], tuple[Waiter, bytes | None]] = {}
        """Waiters (and encodings) of the transactions in the mempool, by (sender, nonce)."""
        self._wake = threading.Condition(self._lock)
        """Wakes the producer: transactions admitted, a block durable, stopping."""
        self._arrived = threading.Condition(self._lock)
        """Wakes the admission thread: envelopes to check in the inbox, stopping."""
        self.received = 0
        """Envelopes submitted so far."""
        self.checked = 0
        """Of those, how many admission has settled (admitted to the mempool or refused): a
        caller that produces blocks itself waits for ``checked`` to reach what it sent."""
        self.refused = 0
        """Of those, how many admission refused (counted before their futures fail)."""
        self._listeners: list[Listener] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._snapshot_at: float | None = None
        """When the last snapshot was saved (``wallclock.monotonic``); None: not yet."""
        self.damage: StorageError | None = None
        """What the background check of the log's block hashes found wrong, if anything."""
        self.verified = 0
        """Blocks the background check has verified (it stops at the height at start)."""
        self.failure: BaseException | None = None
        """Why the producer stopped, if it did on its own (every waiting future fails with
        it; ``paraclear serve`` exits 1)."""

    # --- submitting ----------------------------------------------------------------------

    def submit(self, signed: SignedTx) -> Future[Inclusion]:
        """Queue an envelope for admission; thread-safe. The future resolves when a durable
        block includes it, or fails with a ``NodeError`` (bad signature, replayed nonce,
        full mempool, ...)."""
        return self.submit_many([signed])[0]

    def submit_many(
        self, batch: list[SignedTx], *, checked: bool = False
    ) -> list[Future[Inclusion]]:
        """``submit`` each envelope of ``batch``, in its order, under one lock. ``checked``:
        their signatures were checked already (by an API front-end, whose process this node
        trusts), so they are admitted to the mempool here and now, on the caller's thread."""
        futures: list[Future[Inclusion]] = [Future() for _ in batch]
        pending: list[Pending] = [(s, None, f) for s, f in zip(batch, futures, strict=True)]
        if checked:
            self.submit_checked(pending)
            return futures
        with self._lock:
            self.received += len(batch)
            self._inbox.extend(pending)
            self._arrived.notify()
        return futures

    def submit_checked(self, batch: list[Pending]) -> None:
        """Admit envelopes whose fields and signatures were checked already (by an API
        front-end, whose process this node trusts) to the mempool, in their order, here and
        now on the caller's thread; each ``Waiter`` learns how its transaction ended, as
        ``submit``'s future would (a refusal before this returns). The bytes, where given,
        are the envelope's encoding (``encode_signed``): the mempool and the block log take
        them as they are instead of encoding the envelope again."""
        with self._lock:
            self.received += len(batch)
            self._settle(batch, [None] * len(batch))

    def admit_pending(self) -> int:
        """Check the signatures of everything submitted so far, in parallel threads, and
        admit the good ones to the mempool. Returns how many were admitted."""
        with self._lock:
            inbox, self._inbox = self._inbox, []
        if not inbox:
            return 0
        outcomes = self.verifier.verify([signed for signed, _, _ in inbox], self.chain_id)
        with self._lock:
            return self._settle(inbox, outcomes)

    def _settle(
        self,
        inbox: list[Pending],
        outcomes: list[EnvelopeError | None],
    ) -> int:
        """Admit each envelope whose signature check found nothing wrong, fail the others'
        waiters (lock held). Returns how many were admitted."""
        admitted = 0
        for (signed, raw, waiter), outcome in zip(inbox, outcomes, strict=True):
            refused: NodeError | StorageFull | None = outcome or self.storage_full
            if refused is None:
                try:
                    self._admit(signed, raw, waiter)
                except NodeError as error:
                    refused = error
            if refused is not None:
                self.refused += 1
                waiter.set_exception(refused)
                continue
            admitted += 1
        self.checked += len(inbox)
        if admitted:
            self._wake.notify()
        return admitted

    def _admit(self, signed: SignedTx, raw: bytes | None, waiter: Waiter) -> None:
        """Add to the mempool (lock held); fail the waiters of what it replaced or evicted."""
        evicted = self.mempool.add(signed, None if raw is None else len(raw))
        key = (signed.tx.sender, signed.tx.nonce)
        replaced = self._futures.pop(key, None)
        if replaced is not None:
            replaced[0].set_exception(Dropped(*key, "replaced"))
        if evicted is not None:
            lost = self._futures.pop((evicted.tx.sender, evicted.tx.nonce), None)
            if lost is not None:
                lost[0].set_exception(Dropped(evicted.tx.sender, evicted.tx.nonce, "evicted"))
        self._futures[key] = (waiter, raw)

    # --- producing -----------------------------------------------------------------------

    def produce_block(self) -> BlockReport | None:
        """Take what the mempool holds and run one block, durable and published when this
        returns; None if the mempool holds nothing (or the store had no room)."""
        persist = self._produce(None)
        if persist is None:
            return None
        report = persist()
        self._settle_void()
        return report

    def _produce(
        self, previous: Future[BlockReport | None] | None
    ) -> Callable[[], BlockReport | None] | None:
        """Take, build and commit the next block to the state; returns what persists and
        publishes it (None if the mempool held nothing). ``previous``: the persisting of the
        block before, which the build overlaps and the commit waits for."""
        started = wallclock.perf_counter()
        with self._lock:
            taken = self.mempool.take(self.config.max_block_txs)
            for signed in taken:
                key = (signed.tx.sender, signed.tx.nonce)
                waiter, raw = self._futures.pop(key)
                self._waiting[id(signed.tx)] = (signed, raw, waiter)
        if not taken:
            return None
        height, block_time = self._tip[0] + 1, max(self._tip[1], int(self._clock()))
        built = self.builder.build(self.state, height, block_time, [s.tx for s in taken])
        built_at = wallclock.perf_counter()
        if previous is not None:
            previous.result()
        if self._settle_void():
            return None
        if self.storage_full is not None:  # a snapshot found no room after the last block
            self._reset_books()  # the books moved with this build: back to the state's
            return None
        waited_at = wallclock.perf_counter()
        self.state_lock.acquire()
        try:
            undo = {key: self.state.get(key) for key in built.writes}
            if self.executor is None:
                result = built.commit(self.state)
            else:
                result = self.executor.execute(self.state, built.block)
                if result.receipts != built.receipts or result.write_set != built.writes:
                    raise RuntimeError(f"block {height}: the executor disagrees with the dry run")
            self._tip = (height, block_time)
            self._after_state(built)
            envelopes = [self._envelope(tx) for tx in built.block.txs]
        except BaseException:
            self.state_lock.release()
            raise
        seconds = {
            "build": built_at - started,
            "wait": waited_at - built_at,
            "execute": wallclock.perf_counter() - waited_at,
            "dry_run": built.run_seconds,
        }
        taken_ids = [id(signed.tx) for signed in taken]
        return partial(self._persist, built, result, envelopes, undo, taken_ids, seconds, started)

    def _persist(
        self,
        built: Built,
        result: BlockResult,
        envelopes: list[bytes],
        undo: dict[Key, object],
        taken: list[int],
        seconds: dict[str, float],
        started: float,
    ) -> BlockReport | None:
        """Make a committed block durable, resolve its inclusions, publish it; releases
        ``state_lock``. None if the store had no room (``_void`` then holds the undo).
        ``seconds`` of the stages so far, from ``started`` (``perf_counter``)."""
        executed_at = wallclock.perf_counter()
        height = built.block.height
        full_after = None
        try:
            try:
                self.store.append(built.block, result, envelopes)
            except StorageFull as full:
                self._void = (undo, full)
                return None
            if self._snapshot_due(height):
                try:
                    self.store.save_snapshot(height, self.state)
                    self._snapshot_at = wallclock.monotonic()
                except StorageFull as full:  # the block is durable: finish it, then stop
                    full_after = full
            self.height, self.block_time = height, built.block.time
        finally:
            self.state_lock.release()
        seconds["persist"] = wallclock.perf_counter() - executed_at
        with self._lock:  # the next block may be taken and built while the rest runs
            self._wake.notify_all()
        report = BlockReport(
            built.block,
            result,
            built.books,
            sum(1 for tx in built.block.txs if id(tx) in self._waiting),
            seconds,
            built.accesses,
            built.delisted,
        )
        self._after_durable(built, result, taken)
        seconds["total"] = wallclock.perf_counter() - started
        for listener in list(self._listeners):
            listener(report)
        if full_after is not None:
            self._stop_producing(full_after)
        return report

    def _snapshot_due(self, height: int) -> bool:
        if not self.store.snapshot_due(height):
            return False
        last = self._snapshot_at
        return last is None or wallclock.monotonic() - last >= self.config.snapshot_seconds

    # --- a full disk -----------------------------------------------------------------------

    def _settle_void(self) -> bool:
        """If the store had no room for the last block committed to the state: put state
        and books back as the block before left them, and stop producing (on the producer's
        thread, the state's only writer). Whether it had to."""
        if self._void is None:
            return False
        undo, full = self._void
        self._void = None
        with self.state_lock:
            self.state.apply(undo)
            if self.state.root() != self.store.last_root:  # pragma: no cover - a bug
                raise RuntimeError(f"block {full.height}: undoing it did not restore the root")
            self._tip = (self.height, self.block_time)
        self._reset_books()
        self._stop_producing(full)
        return True

    def _reset_books(self) -> None:
        """New books from the state's open orders (a build moved the old ones on)."""
        self.matcher.close()
        self._open_books()

    def _stop_producing(self, full: StorageFull) -> None:
        """Fail everything waiting with ``full`` and refuse submissions until there is room."""
        log.warning("storage full: stopped producing at height %d (%s)", self.height, full)
        with self._lock:
            self.storage_full = full
            waiting = [w for _, _, w in self._waiting.values()]
            waiting += [w for w, _ in self._futures.values()]
            waiting += [w for _, _, w in self._inbox]
            self._waiting, self._futures, self._inbox = {}, {}, []
            self.mempool = self._new_mempool()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(full)

    def check_room(self) -> bool:
        """While storage is full: whether a block the size of the one refused fits now; if
        it does, production resumes. True when producing."""
        full = self.storage_full
        if full is None:
            return True
        try:
            self.store.check_room(full.size)
        except StorageFull:
            return False
        log.warning("storage has room again: producing from height %d", self.height + 1)
        with self._lock:
            self.storage_full = None
        return True

    def _envelope(self, tx: Transaction) -> bytes:
        waiting = self._waiting.get(id(tx))
        if waiting is None:
            return b""
        signed, raw, _ = waiting
        return encode_signed(signed) if raw is None else raw

    def _after_state(self, built: Built) -> None:
        """The block is committed to the state: the mempool follows it and takes back the
        transactions the block deferred (before the next block is taken)."""
        with self._lock:
            self.mempool.on_committed()
            for tx in built.deferred:
                signed, raw, waiter = self._waiting.pop(id(tx))
                try:
                    self._admit(signed, raw, waiter)
                except NodeError as error:
                    waiter.set_exception(error)

    def _after_durable(self, built: Built, result: BlockResult, taken: list[int]) -> None:
        """The block is durable: update the API's views (books, recent trades), then
        resolve its inclusions (whoever one wakes sees its block). ``taken``: ids of the
        transactions taken from the mempool for it."""
        height, block_time = built.block.height, built.block.time
        fills = _fills_by_order(result)
        for name, book in built.books.items():
            self.depth[name] = (list(book.bids), list(book.asks))
        for name in built.delisted:
            self.depth.pop(name, None)
        self.tape.record(built.block, result.receipts)
        with self._lock:  # only the taking: the node's lock is the API loop's too
            waiting = self._waiting
            mine = [(index, waiting.pop(id(tx), None)) for index, tx in enumerate(built.block.txs)]
            left = [waiting.pop(ident) for ident in taken if ident in waiting]
        receipts = result.receipts
        for index, pending in mine:
            if pending is not None:
                signed, _, waiter = pending
                order = order_key(signed.tx)
                own = tuple(fills.get(order, ())) if order is not None else ()
                inclusion = Inclusion(
                    tx_id(signed), height, index, receipts[index], block_time, own
                )
                waiter.set_result(inclusion)
        for signed, _, waiter in left:  # pragma: no cover - a builder bug
            waiter.set_exception(RuntimeError(f"{tx_id(signed)} left out of block {height}"))

    # --- threads -------------------------------------------------------------------------

    def start(self, *, produce: bool = True) -> None:
        """Run admission and block production in background threads until ``stop``.

        ``produce=False`` runs the admission thread only: the caller produces each block
        with ``produce_block`` when it chooses (the agent market does, once per simulated
        minute, after every agent's orders are admitted)."""
        if self._threads:
            return
        self._stopping.clear()
        loops = [("admission", self._admission_loop), ("verifier", self._verify_log)]
        if produce:
            loops.append(("producer", self._producer_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"paraclear-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def producing(self) -> bool:
        """Whether the producer thread runs (else blocks come from ``produce_block`` calls)."""
        return any(thread.name == "paraclear-producer" for thread in self._threads)

    def stop(self) -> None:
        """Stop the threads (the block in progress completes), then close everything."""
        self._stopping.set()
        with self._lock:
            self._wake.notify_all()
            self._arrived.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []
        self.verifier.close()
        self.matcher.close()
        if isinstance(self.executor, ParallelExecutor):
            self.executor.close()
        self.store.close()
        self.lock.release()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _verify_log(self) -> None:
        """Check every block hash up to the height the node started at, then the whole log
        again every ``verify_every`` seconds, on a connection of its own (recovery checked
        only the blocks after the snapshot); say what is wrong, once."""
        to_height = self._start_height
        try:
            with BlockStore.open(self.config.data_dir) as store:
                while True:
                    self.verified = store.verify_hashes(1, to_height, self._stopping.is_set)
                    if self._stopping.wait(self.config.verify_every):
                        return
                    to_height = self.height
        except StorageError as error:
            log.error("the block log is damaged (`paraclear replay` names the block): %s", error)
            self.damage = error

    def _admission_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if not self._inbox:
                    self._arrived.wait(0.05)
            self.admit_pending()

    def _producer_loop(self) -> None:
        interval = self.config.block_interval
        next_block = wallclock.monotonic()
        persister = ThreadPoolExecutor(1, thread_name_prefix="paraclear-persister")
        in_flight: Future[BlockReport | None] | None = None
        try:
            while not self._stopping.is_set():
                if in_flight is not None and in_flight.done():
                    in_flight.result()  # a failure stops the producer
                    self._settle_void()
                if not self.check_room():
                    self._stopping.wait(ROOM_PROBE_SECONDS)
                    continue
                with self._lock:
                    while (
                        not self._stopping.is_set()
                        and len(self.mempool) < self.config.max_block_txs
                        and wallclock.monotonic() < next_block
                        and not (self.mempool and self._durable_tip(in_flight))
                    ):
                        self._wake.wait(max(next_block - wallclock.monotonic(), 0.0))
                next_block = wallclock.monotonic() + interval
                persist = self._produce(in_flight)
                if persist is not None:
                    in_flight = persister.submit(persist)
                    in_flight.add_done_callback(self._durable)
            if in_flight is not None:
                in_flight.result()
                self._settle_void()
        except BaseException as error:  # the node cannot go on: say why, fail the waiters
            log.error("the block producer stopped", exc_info=error)
            self.failure = error
            with self._lock:
                for _, _, waiter in self._inbox:
                    waiter.set_exception(error)
                for waiter, _ in self._futures.values():
                    waiter.set_exception(error)
                for _, _, waiter in self._waiting.values():  # the blocks in progress
                    if not waiter.done():
                        waiter.set_exception(error)
                self._inbox, self._futures, self._waiting = [], {}, {}
        finally:
            persister.shutdown(wait=True)

    def _durable_tip(self, in_flight: Future[BlockReport | None] | None) -> bool:
        """Whether the block committed last is durable (its listeners may still run): the
        next one is then taken and built at once, and commits once they are done."""
        return in_flight is None or in_flight.done() or self.height == self._tip[0]

    def _durable(self, _: Future[BlockReport | None]) -> None:
        """A block finished persisting: wake the producer (transactions that wait start
        the next block at once when none is in flight)."""
        with self._lock:
            self._wake.notify_all()

    # --- reading (the API's) -------------------------------------------------------------

    def subscribe(self, listener: Listener, *, first: bool = False) -> Callable[[], None]:
        """Call ``listener`` after every block (``first``: before those subscribed so far);
        returns the function that unsubscribes."""
        if first:
            self._listeners.insert(0, listener)
        else:
            self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def next_nonce(self, account: str) -> int:
        """The nonce the account's next transaction should carry (pending ones counted)."""
        with self._lock:
            return self.mempool.next_ready_nonce(account)

    def _committed_nonce(self, account: str) -> int:
        value = self.state.get(k.nonce(account), 0)
        return value if isinstance(value, int) else 0

    def _new_mempool(self) -> Mempool:
        return Mempool(
            self._committed_nonce,
            operators=(self.operator.account,),
            tie_break=self.config.tie_break,
        )

    def _open_books(self) -> None:
        """A fresh matcher and builder, with the books of the open orders in state."""
        processes = self.config.matcher_processes
        self.matcher = ParallelMatcher(processes) if processes > 1 else SerialMatcher()
        self.builder = BlockBuilder(self.machine, self.matcher, self.operator.account)
        self._reopen_books()

    def _reopen_books(self) -> None:
        """Rest every open order in state in its book again (see the module docstring)."""
        for name, book in self.builder.reopen(self.state, self.height).items():
            if book.fills or book.errors:
                raise RuntimeError("the open orders in state do not make a valid book")
            self.depth[name] = (list(book.bids), list(book.asks))


def order_key(tx: Transaction) -> tuple[str, int] | None:
    """(account, order nonce) of the order an order transaction opens, amends or cancels."""
    if isinstance(tx, PlaceOrder):
        return tx.sender, tx.nonce
    if isinstance(tx, AmendOrder | CancelOrder):
        return tx.sender, tx.order
    return None


def _fills_by_order(
    result: BlockResult,
) -> dict[tuple[str, int], list[tuple[int, OrderFilled]]]:
    """The block's fills by (account, order nonce) of both sides, each numbered among the
    block's fills of its instrument."""
    numbers: dict[str, int] = {}
    found: dict[tuple[str, int], list[tuple[int, OrderFilled]]] = {}
    for receipt in result.receipts:
        for event in receipt.events:
            if isinstance(event, OrderFilled):
                n = numbers.get(event.instrument, 0)
                numbers[event.instrument] = n + 1
                found.setdefault((event.taker, event.taker_order), []).append((n, event))
                found.setdefault((event.maker, event.maker_order), []).append((n, event))
    return found
