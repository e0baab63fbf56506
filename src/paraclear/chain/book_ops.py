"""Between the state's orders and the books: what the builder sends the books for a
block, and what it makes of their answers.

- ``defer_same_block_edits`` keeps each order to one meeting with its book a block.
- ``book_ops`` turns a successful ``PlaceOrder``, ``CancelOrder`` or ``AmendOrder`` into
  the book operations (``BookOp``) that mirror it; ``fill_settles`` turns the books' fills
  into ``SettleFill`` transactions, in the order their takers' operations have in the block.
- ``book_opens`` finds the orders whose open sizes the book and the state no longer agree
  on, and ``reconcile`` gives each the ``CloseOrder`` (and, where the book holds more than
  the state, the book cancel) that brings the two together again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from paraclear.chain.dry_run import DryRun
from paraclear.chain.lookups import order_id, parse_order_id
from paraclear.clearing.events import CloseReason
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    OrderType,
    PlaceOrder,
    SettleFill,
    Side,
    Transaction,
)
from paraclear.execution import Receipt
from paraclear.market import (
    CANCEL,
    NEVER,
    PLACE,
    BookResult,
    Op,
    OrderId,
    OrderKind,
    amend_op,
    cancel_op,
    place_op,
)

_KINDS: Final = {
    OrderType.LIMIT: OrderKind.LIMIT,
    OrderType.MARKET: OrderKind.IOC,  # a market order is bounded by its protection price
    OrderType.IOC: OrderKind.IOC,
    OrderType.FOK: OrderKind.FOK,
    OrderType.POST_ONLY: OrderKind.POST_ONLY,
}


@dataclass
class BookOp:
    """One operation of the block for one book."""

    book: str
    first: bool
    """Cancels and amends go before placements in their book."""
    index: int
    """Position of the transaction in the block."""
    row: Op


def defer_same_block_edits(
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


def book_ops(tx: Transaction, run: DryRun, index: int, before: OpenOrder | None) -> list[BookOp]:
    """The book operations of a successful order transaction (none for other kinds), the
    ``index``-th of the block; ``before`` is an amended order as it was before the amend.

    An amend that moves the price or grows the size leaves the book with the block's
    cancels and re-enters it with its placements (where it may take), so that every
    cancel and amend of a block reaches the book before any fill, as in the state. One
    that only shrinks in place keeps its priority and cannot take.
    """
    if isinstance(tx, PlaceOrder):
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
        return [BookOp(tx.instrument, False, index, row)]
    if isinstance(tx, CancelOrder):
        row = cancel_op(order_id(tx.sender, tx.order), tx.sender)
        return [BookOp(tx.instrument, True, index, row)]
    if isinstance(tx, AmendOrder):
        assert before is not None  # the amend succeeded
        return _amend_ops(tx, run, index, before)
    return []


def _amend_ops(tx: AmendOrder, run: DryRun, index: int, before: OpenOrder) -> list[BookOp]:
    """``book_ops`` of a successful amend: one in place, or a cancel and a placement."""
    order = run.order(tx.sender, tx.order)
    assert order is not None  # the amend succeeded
    oid = order_id(tx.sender, tx.order)
    position = run.position(tx.sender, order.instrument) if order.reduce_only else 0
    if tx.price == before.price and tx.size <= before.remaining:
        row = amend_op(oid, tx.sender, tx.price, tx.size, position)
        if order.reduce_only:  # the book caps it: have its open size reported
            row = (*row[:7], True, *row[8:])
        return [BookOp(order.instrument, True, index, row)]
    kind = OrderKind.POST_ONLY if order.kind == OrderType.POST_ONLY.value else OrderKind.LIMIT
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
        BookOp(order.instrument, True, index, cancel_op(oid, tx.sender)),
        BookOp(order.instrument, False, index, again),
    ]


def fill_settles(
    ops: Sequence[BookOp], results: Mapping[str, BookResult], operator: str
) -> list[SettleFill]:
    """The ``SettleFill`` of every fill in ``results``, signed by ``operator``, in the order
    its taker's operation has in the block (cancels and amends first, as the books met them;
    a taker's fills in the order its book made them)."""
    position_in_block = {
        op.row[1]: (0 if op.first else 1, op.index) for op in ops if op.row[0] != CANCEL
    }
    fills = [
        (position_in_block[fill[0]], name, n, fill)
        for name, result in results.items()
        for n, fill in enumerate(result.fills)
    ]
    fills.sort(key=lambda item: item[:3])
    return [
        SettleFill(
            sender=operator,
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


def unfilled_sizes(unsettled: Sequence[tuple[SettleFill, Receipt]]) -> dict[str, int]:
    """Size of the matches whose settlement failed, by order id (the book gave it up)."""
    unfilled: dict[str, int] = {}
    for settle, _ in unsettled:
        for oid in (
            order_id(settle.taker, settle.taker_order),
            order_id(settle.maker, settle.maker_order),
        ):
            unfilled[oid] = unfilled.get(oid, 0) + settle.size
    return unfilled


_RESTING_KINDS: Final = frozenset((int(OrderKind.LIMIT), int(OrderKind.POST_ONLY)))


Opens = tuple[str, str, int, int, int, bool]
"""An order's id, account and nonce, its open size in the book and in the state, and
whether an operation on it was refused."""


def book_opens(
    rows: Sequence[Op], result: BookResult, run: DryRun, unfilled: Mapping[str, int]
) -> list[Opens]:
    """The ``Opens`` of the orders the block's operations named or filled whose open sizes
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


def reconcile(
    operator: str, book: str, opens: Opens, closed: Mapping[OrderId, CloseReason]
) -> tuple[CloseOrder | None, Op | None]:
    """What brings the state's open size of an order down to the book's, or closes both:
    the ``CloseOrder`` the state needs (signed by ``operator``; each order needs at most
    one, so none of them changes what the others read) and the cancel the book needs."""
    oid, account, nonce, book_open, state_open, refused = opens
    if book_open < state_open and not refused:
        reason = closed.get(oid) or (
            CloseReason.UNFILLED if book_open == 0 else CloseReason.REDUCED
        )
        return _close(operator, account, book, nonce, book_open, reason), None
    # The book holds what the state does not, or refused an amend the state accepted.
    close = _close(operator, account, book, nonce, 0, CloseReason.REFUSED) if state_open else None
    return close, cancel_op(oid, account) if book_open else None


def _close(
    operator: str, account: str, book: str, nonce: int, remaining: int, reason: CloseReason
) -> CloseOrder:
    return CloseOrder(
        sender=operator,
        nonce=0,
        account=account,
        instrument=book,
        order=nonce,
        remaining=remaining,
        reason=reason,
    )
