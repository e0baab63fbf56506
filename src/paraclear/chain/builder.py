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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Final, Protocol

import msgspec

from paraclear.chain.lookups import order_id, parse_order_id
from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import OpenOrder, Position
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    OrderType,
    PlaceOrder,
    SettleExpiry,
    SettleFill,
    Side,
    Transaction,
)
from paraclear.execution import Block, BlockContext, BlockResult, BlockRun, Receipt
from paraclear.execution.gc import paused_gc
from paraclear.market import (
    CANCEL,
    GOOD_TIL,
    NEVER,
    PLACE,
    BookResult,
    BookSpec,
    Op,
    OrderId,
    OrderKind,
    amend_op,
    cancel_op,
    place_op,
    to_columns,
)
from paraclear.market.matching import Block as BookBlock
from paraclear.state import AccessSet, Key, State, StateView
from paraclear.state import keys as k

_KINDS: Final = {
    OrderType.LIMIT: OrderKind.LIMIT,
    OrderType.MARKET: OrderKind.IOC,  # a market order is bounded by its protection price
    OrderType.IOC: OrderKind.IOC,
    OrderType.FOK: OrderKind.FOK,
    OrderType.POST_ONLY: OrderKind.POST_ONLY,
}


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
    run: _DryRun
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


@dataclass
class _Op:
    book: str
    first: bool
    """Cancels and amends go before placements in their book."""
    index: int
    """Position of the transaction in the block."""
    row: Op


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
        ctx = BlockContext(height, time)
        run = _DryRun(state.data, self.machine, ctx)
        included, deferred = _defer_same_block_edits(txs)
        ops: list[_Op] = []
        for segment in _order_segments(included):
            befores = [
                run.order(tx.sender, tx.order) if isinstance(tx, AmendOrder) else None
                for tx in segment
            ]
            start = len(run.txs)
            receipts = run.run_all(segment, needed=())
            for at, (tx, receipt) in enumerate(zip(segment, receipts, strict=True)):
                if receipt.ok:
                    ops += self._book_ops(tx, run, start + at, befores[at])
                    if isinstance(tx, SettleExpiry):
                        self._retired.add(tx.instrument)
        results, rows = self._match(height, ops)
        unsettled: list[tuple[SettleFill, Receipt]] = []
        position_in_block = {
            op.row[1]: (0 if op.first else 1, op.index) for op in ops if op.row[0] != CANCEL
        }
        fills = [
            (position_in_block[fill[0]], name, n, fill)
            for name, result in results.items()
            for n, fill in enumerate(result.fills)
        ]
        fills.sort(key=lambda item: item[:3])
        settles = [
            SettleFill(
                sender=self.operator,
                nonce=0,
                instrument=name,
                taker=taker,
                taker_order=parse_order_id(str(taker_id))[1],
                maker=maker,
                maker_order=parse_order_id(str(maker_id))[1],
                price=price,
                size=size,
            )
            for _, name, _, (taker_id, maker_id, taker, maker, _, price, size) in fills
        ]
        unsettled = run.settle_all(settles)
        unfilled: dict[str, int] = {}
        """Size of the matches whose settlement failed, by order id (the book gave it up)."""
        for settle, _ in unsettled:
            for oid in (
                order_id(settle.taker, settle.taker_order),
                order_id(settle.maker, settle.maker_order),
            ):
                unfilled[oid] = unfilled.get(oid, 0) + settle.size
        closes: list[CloseOrder] = []
        for name, result in results.items():
            if not (rows[name] or result.fills or result.closed):
                continue  # a book the block left alone holds what the state holds
            closed: dict[OrderId, str] = dict(result.closed)
            for opens in _book_opens(rows[name], result, run, unfilled):
                self._reconcile(name, opens, closed, closes)
        _run_closes(run, closes)
        if self._pending_cancels:
            cancelled = self.matcher.match(
                height, {name: to_columns(rows) for name, rows in self._pending_cancels.items()}
            )
            for name, after in cancelled.items():
                results[name] = results[name]._replace(bids=after.bids, asks=after.asks)
            self._pending_cancels = {}
        delisted = sorted(self._retired)
        for name in delisted:
            self._books.pop(name, None)
            self._quiet.pop(name, None)
        self._retired.clear()
        block = Block(height=height, time=time, txs=tuple(run.txs))
        return Built(block, deferred, run, self._every_book(results), unsettled, delisted)

    # --- internals ------------------------------------------------------------------------

    def _book_ops(
        self, tx: Transaction, run: _DryRun, index: int, before: OpenOrder | None
    ) -> list[_Op]:
        """The book operations of a successful order transaction (none for other kinds).

        An amend that moves the price or grows the size leaves the book with the block's
        cancels and re-enters it with its placements (where it may take), so that every
        cancel and amend of a block reaches the book before any fill, as in the state. One
        that only shrinks in place keeps its priority and cannot take.
        """
        if isinstance(tx, PlaceOrder):
            self.open_book(tx.instrument, run=run)
            # the book reads a position only to cap a reduce-only order
            position = run.position(tx.sender, tx.instrument) if tx.reduce_only else 0
            row = place_op(
                order_id(tx.sender, tx.nonce),
                tx.sender,
                tx.side is Side.BUY,
                _KINDS[tx.kind],
                tx.price,
                tx.size,
                tx.reduce_only,
                position,
                tx.good_til or NEVER,
            )
            return [_Op(tx.instrument, False, index, row)]
        if isinstance(tx, CancelOrder):
            row = cancel_op(order_id(tx.sender, tx.order), tx.sender)
            return [_Op(tx.instrument, True, index, row)]
        if isinstance(tx, AmendOrder):
            order = run.order(tx.sender, tx.order)
            assert order is not None and before is not None  # the amend succeeded
            oid = order_id(tx.sender, tx.order)
            position = run.position(tx.sender, order.instrument) if order.reduce_only else 0
            if tx.price == before.price and tx.size <= before.remaining:
                row = amend_op(oid, tx.sender, tx.price, tx.size, position)
                if order.reduce_only:  # the book caps it: have its open size reported
                    row = (*row[:7], True, *row[8:])
                return [_Op(order.instrument, True, index, row)]
            kind = (
                OrderKind.POST_ONLY if order.kind == OrderType.POST_ONLY.value else OrderKind.LIMIT
            )
            again = place_op(
                oid,
                tx.sender,
                order.is_buy,
                kind,
                tx.price,
                tx.size,
                order.reduce_only,
                position,
                order.good_til or NEVER,
            )
            return [
                _Op(order.instrument, True, index, cancel_op(oid, tx.sender)),
                _Op(order.instrument, False, index, again),
            ]
        return []

    def open_book(self, name: str, state: State | None = None, run: _DryRun | None = None) -> None:
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
            if key[0] == "acct" and len(key) == 4 and key[2] == "order":
                assert isinstance(value, OpenOrder)
                orders.setdefault(value.instrument, []).append((key[1], int(key[3]), value))
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

    def _match(
        self, height: int, ops: list[_Op]
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

    def _reconcile(
        self, book: str, opens: _Opens, closed: Mapping[OrderId, str], closes: list[CloseOrder]
    ) -> None:
        """Bring the state's open size of an order down to the book's, or close both:
        add the ``CloseOrder`` it needs to ``closes`` (each order needs at most one, so
        none of them changes what the others read)."""
        oid, account, nonce, book_open, state_open, refused = opens
        if book_open < state_open and not refused:
            reason = closed.get(oid) or ("unfilled" if book_open == 0 else "reduced")
            closes.append(self._close(account, book, nonce, book_open, reason))
            return
        # The book holds what the state does not, or refused an amend the state accepted.
        if state_open:
            closes.append(self._close(account, book, nonce, 0, "refused"))
        if book_open:
            self._pending_cancels.setdefault(book, []).append(cancel_op(oid, account))

    def _close(
        self, account: str, book: str, nonce: int, remaining: int, reason: str
    ) -> CloseOrder:
        return CloseOrder(
            sender=self.operator,
            nonce=0,
            account=account,
            instrument=book,
            order=nonce,
            remaining=remaining,
            reason=reason,
        )


_RESTING_KINDS: Final = frozenset((int(OrderKind.LIMIT), int(OrderKind.POST_ONLY)))


_Opens = tuple[str, str, int, int, int, bool]
"""An order's id, account and nonce, its open size in the book and in the state, and
whether an operation on it was refused."""


def _book_opens(
    rows: Sequence[Op], result: BookResult, run: _DryRun, unfilled: Mapping[str, int]
) -> list[_Opens]:
    """The ``_Opens`` of the orders the block's operations named or filled whose open sizes
    in the book and in the state differ, or that the book refused, in the order first met.

    The book reports the sizes it alone knows (refused operations, reduce-only caps). Any
    other order is gone from the book if its last operation cancelled it, if it could not
    rest, or if the book closed it; otherwise the book holds what the state holds, less the
    matches whose settlement failed.
    """
    refused_at = {index for index, _ in result.errors}
    reported = {
        str(oid): size for oid, size in zip(result.open_ids, result.open_sizes, strict=True)
    }
    gone: dict[str, bool] = {}
    refused: set[str] = set()
    for index, row in enumerate(rows):
        oid = str(row[1])
        if index in refused_at:
            refused.add(oid)
            gone.setdefault(oid, False)
        else:
            gone[oid] = row[0] == CANCEL or (row[0] == PLACE and row[4] not in _RESTING_KINDS)
    for fill in result.fills:
        gone.setdefault(str(fill[0]), False)
        gone.setdefault(str(fill[1]), False)
    for closed_id, _ in result.closed:
        gone[str(closed_id)] = True
    opens = []
    for oid, is_gone in gone.items():
        short = unfilled.get(oid, 0)
        if not (is_gone or short or oid in reported or oid in refused):
            continue  # the book holds what the state holds: no need to read it
        account, nonce = parse_order_id(oid)
        order = run.order(account, nonce)
        state_open = order.remaining if order is not None else 0
        if oid in reported:
            book_open = reported[oid]
        elif is_gone:
            book_open = 0
        else:
            book_open = state_open - short
        if book_open != state_open or oid in refused:
            opens.append((oid, account, nonce, book_open, state_open, oid in refused))
    return opens


class _DryRun(BlockRun[Transaction]):
    """The block's transactions run over the committed state (``BlockRun``), keeping the
    ones that belong in the block, with the reads the builder needs between them."""

    def __init__(self, data: Mapping[Key, object], machine: ClearingMachine, ctx: BlockContext):
        super().__init__(data, machine, ctx)
        self.recorded: list[AccessSet | None] = []
        """The declared access set of each transaction of ``txs`` that ran one by one."""
        self.batched = machine.batch_runner is not None

    @property
    def accesses(self) -> list[AccessSet | None]:
        """The declared access set of each transaction of ``txs``; empty when some ran in
        a batch, which declares none (the block's statistics derive them then)."""
        return [] if self.batched else self.recorded

    def include(
        self, tx: Transaction, receipt: Receipt, view: StateView, access: AccessSet | None
    ) -> None:
        super().include(tx, receipt, view, access)
        self.recorded.append(access)

    def settle_all(self, settles: list[SettleFill]) -> list[tuple[SettleFill, Receipt]]:
        """Run the fills' settlements in order, keeping those that succeed (as ``try_run``
        each would: a failed settlement writes nothing, since it takes no nonce); returns
        the failed ones with their receipts (indexed where they would have gone)."""
        start = len(self.txs)
        receipts = self.run_all(settles, needed=())
        if all(receipt.ok for receipt in receipts):
            return []
        self._take_held()  # the runner follows the run no more once its receipts change
        failed: list[tuple[SettleFill, Receipt]] = []
        del self.txs[start:], self.receipts[start:]
        if not self.batched:
            del self.recorded[start:]
        for settle, receipt in zip(settles, receipts, strict=True):
            index = len(self.txs)
            if not receipt.ok:
                failed.append((settle, msgspec.structs.replace(receipt, index=index)))
                continue
            self.txs.append(settle)
            self.receipts.append(msgspec.structs.replace(receipt, index=index))
            if not self.batched:
                self.recorded.append(self.machine.access(settle))
        return failed

    def order(self, account: str, nonce: int) -> OpenOrder | None:
        order = self.get(k.order(account, nonce))
        return order if isinstance(order, OpenOrder) else None

    def position(self, account: str, instrument: str) -> int:
        position = self.get(k.position(account, instrument))
        return position.size if isinstance(position, Position) else 0

    def instrument(self, name: str) -> Instrument | None:
        inst = self.get(k.instrument(name))
        return inst if isinstance(inst, Option | Perpetual) else None


def _run_closes(run: _DryRun, closes: list[CloseOrder]) -> None:
    """Run the block's closes, in order, as one batch; each must succeed."""
    for close, receipt in zip(closes, run.run_all(closes), strict=True):
        if not receipt.ok:  # pragma: no cover - the reconciliation is wrong
            raise RuntimeError(f"close of {close.account}/{close.order} failed: {receipt.error}")


_ORDER_OPS: Final = (PlaceOrder, CancelOrder, AmendOrder)


def _order_segments(txs: Sequence[Transaction]) -> list[list[Transaction]]:
    """``txs`` in order, cut into runs of order operations (run as one batch: none of them
    moves a position or touches another's order, since each order meets the book at most
    once a block, so what the builder reads after the run is what it would read after each)
    and single other transactions."""
    segments: list[list[Transaction]] = []
    for tx in txs:
        if isinstance(tx, _ORDER_OPS) and segments and isinstance(segments[-1][-1], _ORDER_OPS):
            segments[-1].append(tx)
        else:
            segments.append([tx])
    return segments


def _defer_same_block_edits(
    txs: Sequence[Transaction],
) -> tuple[list[Transaction], list[Transaction]]:
    """Split ``txs`` into this block's and the next's: a cancel or amend of an order that
    an earlier transaction of the block placed, amended or cancelled waits, and so does
    everything its account sends after it. Each order meets the book at most once a block."""
    touched: set[tuple[str, int]] = set()
    waiting: set[str] = set()
    included: list[Transaction] = []
    deferred: list[Transaction] = []
    for tx in txs:
        sender = tx.sender
        edits = isinstance(tx, CancelOrder | AmendOrder)
        if sender in waiting or (edits and (sender, tx.order) in touched):  # type: ignore[union-attr]
            waiting.add(sender)
            deferred.append(tx)
            continue
        if isinstance(tx, PlaceOrder):
            touched.add((sender, tx.nonce))
        elif isinstance(tx, CancelOrder | AmendOrder):
            touched.add((sender, tx.order))
        included.append(tx)
    return included, deferred
