"""Deribit's order book notifications: a snapshot, then changes that chain.

Each instrument's book carries a ``change_id``: the height of the latest block that changed
it (the node's height when the stream starts). A ``change`` message lists the levels that
block changed, each ``["new" | "change" | "delete", price, amount]`` (``delete`` with
amount 0), and its ``prev_change_id`` is the ``change_id`` of the book before it, so a
client that applies every message sees ``prev_change_id`` equal the last ``change_id`` it
applied; anything else is a gap (resubscribe for a new snapshot). A block that leaves a
book as it was publishes nothing for it.

>>> books = BookStream()
>>> books.seed("BTC-PERP", [], [], 4)
>>> books.update("BTC-PERP", [(60_000_000_000, 1_000_000)], [], 7)
4
>>> books.change("BTC-PERP", [], [], 4, 0)["bids"]
[['new', 60000.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paraclear.api import views

Level = tuple[int, int]


class BookStream:
    """The last published levels and ``change_id`` of each book."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[list[Level], list[Level], int]] = {}

    def seed(self, name: str, bids: Sequence[Level], asks: Sequence[Level], change_id: int) -> None:
        self.books[name] = (list(bids), list(asks), change_id)

    def update(
        self, name: str, bids: Sequence[Level], asks: Sequence[Level], change_id: int
    ) -> int | None:
        """Record the book after block ``change_id``; returns the previous ``change_id`` if
        the block changed it, None if not."""
        old = self.books.get(name)
        if old is not None and old[0] == list(bids) and old[1] == list(asks):
            return None
        self.books[name] = (list(bids), list(asks), change_id)
        return old[2] if old is not None else 0

    def change(
        self,
        name: str,
        old_bids: Sequence[Level],
        old_asks: Sequence[Level],
        prev_change_id: int,
        time: int,
    ) -> dict[str, Any]:
        """The ``change`` message from the given levels to the book as recorded now."""
        bids, asks, change_id = self.books[name]
        return {
            "type": "change",
            "timestamp": views.ms(time),
            "instrument_name": name,
            "change_id": change_id,
            "prev_change_id": prev_change_id,
            "bids": _changes(old_bids, bids),
            "asks": _changes(old_asks, asks),
        }

    def snapshot(self, name: str, time: int) -> dict[str, Any]:
        """The ``snapshot`` message of the book as recorded now."""
        bids, asks, change_id = self.books.get(name, ([], [], 0))
        return {
            "type": "snapshot",
            "timestamp": views.ms(time),
            "instrument_name": name,
            "change_id": change_id,
            "bids": [["new", views.price(p), views.size(s)] for p, s in bids],
            "asks": [["new", views.price(p), views.size(s)] for p, s in asks],
        }

    def grouped(self, name: str, depth: int, time: int) -> dict[str, Any]:
        """Deribit's ``book.{instrument}.none.{depth}.{interval}`` message: the best levels."""
        bids, asks, change_id = self.books.get(name, ([], [], 0))
        return {
            "timestamp": views.ms(time),
            "instrument_name": name,
            "change_id": change_id,
            "bids": [[views.price(p), views.size(s)] for p, s in bids[:depth]],
            "asks": [[views.price(p), views.size(s)] for p, s in asks[:depth]],
        }


def _changes(old: Sequence[Level], new: Sequence[Level]) -> list[list[Any]]:
    """Deribit's level changes from ``old`` to ``new`` (in ``new``'s order, then deletes)."""
    before = dict(old)
    after = dict(new)
    rows: list[list[Any]] = []
    for price, size in new:
        if price not in before:
            rows.append(["new", views.price(price), views.size(size)])
        elif before[price] != size:
            rows.append(["change", views.price(price), views.size(size)])
    for price, _ in old:
        if price not in after:
            rows.append(["delete", views.price(price), 0.0])
    return rows
