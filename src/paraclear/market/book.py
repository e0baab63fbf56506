"""``OrderBook``: one instrument's limit order book, price-time priority, integers only.

Layout (chosen for a few µs per operation in pure Python; see ``paraclear bench book``):

* ``_orders`` maps order id to the live order, a small list indexed by the ``_ID`` …
  ``_GOOD_TIL`` constants (a list, not an object, because creating it is three times
  cheaper and an add is the most frequent operation);
* each side maps a heap key to a level, a dict from order id to order whose insertion order
  is time priority, and keeps ``heap``, a min-heap of level keys. Asks are keyed by price,
  bids by −price, so on both sides the best level is the least key and "the taker accepts
  this level" is ``key <= limit_key``.

A level is deleted as soon as it is empty; its heap entry is removed lazily, when it
reaches the top (``_best_key``), and the heap is rebuilt when stale entries outnumber live
levels. Fills are plain tuples (see ``Fill``), the cheapest record to create.

Determinism: fills depend only on the sequence of operations. Iteration is only over
insertion-ordered dicts (time priority) and sorted keys; time comes from ``begin_block``.

Self-trade prevention (Binance's EXPIRE_MAKER): when a taker meets a resting order of its
own account, the resting order is cancelled (reported in ``closed`` as ``SELF_TRADE``) and
the taker goes on matching. Own orders therefore never count as liquidity for fill-or-kill.

Reduce-only: the caller passes the account's current position; the order's size is capped
to what would bring it to zero (rounded down to the lot) at placement and at amend. The
book holds no clearing state, so a resting reduce-only order is not re-capped when the
position changes later; settlement's margin check covers that.
"""

from __future__ import annotations

import enum
from heapq import heapify, heappop, heappush, nsmallest
from typing import Any, Final, NamedTuple

from paraclear.clearing.events import CloseReason
from paraclear.market import errors

OrderId = int | str
NEVER: Final = 2**62
"""``good_til`` of an order that rests until cancelled."""
_NO_LIMIT: Final = 2**63
"""Limit key of a market order: accepts every level."""
SELF_TRADE: Final = CloseReason.SELF_TRADE
EXPIRED: Final = CloseReason.EXPIRED

Fill = tuple[OrderId, OrderId, str, str, bool, int, int]
"""One match: (taker order, maker order, taker account, maker account, taker buys,
price, size); ``size`` raw units at the resting (maker) order's ``price``."""

# Fields of a live order (a list): id, account, side, limit price, open size, flags, expiry.
_ID, _ACCOUNT, _IS_BUY, _PRICE, _REMAINING, _POST_ONLY, _REDUCE_ONLY, _GOOD_TIL = range(8)
_Order = list[Any]
_Level = dict[OrderId, _Order]


class OrderKind(enum.IntEnum):
    """How an order meets the book."""

    LIMIT = 0
    """Takes up to its price, rests the rest (until cancelled or its good-til-block)."""
    MARKET = 1
    """Takes at any price, drops what does not fill. Its price is ignored."""
    IOC = 2
    """Immediate-or-cancel: takes up to its price, drops the rest."""
    FOK = 3
    """Fill-or-kill: fills its whole size up to its price, or fails and changes nothing."""
    POST_ONLY = 4
    """Rests only: fails with PostOnlyWouldCross if it would take on arrival."""


_K_LIMIT, _K_MARKET, _K_IOC, _K_FOK, _K_POST_ONLY = (int(kind) for kind in OrderKind)
"""The kinds as plain ints: comparing with them is several times cheaper than enum lookups."""
_RESTING_KINDS: Final = frozenset((_K_LIMIT, _K_POST_ONLY))


class RestingOrder(NamedTuple):
    """A copy of an open order, as the book's readers see it."""

    order_id: OrderId
    account: str
    is_buy: bool
    price: int
    remaining: int
    post_only: bool
    reduce_only: bool
    good_til: int


class _Side:
    __slots__ = ("heap", "levels")

    def __init__(self) -> None:
        self.levels: dict[int, _Level] = {}
        self.heap: list[int] = []


class OrderBook:
    """The limit order book of one instrument: prices in raw units that are multiples of
    ``tick``, sizes multiples of ``lot``, at most ``max_open_orders`` open per account."""

    def __init__(self, tick: int, lot: int, max_open_orders: int = 1_000, height: int = 0) -> None:
        if tick <= 0 or lot <= 0 or max_open_orders <= 0:
            raise ValueError("tick, lot and max_open_orders must be positive")
        self.tick = tick
        self.lot = lot
        self.max_open_orders = max_open_orders
        self.height = height
        """The current block; orders with ``good_til < height`` are gone."""
        self.fills: list[Fill] = []
        """Every fill, in order. The caller drains it (``book.fills.clear()``)."""
        self.closed: list[tuple[OrderId, str]] = []
        """Resting orders the book removed itself: (order id, SELF_TRADE or EXPIRED)."""
        self._bids = _Side()
        self._asks = _Side()
        self._orders: dict[OrderId, _Order] = {}
        self._open: dict[str, int] = {}
        self._expiries: dict[int, list[_Order]] = {}
        self._expiry_heap: list[int] = []

    # --- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._orders)

    def order(self, order_id: OrderId) -> RestingOrder | None:
        """The open order ``order_id``, or None."""
        order = self._orders.get(order_id)
        return RestingOrder(*order) if order is not None else None

    def open_size(self, order_id: OrderId) -> int:
        """The open size of order ``order_id`` (0 if it is not open)."""
        order = self._orders.get(order_id)
        return int(order[_REMAINING]) if order is not None else 0

    def open_orders(self, account: str) -> int:
        return self._open.get(account, 0)

    def best_bid(self) -> int | None:
        key = _best_key(self._bids)
        return None if key is None else -key

    def best_ask(self) -> int | None:
        return _best_key(self._asks)

    def resting(self, is_buy: bool) -> list[RestingOrder]:
        """The open orders of one side, best price first, then time priority."""
        levels = (self._bids if is_buy else self._asks).levels
        return [RestingOrder(*o) for key in sorted(levels) for o in levels[key].values()]

    def depth(self, is_buy: bool, top: int | None = None) -> list[tuple[int, int]]:
        """(price, total open size) per level of one side, best first; the best ``top``
        levels only, if given."""
        levels = (self._bids if is_buy else self._asks).levels
        keys = sorted(levels) if top is None else nsmallest(top, levels)
        return [(abs(key), sum(o[_REMAINING] for o in levels[key].values())) for key in keys]

    # --- operations -----------------------------------------------------------------------

    def place(
        self,
        order_id: OrderId,
        account: str,
        is_buy: bool,
        kind: OrderKind,
        price: int,
        size: int,
        reduce_only: bool = False,
        position: int = 0,
        good_til: int = NEVER,
    ) -> int:
        """Place an order; returns the size left resting (0 if none). Fills go to ``fills``.

        ``price`` is ignored for MARKET orders. ``position`` (the account's signed position)
        is read only for reduce-only orders. Raises a MarketError and changes nothing if the
        order is refused; the checks run in the order the errors are listed:
        DuplicateOrderId, InvalidSize, InvalidPrice, ExpiredOnArrival,
        ReduceOnlyWouldIncrease, TooManyOpenOrders, PostOnlyWouldCross, FillOrKillUnfilled.
        """
        if order_id in self._orders:
            raise errors.DuplicateOrderId(order_id=str(order_id))
        if size <= 0 or size % self.lot:
            raise errors.InvalidSize(size=size, lot=self.lot)
        if kind == _K_MARKET:
            limit_key = _NO_LIMIT
        elif price <= 0 or price % self.tick:
            raise errors.InvalidPrice(price=price, tick=self.tick)
        else:
            limit_key = price if is_buy else -price
        if good_til < self.height:
            raise errors.ExpiredOnArrival(good_til=good_til, height=self.height)
        if reduce_only:
            size = self._reduce_only_size(is_buy, size, position)
        rests = kind in _RESTING_KINDS
        if rests and self._open.get(account, 0) >= self.max_open_orders:
            raise errors.TooManyOpenOrders(account=account, limit=self.max_open_orders)
        opposite = self._asks if is_buy else self._bids
        heap = opposite.heap
        best = heap[0] if heap and heap[0] in opposite.levels else _best_key(opposite)
        if best is not None and best <= limit_key:
            if kind == _K_POST_ONLY:
                raise errors.PostOnlyWouldCross(price=price, best=abs(best))
            if kind == _K_FOK:
                self._check_fill_or_kill(opposite, account, limit_key, size)
            size = self._take(order_id, account, is_buy, limit_key, size, opposite)
        elif kind == _K_FOK:
            raise errors.FillOrKillUnfilled(size=size, available=0)
        if size and rests:  # _rest, inlined: adding is the most frequent operation
            order = [order_id, account, is_buy, price, size, kind == _K_POST_ONLY, reduce_only,
                     good_til]  # fmt: skip
            own = self._bids if is_buy else self._asks
            level = own.levels.get(-limit_key)  # own side's key of this price
            if level is None:
                level = _new_level(own, -limit_key)
            level[order_id] = order
            self._orders[order_id] = order
            self._open[account] = self._open.get(account, 0) + 1
            if good_til != NEVER:
                self._expire_at(order)
            return size
        return 0

    def cancel(self, order_id: OrderId, account: str) -> int:
        """Cancel an open order of ``account``; returns its open size.

        Raises UnknownOrder, NotOrderOwner.
        """
        order = self._owned(order_id, account)
        self._remove(order)
        return int(order[_REMAINING])

    def amend(
        self, order_id: OrderId, account: str, price: int, size: int, position: int = 0
    ) -> int:
        """Change an open order's price and open size; returns the size left resting.

        Shrinking at the same price keeps time priority; a larger size or another price
        re-queues the order at the back of its new level, where it may take like a new
        limit order (self-trade prevention applies). ``position`` caps reduce-only orders as
        at placement. Good-til-block and flags are kept. Raises UnknownOrder, NotOrderOwner,
        InvalidSize, InvalidPrice, ReduceOnlyWouldIncrease, PostOnlyWouldCross.
        """
        order = self._owned(order_id, account)
        if size <= 0 or size % self.lot:
            raise errors.InvalidSize(size=size, lot=self.lot)
        if price <= 0 or price % self.tick:
            raise errors.InvalidPrice(price=price, tick=self.tick)
        is_buy = order[_IS_BUY]
        if order[_REDUCE_ONLY]:
            size = self._reduce_only_size(is_buy, size, position)
        if price == order[_PRICE] and size <= order[_REMAINING]:
            order[_REMAINING] = size
            return size
        opposite = self._asks if is_buy else self._bids
        limit_key = price if is_buy else -price
        best = _best_key(opposite)
        crosses = best is not None and best <= limit_key
        if crosses and order[_POST_ONLY]:
            raise errors.PostOnlyWouldCross(price=price, best=abs(best or 0))
        self._remove(order)
        if crosses:
            size = self._take(order_id, account, is_buy, limit_key, size, opposite)
        if size:
            self._rest([order_id, account, is_buy, price, size, *order[_POST_ONLY:]])
        return size

    def begin_block(self, height: int) -> None:
        """Move to block ``height``: remove (as EXPIRED) every order with ``good_til < height``,
        earliest good-til first, then in the order they were (re)queued."""
        self.height = height
        expiry_heap = self._expiry_heap
        while expiry_heap and expiry_heap[0] < height:
            for order in self._expiries.pop(heappop(expiry_heap)):
                if self._orders.get(order[_ID]) is order:
                    self._remove(order)
                    self.closed.append((order[_ID], EXPIRED))

    # --- internals ------------------------------------------------------------------------

    def _owned(self, order_id: OrderId, account: str) -> _Order:
        order = self._orders.get(order_id)
        if order is None:
            raise errors.UnknownOrder(order_id=str(order_id))
        if order[_ACCOUNT] != account:
            raise errors.NotOrderOwner(order_id=str(order_id), account=account)
        return order

    def _reduce_only_size(self, is_buy: bool, size: int, position: int) -> int:
        reducible = -position if is_buy else position
        reducible -= reducible % self.lot
        if reducible <= 0:
            raise errors.ReduceOnlyWouldIncrease(
                position=position, side="buy" if is_buy else "sell"
            )
        return min(size, reducible)

    def _check_fill_or_kill(self, opposite: _Side, account: str, limit_key: int, size: int) -> None:
        available = 0
        for key in sorted(k for k in opposite.levels if k <= limit_key):
            for maker in opposite.levels[key].values():
                if maker[_ACCOUNT] != account:
                    available += maker[_REMAINING]
                    if available >= size:
                        return
        raise errors.FillOrKillUnfilled(size=size, available=available)

    def _take(
        self,
        order_id: OrderId,
        account: str,
        is_buy: bool,
        limit_key: int,
        size: int,
        opposite: _Side,
    ) -> int:
        """Match ``size`` against ``opposite`` up to ``limit_key``; returns what is left."""
        heap, levels = opposite.heap, opposite.levels
        orders, open_count, fills = self._orders, self._open, self.fills
        while heap:
            key = heap[0]
            level = levels.get(key)
            if level is None:  # a stale heap entry
                heappop(heap)
                continue
            if key > limit_key:
                break
            price = -key if key < 0 else key
            done = []
            for maker_id, maker in level.items():
                maker_account = maker[_ACCOUNT]
                if maker_account == account:
                    self.closed.append((maker_id, SELF_TRADE))
                else:
                    available = maker[_REMAINING]
                    if available > size:
                        maker[_REMAINING] = available - size
                        fills.append(
                            (order_id, maker_id, account, maker_account, is_buy, price, size)
                        )
                        size = 0
                        break
                    fills.append(
                        (order_id, maker_id, account, maker_account, is_buy, price, available)
                    )
                    size -= available
                done.append(maker_id)
                open_count[maker_account] -= 1
                if not size:
                    break
            for maker_id in done:
                del level[maker_id]
                del orders[maker_id]
            if level:
                break
            del levels[key]
            heappop(heap)
            if not size:
                break
        return size

    def _rest(self, order: _Order) -> None:
        price = order[_PRICE]
        if order[_IS_BUY]:
            side, key = self._bids, -price
        else:
            side, key = self._asks, price
        level = side.levels.get(key)
        if level is None:
            level = _new_level(side, key)
        order_id, account = order[_ID], order[_ACCOUNT]
        level[order_id] = order
        self._orders[order_id] = order
        self._open[account] = self._open.get(account, 0) + 1
        if order[_GOOD_TIL] != NEVER:
            self._expire_at(order)

    def _expire_at(self, order: _Order) -> None:
        good_til = order[_GOOD_TIL]
        expiring = self._expiries.get(good_til)
        if expiring is None:
            expiring = self._expiries[good_til] = []
            heappush(self._expiry_heap, good_til)
        expiring.append(order)

    def _remove(self, order: _Order) -> None:
        """Take a live order out of the book."""
        order_id = order[_ID]
        del self._orders[order_id]
        self._open[order[_ACCOUNT]] -= 1
        price = order[_PRICE]
        side, key = (self._bids, -price) if order[_IS_BUY] else (self._asks, price)
        level = side.levels[key]
        del level[order_id]
        if not level:
            del side.levels[key]


def _new_level(side: _Side, key: int) -> _Level:
    """An empty level at ``key``; rebuilds the heap when stale entries outnumber levels."""
    level: _Level = {}
    side.levels[key] = level
    heappush(side.heap, key)
    if len(side.heap) > 2 * len(side.levels) + 64:
        side.heap = list(side.levels)
        heapify(side.heap)
    return level


def _best_key(side: _Side) -> int | None:
    """The least key of a live level of ``side`` (popping stale heap entries), or None."""
    heap, levels = side.heap, side.levels
    while heap:
        key = heap[0]
        if key in levels:
            return key
        heappop(heap)
    return None
