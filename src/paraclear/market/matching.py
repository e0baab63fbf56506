"""Matching the books of a block: operations in a compact columnar form, one book after
another or in parallel worker processes, with the same result.

An operation is a row of ten fields, whatever its kind (unused fields are 0):

``(what, order_id, account, is_buy, kind, price, size, reduce_only, position, good_til)``

``what`` is PLACE, CANCEL (reads ``order_id``, ``account``) or AMEND (also ``price``,
``size``, ``position``); ``place_op``, ``cancel_op`` and ``amend_op`` build rows. A block's
operations on one book travel as ``Columns``: ten lists, one per field. Lists of ints and
short strings are what msgpack encodes and decodes fastest (no container per operation),
so blocks reach the workers as bytes, never as pickled objects, and results come back the
same way (as rows, which a typed decoder turns straight into tuples).

Books are independent, so each book's result depends only on its own operations. The
serial matcher applies the books of a block one after another in name order; the parallel
matcher keeps each book in one of several processes (the caller and persistent workers,
assigned round-robin as books are added), sends each worker its books' operations of the
block in one message, matches the caller's share meanwhile, and merges the replies. Both
return equal ``BookResult``s. A block may hold each book's columns already encoded
(``encode_columns``, as operations arrive from the network): a worker's share is then
forwarded as bytes and decoded only where its book lives.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any, Final, NamedTuple

import msgspec

from paraclear.market.book import NEVER, Fill, OrderBook, OrderId, OrderKind
from paraclear.market.errors import MarketError

PLACE: Final = 0
CANCEL: Final = 1
AMEND: Final = 2
FIELDS: Final = 10
GOOD_TIL: Final = 9
"""The field of an operation that holds its ``good_til``."""

Op = tuple[Any, ...]
"""One operation: a row of ``FIELDS`` fields; see the module docstring."""
Columns = list[list[Any]]
"""The operations of one book in one block, one list per field."""


def place_op(
    order_id: OrderId,
    account: str,
    is_buy: bool,
    kind: OrderKind,
    price: int,
    size: int,
    reduce_only: bool = False,
    position: int = 0,
    good_til: int = NEVER,
) -> Op:
    return (
        PLACE,
        order_id,
        account,
        is_buy,
        int(kind),
        price,
        size,
        reduce_only,
        position,
        good_til,
    )


def cancel_op(order_id: OrderId, account: str) -> Op:
    return (CANCEL, order_id, account, False, 0, 0, 0, False, 0, 0)


def amend_op(order_id: OrderId, account: str, price: int, size: int, position: int = 0) -> Op:
    return (AMEND, order_id, account, False, 0, price, size, False, position, 0)


def to_columns(ops: Sequence[Op]) -> Columns:
    """Rows to ``Columns``."""
    return _columns(ops, FIELDS)


class BookSpec(NamedTuple):
    """What a book needs to be opened: tick and lot (raw units) and the open-order limit."""

    tick: int
    lot: int
    max_open_orders: int = 1_000


DEPTH: Final = 20
"""Levels per side a block's result reports of its book."""


class BookResult(NamedTuple):
    """What one book produced in one block."""

    fills: list[Fill]
    errors: list[tuple[int, str]]
    """(index of the refused operation in the block's operations, error code)."""
    closed: list[tuple[OrderId, str]]
    """Resting orders the book removed itself (self-trade prevention, expiry)."""
    open_ids: Sequence[OrderId] = ()
    """The orders whose open size a caller cannot work out from the operations and fills:
    those of refused operations, and reduce-only orders placed or amended (an operation row
    with its ``reduce_only`` set), which the book caps by the position ..."""
    open_sizes: Sequence[int] = ()
    """... and their sizes left open in the book, in the same order. Two flat lists rather
    than pairs: a worker's reply decodes without a tuple per order."""
    bids: Sequence[tuple[int, int]] = ()
    """The book's best ``DEPTH`` bid levels after the block: (price, open size)."""
    asks: Sequence[tuple[int, int]] = ()


def apply_ops(book: OrderBook, height: int, ops: Iterable[Op]) -> BookResult:
    """Begin block ``height`` on ``book`` and apply the rows ``ops`` in order.

    The garbage collector is paused meanwhile: a book makes no reference cycles, and
    collections triggered by its many small allocations would cost more than the matching.
    """
    with paused_gc():
        return _apply(book, height, ops)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (if on) for the duration of a block's matching."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _apply(book: OrderBook, height: int, ops: Iterable[Op]) -> BookResult:
    book.begin_block(height)
    place, cancel, amend = book.place, book.cancel, book.amend
    refused: list[tuple[int, str]] = []
    reported: list[OrderId] = []
    for index, (
        what,
        oid,
        account,
        is_buy,
        kind,
        price,
        size,
        reduce_only,
        position,
        good_til,
    ) in enumerate(ops):
        try:
            if what == PLACE:
                place(oid, account, is_buy, kind, price, size, reduce_only, position, good_til)
            elif what == CANCEL:
                cancel(oid, account)
            else:
                amend(oid, account, price, size, position)
            if reduce_only:
                reported.append(oid)
        except MarketError as error:
            refused.append((index, error.code))
            reported.append(oid)
    open_size = book.open_size
    result = BookResult(
        list(book.fills),
        refused,
        list(book.closed),
        reported,
        [open_size(oid) for oid in reported],
        book.depth(True, DEPTH),
        book.depth(False, DEPTH),
    )
    book.fills.clear()
    book.closed.clear()
    return result


def apply_columns(book: OrderBook, height: int, columns: Columns) -> BookResult:
    """``apply_ops`` on operations given as ``Columns``."""
    return apply_ops(book, height, zip(*columns, strict=True))


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder()
_Reply = dict[
    str,
    tuple[
        list[tuple[int | str, int | str, str, str, bool, int, int]],
        list[tuple[int, str]],
        list[tuple[int | str, str]],
        list[int | str],
        list[int],
        list[tuple[int, int]],
        list[tuple[int, int]],
    ],
]
_reply_decoder: Final = msgspec.msgpack.Decoder(_Reply)
"""Decodes a worker's reply straight into the tuples ``apply_ops`` returns."""

Block = Mapping[str, Columns | bytes]
"""A block's operations by book name: ``Columns``, or ``Columns`` encoded by
``encode_columns`` (as they arrive from the network; decoded where the book lives)."""


def encode_columns(columns: Columns) -> bytes:
    return _encoder.encode(columns)


def _decoded(ops: Columns | bytes) -> Columns:
    if isinstance(ops, bytes):
        columns: Columns = _decoder.decode(ops)
        return columns
    return ops


class SerialMatcher:
    """All books in this process, matched one after another: the reference for parallel."""

    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}

    def add_book(self, name: str, spec: BookSpec) -> None:
        self.books[name] = OrderBook(spec.tick, spec.lot, spec.max_open_orders)

    def match(self, height: int, block: Block) -> dict[str, BookResult]:
        """Results of every book that has operations in block ``height``, by name."""
        books = self.books
        with paused_gc():
            return {
                name: apply_columns(books[name], height, _decoded(block[name]))
                for name in sorted(block)
            }

    def close(self) -> None:
        pass


class ParallelMatcher:
    """Books spread over ``processes`` processes: the caller and ``processes - 1`` persistent
    workers. Same results as ``SerialMatcher``.

    Books are assigned round-robin as they are added, the first to the caller. ``match``
    sends each worker its books' operations in one message, matches the caller's books while
    the workers run, then merges the replies. Use as a context manager (or call ``close``)
    so the workers exit.
    """

    def __init__(self, processes: int = 2) -> None:
        if processes < 1:
            raise ValueError("need at least one process")
        context = multiprocessing.get_context("fork")
        self._local = SerialMatcher()
        self._pipes: list[Connection] = []
        self._processes = []
        for _ in range(processes - 1):
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child,), daemon=True)
            process.start()
            child.close()
            self._pipes.append(parent)
            self._processes.append(process)
        self._owner: dict[str, int] = {}
        """Book name -> 0 for the caller, w + 1 for worker w."""

    def add_book(self, name: str, spec: BookSpec) -> None:
        slot = len(self._owner) % (len(self._pipes) + 1)
        self._owner[name] = slot
        if slot == 0:
            self._local.add_book(name, spec)
        else:
            self._pipes[slot - 1].send_bytes(_encoder.encode(("open", name, *spec)))

    def match(self, height: int, block: Block) -> dict[str, BookResult]:
        """Results of every book that has operations in block ``height``, by name."""
        batches: list[dict[str, Columns | bytes]] = [{} for _ in range(len(self._pipes) + 1)]
        for name in sorted(block):
            batches[self._owner[name]][name] = block[name]
        with paused_gc():
            return self._match(height, batches)

    def _match(
        self, height: int, batches: list[dict[str, Columns | bytes]]
    ) -> dict[str, BookResult]:
        """Send the workers their shares, match the caller's, merge the workers' replies."""
        busy = [w for w, batch in enumerate(batches[1:]) if batch]
        for w in busy:
            self._pipes[w].send_bytes(_encoder.encode(("match", height, batches[w + 1])))
        merged = self._local.match(height, batches[0])
        for w in busy:
            reply = _reply_decoder.decode(self._pipes[w].recv_bytes())
            for name, fields in reply.items():
                merged[name] = BookResult(*fields)
        return {name: merged[name] for name in sorted(merged)}

    def close(self) -> None:
        for pipe in self._pipes:
            pipe.send_bytes(_encoder.encode(("stop",)))
            pipe.close()
        for process in self._processes:
            process.join(timeout=5)
        self._pipes = []

    def __enter__(self) -> ParallelMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _worker(pipe: Connection) -> None:
    """A worker's loop: open books, match blocks of operations, reply in msgpack.

    The worker starts its own session: where the kernel groups processes by session for
    fair scheduling (Linux autogroup), a worker left in its caller's session would share
    the caller's CPU share instead of running beside it.
    """
    os.setsid()
    books: dict[str, OrderBook] = {}
    while True:
        message = _decoder.decode(pipe.recv_bytes())
        if message[0] == "stop":
            return
        if message[0] == "open":
            _, name, tick, lot, max_open = message
            books[name] = OrderBook(tick, lot, max_open)
            continue
        _, height, batch = message
        with paused_gc():
            reply = {
                name: apply_columns(books[name], height, _decoded(ops))
                for name, ops in batch.items()
            }
            pipe.send_bytes(_encoder.encode(reply))


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows of ``width`` fields to one list per field."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
