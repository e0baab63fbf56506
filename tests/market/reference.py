"""A list-scan order book that is obviously correct: the model the fast book is tested against.

Resting orders live in one list in time priority (arrival order; an amend that loses
priority moves the order to the end). Every operation scans the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from paraclear.market import NEVER, Fill, OrderId, OrderKind
from paraclear.market import errors as e
from paraclear.market.book import EXPIRED, SELF_TRADE


@dataclass
class RefOrder:
    order_id: OrderId
    account: str
    is_buy: bool
    price: int
    remaining: int
    post_only: bool
    reduce_only: bool
    good_til: int


class ReferenceBook:
    def __init__(self, tick: int, lot: int, max_open_orders: int = 1_000) -> None:
        self.tick, self.lot, self.max_open_orders = tick, lot, max_open_orders
        self.height = 0
        self.orders: list[RefOrder] = []
        self.fills: list[Fill] = []
        self.closed: list[tuple[OrderId, str]] = []

    def _find(self, order_id: OrderId) -> RefOrder | None:
        return next((o for o in self.orders if o.order_id == order_id), None)

    def _owned(self, order_id: OrderId, account: str) -> RefOrder:
        order = self._find(order_id)
        if order is None:
            raise e.UnknownOrder(order_id=str(order_id))
        if order.account != account:
            raise e.NotOrderOwner(order_id=str(order_id), account=account)
        return order

    def _reduce_only(self, is_buy: bool, size: int, position: int) -> int:
        reducible = -position if is_buy else position
        reducible = reducible // self.lot * self.lot if reducible > 0 else 0
        if reducible == 0:
            raise e.ReduceOnlyWouldIncrease(position=position, side="buy" if is_buy else "sell")
        return min(size, reducible)

    def _crossing(self, is_buy: bool, price: int | None) -> list[RefOrder]:
        """Opposite orders a taker at ``price`` (None: any) accepts, in matching order."""
        if is_buy:
            found = [o for o in self.orders if not o.is_buy and (price is None or o.price <= price)]
            return sorted(found, key=lambda o: o.price)  # stable: time order within a price
        found = [o for o in self.orders if o.is_buy and (price is None or o.price >= price)]
        return sorted(found, key=lambda o: -o.price)

    def _match(
        self, order_id: OrderId, account: str, is_buy: bool, price: int | None, size: int
    ) -> int:
        while size:
            crossing = self._crossing(is_buy, price)
            if not crossing:
                break
            maker = crossing[0]
            if maker.account == account:
                self.orders.remove(maker)
                self.closed.append((maker.order_id, SELF_TRADE))
                continue
            quantity = min(size, maker.remaining)
            fill: Fill = (
                order_id,
                maker.order_id,
                account,
                maker.account,
                is_buy,
                maker.price,
                quantity,
            )
            self.fills.append(fill)
            size -= quantity
            maker.remaining -= quantity
            if maker.remaining == 0:
                self.orders.remove(maker)
        return size

    def place(
        self,
        order_id: OrderId,
        account: str,
        is_buy: bool,
        kind: OrderKind,
        price: int,
        size: int,
        *,
        reduce_only: bool = False,
        position: int = 0,
        good_til: int = NEVER,
    ) -> int:
        if self._find(order_id) is not None:
            raise e.DuplicateOrderId(order_id=str(order_id))
        if size <= 0 or size % self.lot:
            raise e.InvalidSize(size=size, lot=self.lot)
        if kind != OrderKind.MARKET and (price <= 0 or price % self.tick):
            raise e.InvalidPrice(price=price, tick=self.tick)
        if good_til < self.height:
            raise e.ExpiredOnArrival(good_til=good_til, height=self.height)
        if reduce_only:
            size = self._reduce_only(is_buy, size, position)
        rests = kind in (OrderKind.LIMIT, OrderKind.POST_ONLY)
        mine = sum(1 for o in self.orders if o.account == account)
        if rests and mine >= self.max_open_orders:
            raise e.TooManyOpenOrders(account=account, limit=self.max_open_orders)
        limit = None if kind == OrderKind.MARKET else price
        crossing = self._crossing(is_buy, limit)
        if kind == OrderKind.POST_ONLY and crossing:
            raise e.PostOnlyWouldCross(price=price, best=crossing[0].price)
        if kind == OrderKind.FOK:
            available = sum(o.remaining for o in crossing if o.account != account)
            if available < size:
                raise e.FillOrKillUnfilled(size=size, available=available)
        size = self._match(order_id, account, is_buy, limit, size)
        if size and rests:
            self.orders.append(
                RefOrder(
                    order_id,
                    account,
                    is_buy,
                    price,
                    size,
                    kind == OrderKind.POST_ONLY,
                    reduce_only,
                    good_til,
                )
            )
            return size
        return 0

    def cancel(self, order_id: OrderId, account: str) -> int:
        order = self._owned(order_id, account)
        self.orders.remove(order)
        return order.remaining

    def amend(
        self, order_id: OrderId, account: str, price: int, size: int, *, position: int = 0
    ) -> int:
        order = self._owned(order_id, account)
        if size <= 0 or size % self.lot:
            raise e.InvalidSize(size=size, lot=self.lot)
        if price <= 0 or price % self.tick:
            raise e.InvalidPrice(price=price, tick=self.tick)
        if order.reduce_only:
            size = self._reduce_only(order.is_buy, size, position)
        if price == order.price and size <= order.remaining:
            order.remaining = size
            return size
        crossing = self._crossing(order.is_buy, price)
        if crossing and order.post_only:
            raise e.PostOnlyWouldCross(price=price, best=crossing[0].price)
        self.orders.remove(order)
        size = self._match(order_id, account, order.is_buy, price, size)
        if size:
            order.price, order.remaining = price, size
            self.orders.append(order)
        return size

    def begin_block(self, height: int) -> None:
        self.height = height
        expired = [o for o in self.orders if o.good_til < height]
        for order in sorted(expired, key=lambda o: o.good_til):  # stable: time order
            self.orders.remove(order)
            self.closed.append((order.order_id, EXPIRED))

    def resting(self, is_buy: bool) -> list[RefOrder]:
        return self._crossing(not is_buy, None)
