"""Why the book refuses an operation. Each refusal changes nothing in the book.

Every error derives from ``MarketError`` and carries typed fields (``fields`` lists their
names, in order), so a caller can turn it into a receipt or a clearing failure without
parsing a message. ``code`` is the class name.
"""

from __future__ import annotations

from typing import ClassVar


class MarketError(ValueError):
    """Base of every refusal of the order book. Construct with keywords."""

    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **details: int | str) -> None:
        unknown = set(details) - set(self.fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no fields {sorted(unknown)}")
        self.details: tuple[tuple[str, int | str], ...] = tuple(
            (name, details[name]) for name in self.fields if name in details
        )
        super().__init__(", ".join(f"{k}={v}" for k, v in self.details))

    @property
    def code(self) -> str:
        return type(self).__name__


class DuplicateOrderId(MarketError):
    """An order with this id is already open in the book."""

    fields = ("order_id",)


class UnknownOrder(MarketError):
    """No open order has this id (never placed, or already filled, cancelled or expired)."""

    fields = ("order_id",)


class NotOrderOwner(MarketError):
    """The order belongs to another account."""

    fields = ("order_id", "account")


class InvalidSize(MarketError):
    """The size is not a positive multiple of the book's lot size."""

    fields = ("size", "lot")


class InvalidPrice(MarketError):
    """The limit price is not a positive multiple of the book's tick size."""

    fields = ("price", "tick")


class ExpiredOnArrival(MarketError):
    """The order's last block (good-til-block) is before the current block."""

    fields = ("good_til", "height")


class ReduceOnlyWouldIncrease(MarketError):
    """A reduce-only order on the side that would grow (or open) the account's position."""

    fields = ("position", "side")


class TooManyOpenOrders(MarketError):
    """The account already has the book's maximum number of open orders."""

    fields = ("account", "limit")


class PostOnlyWouldCross(MarketError):
    """A post-only order would trade on arrival; ``best`` is the opposite best price."""

    fields = ("price", "best")


class FillOrKillUnfilled(MarketError):
    """A fill-or-kill order cannot fill completely; ``available`` is the size it could take."""

    fields = ("size", "available")
