"""The block builder: turns the transactions the mempool hands over into a block in which
the orders are matched in their books and every fill is settled.

Orders are transactions (``PlaceOrder``, ``CancelOrder``, ``AmendOrder``); the books are
off-chain and the settlement on-chain, as in dYdX v4. A block is built in three parts:

1. **Orders and everything else**, in the order given (each account's nonce order kept).
   The builder dry-runs them on an overlay of the committed state, with the machine's own
   code, to learn which succeed. Only orders that succeed reach the books.
2. **Fills**: the books match the block's successful order operations (in parallel, one
   process per group of books, when given a ``ParallelMatcher``). In each book the block's
   cancels and amends go first, then its placements, in block order, so a fill never
   precedes a cancel or amend of the same block (Hyperliquid orders a block's actions the
   same way). An amend that could take (a new price, a larger size) is a cancel in the
   first part and a placement, with the order's id and flags, in the second. Each fill
   becomes a ``SettleFill``, in the order its taker's operation has in the block. A cancel
   or amend of an order that the block already placed, amended or cancelled waits for the
   next block, with its account's later transactions: each order meets the book at most
   once a block, so the book and the state see its operations in the same order.
3. **Closes**: every order the books left with less open than the state holds (an
   immediate-or-cancel remainder, a post-only order that would cross, self-trade
   prevention, good-til-block expiry, a refused operation, a fill whose settlement failed)
   gets a ``CloseOrder`` that releases the rest of its reservation.

The dry run continues through parts 2 and 3, so the builder knows the block's outcome
before the executor runs it: ``Built.writes`` is the sequential result's write set, which
the node compares with its executor's. A book that holds more than the state (an amend the
book refused after the state accepted it) is closed in both: a ``CloseOrder`` in the state,
and a cancel sent to the book in a second round after the block's operations. Books and
state agree on every open order after every block.

The batches of parts 1 and 2 let the machine's batch runner hold their writes back
(``needed=()``; the compiled engine keeps the rows it changed in its tables) until part 3's
batch writes the block's all at once: an order placed in part 1 and filled in part 2, or an
account touched in both, is written out once. The builder's reads between the parts go
through ``BlockRun.get``, which sees what the runner holds.

This module holds ``BlockBuilder``, which runs the three parts and keeps the books in step
with the committed state, and ``Built``, the block with what building it found out. The dry
run is ``chain/dry_run.py``; the translation between order transactions and book
operations (the operations, the fills' settlements, the closes) is ``chain/book_ops.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Protocol

from paraclear.chain.book_ops import (
    BookOp,
    book_opens,
    book_ops,
    defer_same_block_edits,
    fill_settles,
    reconcile,
    unfilled_sizes,
)
from paraclear.chain.dry_run import DryRun, order_segments, run_closes
from paraclear.chain.lookups import order_id
from paraclear.clearing.events import CloseReason
from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import (
    AmendOrder,
    CloseOrder,
    PlaceOrder,
    SettleExpiry,
    SettleFill,
    Transaction,
)
from paraclear.execution import Block, BlockContext, BlockResult, Receipt
from paraclear.execution.gc import paused_gc
from paraclear.market import (
    GOOD_TIL,
    NEVER,
    PLACE,
    BookResult,
    BookSpec,
    Op,
    OrderKind,
    place_op,
    to_columns,
)
from paraclear.market.matching import Block as BookBlock
from paraclear.state import AccessSet, Key, State
from paraclear.state import keys as k
from paraclear.state.keys import OrderKey, account_of, parse_key


class Matcher(Protocol):
    """``paraclear.market.SerialMatcher`` or ``ParallelMatcher``."""

    def add_book(self, name: str, spec: BookSpec) -> None: ...

    def match(self, height: int, block: BookBlock) -> dict[str, BookResult]: ...


@dataclass
class Built:
    """A block ready to execute, and what building it found out."""

    block: Block[Transaction]
    deferred: list[Transaction]
    """Transactions that wait for the next block (in order): hand them back first."""
    run: DryRun
    """The dry run: ``block``'s transactions run over the state it was built on."""
    books: dict[str, BookResult] = field(default_factory=dict)
    """Each live book's result: fills, refusals, open sizes, depth (a book the block did not
    match: no fills, its depth as the last block that matched it left it)."""
    unsettled: list[tuple[SettleFill, Receipt]] = field(default_factory=list)
    """Matches whose settlement failed (left out of the block; both orders were reduced by
    the size). Reservations make this rare: only marks that moved since an order was placed
    can leave its account short of the fee or premium."""
    delisted: list[str] = field(default_factory=list)
    """Books the block's expiries closed: the builder matches them no more."""

    @property
    def receipts(self) -> list[Receipt]:
        """The dry run's receipts: what any executor must return for ``block``."""
        return self.run.receipts

    @property
    def writes(self) -> dict[Key, object]:
        """The dry run's write set: what any executor must commit for ``block``."""
        return self.run.pending

    @property
    def run_seconds(self) -> float:
        """Wall time the dry run spent executing transactions (matching and the rest of the
        build excluded): the sequential baseline of the block's parallel speedup."""
        return self.run.seconds

    @property
    def accesses(self) -> list[AccessSet | None]:
        """The declared access set of each transaction of the block (for its DAG metrics)."""
        return self.run.accesses

    def commit(self, state: State) -> BlockResult:
        """Commit the dry run, which executed the block sequentially already, to ``state``
        (the state the block was built on, unchanged since)."""
        return self.run.finish(state)


class BlockBuilder:
    """Builds the blocks of one chain: keeps the books (through ``matcher``) in step with
    the committed state. ``operator`` is the house's oracle account, which signs the
    settlements. Call ``build`` once per height, then execute and commit its block before
    building the next."""

    def __init__(self, machine: ClearingMachine, matcher: Matcher, operator: str) -> None:
        self.machine = machine
        self.matcher = matcher
        self.operator = operator
        self._books: dict[str, Instrument] = {}
        self._retired: set[str] = set()
        self._pending_cancels: dict[str, list[Op]] = {}
        """Book cancels that make a book give up what the state closed, matched after the
        block's own operations (a second, rare, round to the books)."""
        self._expiring: list[tuple[int, str]] = []
        """A heap of (good_til, book) of the good-til-block orders placed in the books: a
        book is matched in a block that gives it no operation when one of them expires
        (``good_til`` below the height). Orders cancelled or filled since leave their entries:
        matching a book once too often changes nothing."""
        self._quiet: dict[str, BookResult] = {}
        """What matching each book with no operation and no expiry would return: its depth
        after the last block that matched it."""

    @property
    def book_names(self) -> list[str]:
        """The books the builder matches, in name order."""
        return sorted(self._books)

    def build(self, state: State, height: int, time: int, txs: Sequence[Transaction]) -> Built:
        """The block at ``height`` on top of ``state`` (not modified) from ``txs``, with
        the garbage collector paused as the executors pause it."""
        with paused_gc():
            return self._build(state, height, time, txs)

    def _build(self, state: State, height: int, time: int, txs: Sequence[Transaction]) -> Built:
        run = DryRun(state.data, self.machine, BlockContext(height, time))
        included, deferred = defer_same_block_edits(txs)
        ops = self._run_orders(run, included)
        results, rows = self._match(height, ops)
        unsettled = run.settle_all(fill_settles(ops, results, self.operator))
        run_closes(run, self._closes(results, rows, run, unfilled_sizes(unsettled)))
        if self._pending_cancels:
            self._cancel_pending(height, results)
        delisted = self._delist()
        block = Block(height=height, time=time, txs=tuple(run.txs))
        return Built(block, deferred, run, self._every_book(results), unsettled, delisted)

    def open_book(self, name: str, state: State | None = None, run: DryRun | None = None) -> None:
        """Open the book of instrument ``name`` (listed in ``state``, or in the dry run)."""
        if name in self._books:
            return
        inst = run.instrument(name) if run is not None else None
        if inst is None and state is not None:
            listed = state.get(k.instrument(name))
            inst = listed if isinstance(listed, Option | Perpetual) else None
        if inst is None:
            raise ValueError(f"{name} is not listed")
        self._books[name] = inst
        self._quiet[name] = BookResult([], [], [], [], [], [], [])
        self.matcher.add_book(name, BookSpec(inst.tick_size, inst.lot_size))

    def reopen(self, state: State, height: int) -> dict[str, BookResult]:
        """Rest every open order in ``state`` (committed at ``height``) in its book again,
        as a limit order of its open size, by account and nonce; returns each book's result.
        Call once, on a builder with no books, before its first ``build``."""
        orders: dict[str, list[tuple[str, int, OpenOrder]]] = {}
        for key, value in state.items():
            if account_of(key) is None:
                continue
            match parse_key(key):
                case OrderKey(account, nonce):
                    assert isinstance(value, OpenOrder)
                    orders.setdefault(value.instrument, []).append((account, nonce, value))
        rows: dict[str, list[Op]] = {}
        for name in sorted(orders):
            self.open_book(name, state)
            rows[name] = [
                place_op(
                    order_id(account, nonce),
                    account,
                    order.is_buy,
                    OrderKind.LIMIT,
                    order.price,
                    order.remaining,
                    good_til=order.good_til or NEVER,
                )
                for account, nonce, order in sorted(orders[name], key=lambda o: (o[0], o[1]))
            ]
        if not rows:
            return {}
        results = self._match_rows(height, rows)
        self._every_book(results)
        return results

    # --- internals ------------------------------------------------------------------------

    def _run_orders(self, run: DryRun, txs: Sequence[Transaction]) -> list[BookOp]:
        """Part 1: run ``txs`` in ``run``, a segment a batch, opening the book of each
        successful placement; returns the book operations of the successful ones."""
        ops: list[BookOp] = []
        for segment in order_segments(txs):
            befores = [
                run.order(tx.sender, tx.order) if isinstance(tx, AmendOrder) else None
                for tx in segment
            ]
            start = len(run.txs)
            receipts = run.run_all(segment, needed=())
            for at, (tx, receipt) in enumerate(zip(segment, receipts, strict=True)):
                if not receipt.ok:
                    continue
                if isinstance(tx, PlaceOrder):
                    self.open_book(tx.instrument, run=run)
                ops += book_ops(tx, run, start + at, befores[at])
                if isinstance(tx, SettleExpiry):
                    self._retired.add(tx.instrument)
        return ops

    def _closes(
        self,
        results: Mapping[str, BookResult],
        rows: Mapping[str, list[Op]],
        run: DryRun,
        unfilled: Mapping[str, int],
    ) -> list[CloseOrder]:
        """Part 3: the ``CloseOrder`` of every order the books left with less open than the
        state holds; notes in ``_pending_cancels`` the orders a book holds more of."""
        closes: list[CloseOrder] = []
        for name, result in results.items():
            if not (rows[name] or result.fills or result.closed):
                continue  # a book the block left alone holds what the state holds
            closed = {oid: CloseReason(reason) for oid, reason in result.closed}  # from a pipe
            for opens in book_opens(rows[name], result, run, unfilled):
                close, cancel = reconcile(self.operator, name, opens, closed)
                if close is not None:
                    closes.append(close)
                if cancel is not None:
                    self._pending_cancels.setdefault(name, []).append(cancel)
        return closes

    def _cancel_pending(self, height: int, results: dict[str, BookResult]) -> None:
        """The second round to the books: send them ``_pending_cancels``; each cancelled
        book's depth in ``results`` becomes what is left after it."""
        cancelled = self.matcher.match(
            height, {name: to_columns(rows) for name, rows in self._pending_cancels.items()}
        )
        for name, after in cancelled.items():
            results[name] = results[name]._replace(bids=after.bids, asks=after.asks)
        self._pending_cancels = {}

    def _delist(self) -> list[str]:
        """Drop the books the block's expiries closed; returns their names in order."""
        delisted = sorted(self._retired)
        for name in delisted:
            self._books.pop(name, None)
            self._quiet.pop(name, None)
        self._retired.clear()
        return delisted

    def _match(
        self, height: int, ops: list[BookOp]
    ) -> tuple[dict[str, BookResult], dict[str, list[Op]]]:
        """Match the books the block's operations name and those where a good-til-block
        order expires at ``height``; every other book would return what it did last time
        (``_quiet``). Returns the results and the operations each matched book was given."""
        rows: dict[str, list[Op]] = {}
        expiring = self._expiring
        while expiring and expiring[0][0] < height:
            name = heappop(expiring)[1]
            if name in self._books:
                rows[name] = []
        for first in (True, False):
            for op in ops:
                if op.first is first:
                    rows.setdefault(op.book, []).append(op.row)
        return self._match_rows(height, rows), rows

    def _match_rows(self, height: int, rows: Mapping[str, list[Op]]) -> dict[str, BookResult]:
        """Match ``rows`` in their books, noting where each good-til-block placement goes."""
        for name, book_rows in rows.items():
            for row in book_rows:
                if row[0] == PLACE and row[GOOD_TIL] != NEVER:
                    heappush(self._expiring, (row[GOOD_TIL], name))
        return self.matcher.match(height, {name: to_columns(r) for name, r in rows.items()})

    def _every_book(self, matched: Mapping[str, BookResult]) -> dict[str, BookResult]:
        """The result of every live book, in name order: ``matched``'s, or an unmatched
        book's ``_quiet`` one (as matching it would have returned); keeps the matched books'
        depth for the blocks that leave them alone."""
        quiet = self._quiet
        for name, result in matched.items():
            if name in quiet:
                quiet[name] = BookResult([], [], [], [], [], result.bids, result.asks)
        return {name: matched.get(name, quiet[name]) for name in sorted(self._books)}
