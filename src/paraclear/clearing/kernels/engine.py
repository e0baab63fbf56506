"""``CompiledEngine``: runs a block's order flow through the kernels, and everything else
through the reference handlers, with the same receipts and writes as the handlers alone.

The glue turns each transaction into a row of integers (names resolved to table rows), runs
the longest stretch of order-flow transactions through ``run_orders`` in one call, and builds
the receipts from the results. A transaction the kernels hand back (``E_FALLBACK``), and any
other type, runs through ``BlockRun``'s reference path: the kernels' changes are flushed
into the block's pending writes first, and what the handler wrote is routed back into the
tables after.

The tables persist from block to block while they mirror the state: the engine trusts them
after it committed a block it ran. What others commit to that state after it (it watches:
the parallel executor's spread blocks) it routes into the tables at its next block, while
that is at most ``CATCH_UP`` of the state's keys. Otherwise it loads them again from the
state and the block's pending writes.

``timings`` (``EngineTimings``) says where the engine's time went: glue, kernels, receipt
objects, flushes, the reference handlers and table loads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from itertools import chain
from time import perf_counter
from typing import TYPE_CHECKING, Final

import numpy as np

from paraclear.clearing.kernels.block_rows import FIELD_BITS
from paraclear.clearing.kernels.codes import (
    K_PLACE,
    R_FIELDS,
    X_FIELDS,
    X_KIND,
    X_ORDER,
    X_ORDER_NONCE,
    X_SENDER,
)
from paraclear.clearing.kernels.glue import columns_of, receipts_of
from paraclear.clearing.kernels.hashed import warm as warm_encoders
from paraclear.clearing.kernels.held import row_value
from paraclear.clearing.kernels.layout import (
    O_ACCT,
    O_LIVE,
    O_NONCE,
    O_TOUCH,
)
from paraclear.clearing.kernels.mirror import TablesDiverged, differences
from paraclear.clearing.kernels.run import run_orders
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.kernels.timings import EngineTimings
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    Deposit,
    PlaceOrder,
    SettleFill,
    Trade,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import NOT_HELD, BlockRun, Receipt
from paraclear.state import Key, Lock, State
from paraclear.state.hashed import Flags, HashedWrites
from paraclear.state.keys import (
    AccountField,
    CounterKey,
    HouseKey,
    MarketKey,
    OrderKey,
    PositionKey,
    UnknownKey,
    account_lock,
    parse_key,
)

if TYPE_CHECKING:
    from paraclear.clearing.machine import ClearingMachine

KERNEL_TYPES: Final = (
    PlaceOrder,
    CancelOrder,
    AmendOrder,
    SettleFill,
    CloseOrder,
    Trade,
    Deposit,
    Withdraw,
    Transfer,
)
CATCH_UP: Final = 0.5
"""Tables that mirrored a state catch up with what others committed to it (the parallel
executor's spread blocks) by routing those writes, while they number at most this share of
the state's keys; beyond it they reload from the state."""
MIN_CHUNK: Final = 8
MAX_CHUNK: Final = 4096
"""Transactions glued and run per kernel call: a fallback makes the glue of the rest of its
call stale (the reference handler may have opened or closed what later ones name), so after
one the calls start small again and double while nothing falls back."""


class CompiledEngine:
    """The batch runner of a ``ClearingMachine`` with ``engine="compiled"``."""

    def __init__(self, machine: ClearingMachine) -> None:
        self.machine = machine
        self.tables: Tables | None = None
        self._data: Mapping[Key, object] | None = None
        self._run: BlockRun[Transaction] | None = None
        self._included = 0
        self._trusted = False
        self._missed: list[dict[Key, object]] = []
        """Write sets others committed to the state since the engine's last block, while
        they add up to at most ``CATCH_UP`` of its keys (then it reloads instead)."""
        self._behind = 0
        self._handled: BlockRun[Transaction] | None = None
        """A run whose transactions so far the reference handlers ran without the tables
        (``_handlers_only``): the tables catch up with its pending writes if it reaches a
        batch for the kernels."""
        self._holding = False
        """Whether the last flush was partial (``needed``): rows changed since may be held."""
        self._noted: tuple[BlockRun[Transaction] | None, list[Key]] = (None, [])
        """A run, and the keys of its pending writes that something other than a flush may
        have written last (the reference handlers, what the tables loaded): ``hashed``
        names those of them that no flush wrote after as the commit's ``rest``."""
        self._chunk = MIN_CHUNK
        """Transactions glued per kernel call at the start of the next batch: where the
        last one left off (a shard worker runs a batch per round, many of them small)."""
        self.fallbacks = 0
        """Transactions of a kernel type that the reference handlers ran (since start)."""
        self.loads = 0
        """Times the tables were loaded from a state (since start): once, and again after
        others committed much to the state (``CATCH_UP``) or ran in a block between the
        engine's batches."""
        self.timings = EngineTimings()
        """Where its time went, part by part (since start)."""
        self.prehashed = True
        """Whether its hot keys reach ``State.apply`` pre-hashed (``hashed``); False: they
        are encoded and hashed there like any other key (to compare the two)."""

    # --- the BatchRunner protocol ------------------------------------------------------------

    def run_batch(
        self,
        run: BlockRun[Transaction],
        txs: Iterable[Transaction],
        needed: Collection[Lock] | None = None,
    ) -> list[Receipt]:
        """Run ``txs`` in order as ``run.run_all`` would; their receipts. ``needed``: flush
        only the rows of these locks' accounts into ``run.pending`` now (any other lock:
        every row); the rest stay in the tables until a later flush (``flush``)."""
        batch = list(txs)
        first = len(run.receipts)
        if self._handlers_only(run, batch):
            for tx in batch:
                access = run.access(tx)
                receipt, view = run.attempt(tx, len(run.receipts), access)
                run.include(tx, receipt, view, access)
                self._note(run, chain(view.writes, view.deltas))
            self._handled = run
            return run.receipts[first:]
        tables = self._tables_for(run)
        at, chunk = 0, self._chunk
        while at < len(batch):
            end = at
            while end < len(batch) and end - at < chunk and isinstance(batch[end], KERNEL_TYPES):
                end += 1
            if end > at and tables.usable:
                done = self._run_kernels(run, tables, batch[at:end])
                at += done
                if at == end:
                    chunk = min(2 * chunk, MAX_CHUNK)
                    continue
                self.fallbacks += 1
                chunk = MIN_CHUNK
            self._run_reference(run, tables, batch[at])
            at += 1
        self._chunk = chunk
        self._flush(run, tables, _account_rows(tables, needed))
        self._run, self._included = run, len(run.receipts)
        return run.receipts[first:]

    def flush(self, run: BlockRun[Transaction]) -> None:
        """Write into ``run.pending`` what its batches left in the tables (``needed``)."""
        tables = self.tables
        if run is self._run and tables is not None and self._holding:
            self._flush(run, tables)

    def held(self, run: BlockRun[Transaction], key: Key) -> object:
        """An order's or a position's value from its row while a partial flush holds the
        row back (``kernels.held``); ``NOT_HELD`` for any other key, after folding every
        held row into ``run.pending`` if the kernels may have written ``key`` (the
        kernels write no market data)."""
        tables = self.tables
        if not self._holding or run is not self._run or tables is None:
            return NOT_HELD
        parsed = parse_key(key)
        if isinstance(parsed, OrderKey | PositionKey):
            return row_value(tables, parsed)
        if isinstance(parsed, MarketKey):
            return NOT_HELD
        self._flush(run, tables)
        return NOT_HELD

    def hashed(self, run: BlockRun[Transaction]) -> HashedWrites | None:
        """The paths and value hashes of the keys of ``run.pending`` whose latest write was
        a flush of the tables, from the rows (``kernels.hashed``); None unless the tables
        mirror ``run`` to its end and ``prehashed`` is on."""
        tables = self._hashing(run)
        if tables is None:
            return None
        hashed = tables.hasher.hashed(tables, tables.block_rows, run.data, run.pending, aside=True)
        return hashed if hashed.whole else self._with_rest(run, tables, hashed)

    def _with_rest(
        self, run: BlockRun[Transaction], tables: Tables, hashed: HashedWrites
    ) -> HashedWrites:
        """``hashed`` with its ``rest`` named: the keys noted for ``run`` that its pending
        writes hold and that no flush wrote after (the hasher holds only keys a flush wrote
        last), if they make up the count; otherwise (or if they are more than the hashed
        keys, which ``State.apply`` then looks up quicker) as it is."""
        noted_run, noted = self._noted
        pending, count = run.pending, len(hashed.keys)
        if noted_run is not run or not len(pending) - count <= len(noted) <= count:
            return hashed
        rest = []
        for key in dict.fromkeys(noted):
            if key in pending:
                flushed = _flushed_last(tables, key)
                if flushed is None:
                    return hashed
                if not flushed:
                    rest.append(key)
        return hashed._replace(rest=rest) if len(rest) + count == len(pending) else hashed

    def hashed_part(
        self,
        run: BlockRun[Transaction],
        data: Mapping[Key, object],
        writes: Mapping[Key, object],
        owned: Flags,
    ) -> HashedWrites | None:
        """``hashed`` for a shard worker's commit of ``writes`` onto ``data``: the keys the
        tables' flushes wrote last in ``run`` of the accounts whose lock's top nibble
        ``owned`` marks, and the counters of ``writes``; never ``whole``; None unless the
        tables mirror ``run`` to its end and ``prehashed`` is on."""
        tables = self._hashing(run)
        if tables is None:
            return None
        block = tables.block_rows
        block.counters = {key for key in block.counters if key in writes}
        hashed = tables.hasher.hashed(tables, block, data, writes, owned)
        return hashed._replace(whole=False)

    def _hashing(self, run: BlockRun[Transaction]) -> Tables | None:
        """The tables, if they mirror ``run`` to its end and ``prehashed`` is on."""
        tables = self.tables
        mirrored = run is self._run and self._included == len(run.receipts)
        return tables if tables is not None and mirrored and self.prehashed else None

    def committed(self, run: BlockRun[Transaction], state: State) -> None:
        """``run`` was committed to ``state``: the tables mirror it until someone else
        commits to it, unless something ran in ``run`` after the engine's last batch."""
        if run is not self._run:
            return
        self._run, self._trusted = None, self._included == len(run.receipts)
        self._missed, self._behind = [], 0
        self._noted = (None, [])
        if self.tables is not None:
            self.tables.block_rows.clear()
        state.watch(self._on_commit)

    def check_tables(self, state: State) -> bool:
        """Check that the tables it carries into its next block mirror ``state``, the state
        its last block was committed to (``kernels.mirror``): True if it did, False if it
        carries none to check (its next batch loads them from the state).

        Raises ``TablesDiverged`` naming the differences."""
        tables = self.tables
        if tables is None or not self._trusted or self._run is not None:
            return False
        if self._data is not state.data:
            return False
        self._catch_up(tables)  # what its next block would route first
        found = differences(tables, state.data, self.machine.margin_model)
        if found:
            raise TablesDiverged(found)
        return True

    def warm_up(self) -> None:
        """Compile the kernels (or load them from numba's cache) on an empty block."""
        tables = Tables(self.machine.margin_model)
        none = np.zeros((0, X_FIELDS), dtype=np.int64)
        run_orders(
            none, np.zeros((0, R_FIELDS), dtype=np.int64), 0,
            tables.accounts, tables.account_positions, tables.positions, tables.orders,
            tables.instruments, tables.house, 0, 0,
            np.zeros((4, 1), dtype=np.int64), np.zeros(4, dtype=np.int64),
        )  # fmt: skip
        warm_encoders()  # the commit's

    def spawn(self) -> CompiledEngine:
        """An engine of its own (tables of its own) for the same machine."""
        return CompiledEngine(self.machine)

    def carry(
        self, run: BlockRun[Transaction], to: BlockRun[Transaction], writes: Mapping[Key, object]
    ) -> None:
        """Carry the tables from ``run`` (if they mirror it to its end) over to ``to``, whose
        state is ``run``'s with its pending writes and then ``writes``."""
        tables = self.tables
        if run is not self._run or tables is None or self._included != len(run.receipts):
            return
        started = perf_counter()
        for key, value in writes.items():
            tables.route(key, value)
        tables.block_rows.clear()
        self._run, self._data, self._included = to, to.data, len(to.receipts)
        self.timings.loads += perf_counter() - started

    def changed(self, run: BlockRun[Transaction], writes: Mapping[Key, object]) -> None:
        """Route ``writes``, set in ``run``'s state by someone else, into the tables if they
        mirror ``run`` (otherwise the next batch loads them, with these writes)."""
        tables = self.tables
        if run is self._run and tables is not None:
            for key, value in writes.items():
                tables.route(key, value)

    def _on_commit(self, writes: Mapping[Key, object]) -> None:
        self._handled = None
        run, data = self._run, self._data
        if run is not None and writes is run.pending:
            return
        behind = self._behind + len(writes)
        if run is None and self._trusted and data is not None and behind <= CATCH_UP * len(data):
            self._missed.append(dict(writes))  # routed at the next block (``_tables_for``)
            self._behind = behind
        else:
            self._trusted = False

    # --- keeping the tables in step ------------------------------------------------------------

    def _handlers_only(self, run: BlockRun[Transaction], batch: list[Transaction]) -> bool:
        """Whether ``batch`` runs on the reference handlers alone, the tables left as they
        are: none of it is for the kernels, and the tables follow nothing of ``run`` yet.
        Its writes reach the tables when ``run`` reaches a batch for the kernels
        (``_tables_for``), or, once committed, with what others committed (``_on_commit``):
        a block of oracle updates, as the parallel executor's coordinator runs between
        blocks that its workers ran, costs the tables nothing."""
        if self._run is run or (run is not self._handled and (run.receipts or run.pending)):
            return False
        return not any(isinstance(tx, KERNEL_TYPES) for tx in batch)

    def _tables_for(self, run: BlockRun[Transaction]) -> Tables:
        tables = self.tables
        handled = run is self._handled
        fresh_block = (
            self._run is None and self._trusted and (handled or not (run.receipts or run.pending))
        )
        same_run = self._run is run and self._included == len(run.receipts)
        if tables is not None and self._data is run.data and (fresh_block or same_run):
            if fresh_block and self._missed:
                self._catch_up(tables)
            if fresh_block and handled:
                self._handled = None
                self._missed = [run.pending]
                self._note(run, run.pending)
                self._catch_up(tables)
            return tables
        started = perf_counter()
        tables = self.tables = Tables(self.machine.margin_model)
        self.loads += 1
        tables.load(run.data)
        for key, value in run.pending.items():
            tables.route(key, value)
        self._note(run, run.pending)
        self._data, self._trusted = run.data, False
        self._missed, self._behind = [], 0
        self.timings.loads += perf_counter() - started
        return tables

    def _note(self, run: BlockRun[Transaction], keys: Iterable[Key]) -> None:
        """Note ``keys`` as written in ``run`` by something other than a flush."""
        noted_run, noted = self._noted
        if noted_run is not run:
            noted = []
            self._noted = (run, noted)
        noted += keys

    def _catch_up(self, tables: Tables) -> None:
        """Route what others committed to the state since the engine's last block."""
        started = perf_counter()
        for writes in self._missed:
            for key, value in writes.items():
                tables.route(key, value)
        self._missed, self._behind = [], 0
        self.timings.loads += perf_counter() - started

    def _flush(
        self, run: BlockRun[Transaction], tables: Tables, accounts: list[int] | None = None
    ) -> None:
        self._holding = accounts is not None
        if accounts == []:
            return  # every touched row stays in the tables' lists for a later flush
        started = perf_counter()
        tables.flush(run.pending, run.data, accounts)
        self.timings.flush += perf_counter() - started

    def _run_reference(self, run: BlockRun[Transaction], tables: Tables, tx: Transaction) -> None:
        self._flush(run, tables)
        access = run.access(tx)
        started = perf_counter()
        receipt, view = run.attempt(tx, len(run.receipts), access)
        run.include(tx, receipt, view, access)
        pending = run.pending
        written = [*view.writes, *view.deltas]
        for key in written:
            tables.route(key, pending.get(key))
        self._note(run, written)
        self.timings.reference += perf_counter() - started

    # --- the kernels ---------------------------------------------------------------------------

    def _run_kernels(
        self, run: BlockRun[Transaction], tables: Tables, txs: list[Transaction]
    ) -> int:
        """Run ``txs`` through the kernels until one falls back; include what ran and
        return how many."""
        started = perf_counter()
        columns = columns_of(tables, txs)
        claimed = (columns[:, X_KIND] == K_PLACE) & (columns[:, X_ORDER] >= 0)
        tables.clear_orders(
            columns[claimed, X_ORDER], columns[claimed, X_SENDER], columns[claimed, X_ORDER_NONCE]
        )
        results = np.zeros((len(txs), R_FIELDS), dtype=np.int64)
        log = np.empty((4, 2 * len(txs) + 8), dtype=np.int64)
        count = np.zeros(4, dtype=np.int64)
        ctx = run.ctx
        glued = perf_counter()
        done = run_orders(
            columns, results, 0,
            tables.accounts, tables.account_positions, tables.positions, tables.orders,
            tables.instruments, tables.house, ctx.height, ctx.time, log, count,
        )  # fmt: skip
        ran = perf_counter()
        tables.touched_accounts.extend(log[0, : count[0]].tolist())
        tables.touched_positions.extend(log[1, : count[1]].tolist())
        tables.touched_orders.extend(log[2, : count[2]].tolist())
        tables.touched_instruments.extend(log[3, : count[3]].tolist())
        receipts_started = perf_counter()
        run.receipts += receipts_of(tables, txs[:done], columns, results, len(run.receipts))
        run.txs += txs[:done]
        receipts_done = perf_counter()
        _free_unplaced(tables, columns, claimed)
        timings = self.timings
        timings.glue += (glued - started) + (receipts_started - ran)
        timings.glue += perf_counter() - receipts_done
        timings.kernels += ran - glued
        timings.receipts += receipts_done - receipts_started
        timings.kernel_txs += int(done)
        timings.kernel_calls += 1
        return int(done)


_ACCOUNT: Final = account_lock("")[0]


def _flushed_last(tables: Tables, key: Key) -> bool | None:
    """Whether a flush of ``tables`` wrote ``key`` last in the block (``BlockRows``'s marks;
    a write routed into the tables clears them); None for an order (not looked up)."""
    try:
        parsed = parse_key(key)
    except UnknownKey:
        return False
    block = tables.block_rows
    if isinstance(parsed, AccountField):
        row = tables.account_row.get(parsed.account, len(block.accounts))
        bit = FIELD_BITS.get(parsed.field, 0)
        return row < len(block.accounts) and bool(block.accounts[row] & bit)
    if isinstance(parsed, PositionKey):
        account = tables.account_row.get(parsed.account, -1)
        instrument = tables.instrument_row.get(parsed.instrument, -1)
        return tables.position_row.get((account, instrument), -1) in block.positions
    if isinstance(parsed, CounterKey | HouseKey):
        return key in block.counters
    return None if isinstance(parsed, OrderKey) else False


def _account_rows(tables: Tables, locks: Collection[Lock] | None) -> list[int] | None:
    """The account rows of ``locks``; None (every row) if one of them is not an
    account's lock."""
    if locks is None:
        return None
    rows = []
    account_row = tables.account_row
    for kind, name in locks:
        if kind != _ACCOUNT:
            return None
        row = account_row.get(name)
        if row is not None:
            rows.append(row)
    return rows


def _free_unplaced(tables: Tables, columns: np.ndarray, claimed: np.ndarray) -> None:
    """Give back the order rows of placements (``claimed``: the columns' rows that got a
    new order row) that did not open an order."""
    orders = tables.orders
    rows = columns[claimed, X_ORDER]
    rows = rows[(orders[rows, O_LIVE] == 0) & (orders[rows, O_TOUCH] == 0)]
    tables.free_order_rows(
        rows.tolist(), orders[rows, O_ACCT].tolist(), orders[rows, O_NONCE].tolist()
    )
