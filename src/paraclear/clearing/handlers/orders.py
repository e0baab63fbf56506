"""Orders as transactions: PlaceOrder, CancelOrder, AmendOrder from traders; SettleFill and
CloseOrder from the block producer, which matches the block's orders in the books.

An open order lives under its account's lock (``keys.order``), with the account's sorted
index of open orders and the total it reserves, so every order transaction names one
account (a fill names two) and reads the market. Placing an order reserves the initial
margin it could need once filled: the standalone initial margin of the position it would
open, the premium or price it would pay beyond the mark, and the most fee it could owe. The
reservation counts against the account's free margin in every later margin check (orders,
trades, withdrawals) and is released in proportion as the order fills, the rest when it
closes. A fill therefore needs no margin check of its own: at the marks its order was placed
at, what it costs was already set aside. Requirements are subadditive, so the margin of the
portfolio after the fill is at most that of the portfolio before plus the order's own.
"""

from __future__ import annotations

from bisect import insort
from typing import Final

from paraclear.clearing import errors
from paraclear.clearing.accounts import (
    change_cash,
    fill,
    read_config,
    read_mark,
    require_initial_margin,
)
from paraclear.clearing.events import (
    CloseReason,
    Event,
    OrderAmended,
    OrderClosed,
    OrderFilled,
    OrderPlaced,
)
from paraclear.clearing.handlers.common import MARKET_READS, account_access
from paraclear.clearing.handlers.market import require_role
from paraclear.clearing.handlers.trading import check_steps, fill_fees, tradable_instrument
from paraclear.clearing.instruments import Instrument
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import OpenOrder, Position
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    OrderType,
    PlaceOrder,
    SettleFill,
    Side,
)
from paraclear.execution import BlockContext
from paraclear.numbers import SIZE_SCALE, div_ceil, div_floor
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k

MAX_OPEN_ORDERS: Final = 200
"""Open orders one account may hold, over all instruments."""


def access_place_order(tx: PlaceOrder) -> AccessSet:
    return account_access(
        (tx.sender,), reads=MARKET_READS, deltas=(k.lock_of(k.order_count(tx.instrument)),)
    )


def apply_place_order(
    tx: PlaceOrder, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Raises UnknownInstrument, InstrumentExpired, NotMultiple, OrderExpired,
    ReduceOnlyWouldIncrease, TooManyOrders, AccountBankrupt, InsufficientMargin."""
    inst = tradable_instrument(view, tx.instrument, ctx)
    check_steps(inst, tx.price, tx.size)
    if tx.good_til and tx.good_til < ctx.height:
        raise errors.OrderExpired(good_til=tx.good_til, height=ctx.height)
    is_buy = tx.side is Side.BUY
    if tx.reduce_only:
        held = _position_size(view, tx.sender, tx.instrument)
        if held == 0 or (held > 0) == is_buy:
            raise errors.ReduceOnlyWouldIncrease(
                account=tx.sender, instrument=tx.instrument, position=held
            )
    nonces = _order_nonces(view, tx.sender)
    if len(nonces) >= MAX_OPEN_ORDERS:
        raise errors.TooManyOrders(account=tx.sender, limit=MAX_OPEN_ORDERS)
    if view.get(k.bankruptcy(tx.sender)) is not None:
        raise errors.AccountBankrupt(
            account=tx.sender, deficit=-view.get_int(k.collateral(tx.sender))
        )
    reserve = reservation(view, model, inst, tx.instrument, is_buy, tx.price, tx.size)
    require_initial_margin(view, tx.sender, model, extra=reserve)
    order = OpenOrder(
        instrument=tx.instrument,
        is_buy=is_buy,
        kind=tx.kind.value,
        price=tx.price,
        remaining=tx.size,
        filled=0,
        reserved=reserve,
        reduce_only=tx.reduce_only,
        good_til=tx.good_til,
    )
    view.set(k.order(tx.sender, tx.nonce), order)
    insort(nonces, tx.nonce)
    view.set(k.open_orders(tx.sender), tuple(nonces))
    _add_reserved(view, tx.sender, reserve)
    view.add(k.order_count(tx.instrument), 1)
    return [
        OrderPlaced(
            account=tx.sender,
            order=tx.nonce,
            instrument=tx.instrument,
            side=tx.side.value,
            kind=tx.kind.value,
            price=tx.price,
            size=tx.size,
            reserved=reserve,
        )
    ]


def access_cancel_order(tx: CancelOrder) -> AccessSet:
    return account_access((tx.sender,), deltas=(k.lock_of(k.order_count(tx.instrument)),))


def apply_cancel_order(
    tx: CancelOrder, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Raises UnknownOrder (also if the order is in another instrument)."""
    order = read_order(view, tx.sender, tx.order, tx.instrument)
    released = shrink_order(view, tx.sender, tx.order, order, 0)
    return [_closed(tx.sender, tx.order, order, CloseReason.CANCELLED, 0, released)]


def access_amend_order(tx: AmendOrder) -> AccessSet:
    return account_access((tx.sender,), reads=MARKET_READS)


def apply_amend_order(
    tx: AmendOrder, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Raises UnknownOrder, UnknownInstrument, InstrumentExpired, NotMultiple,
    InsufficientMargin (if the new reservation is larger and free margin does not cover it).
    """
    order = read_order(view, tx.sender, tx.order)
    inst = tradable_instrument(view, order.instrument, ctx)
    check_steps(inst, tx.price, tx.size)
    reserve = reservation(view, model, inst, order.instrument, order.is_buy, tx.price, tx.size)
    if reserve > order.reserved:
        require_initial_margin(view, tx.sender, model, extra=reserve - order.reserved)
    view.set(
        k.order(tx.sender, tx.order),
        _replace(order, price=tx.price, remaining=tx.size, reserved=reserve),
    )
    _add_reserved(view, tx.sender, reserve - order.reserved)
    return [
        OrderAmended(
            account=tx.sender, order=tx.order, price=tx.price, size=tx.size, reserved=reserve
        )
    ]


def access_settle_fill(tx: SettleFill) -> AccessSet:
    return account_access(
        (tx.taker, tx.maker),
        reads=MARKET_READS,
        deltas=(k.open_interest(tx.instrument), k.lock_of(k.order_count(tx.instrument))),
    )


def apply_settle_fill(
    tx: SettleFill, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Move ``size`` at ``price`` between the two orders' accounts, with the house's maker
    and taker fees, releasing each order's reservation for the filled part.

    Raises Unauthorized, UnknownOrder, FillMismatch, InstrumentExpired, NotMultiple,
    InsufficientCollateral (a fee or premium the account's cash cannot pay).
    """
    require_role(view, tx.sender, "oracle")
    inst = tradable_instrument(view, tx.instrument, ctx)
    check_steps(inst, tx.price, tx.size)
    taker = read_order(view, tx.taker, tx.taker_order)
    maker = read_order(view, tx.maker, tx.maker_order)
    _check_match(tx, taker, maker)
    cash = tx.price * tx.size // SIZE_SCALE
    maker_fee, taker_fee = fill_fees(view, read_config(view), tx.instrument, inst, tx.size, cash)
    taker_delta = tx.size if taker.is_buy else -tx.size
    for account, nonce, order, delta, fee in (
        (tx.taker, tx.taker_order, taker, taker_delta, taker_fee),
        (tx.maker, tx.maker_order, maker, -taker_delta, maker_fee),
    ):
        shrink_order(view, account, nonce, order, order.remaining - tx.size, filled=tx.size)
        if fee:
            change_cash(view, account, -fee)
            view.add(k.FEE_POOL, fee)
        fill(view, account, tx.instrument, inst, delta, cash if delta > 0 else -cash)
    return [
        OrderFilled(
            instrument=tx.instrument,
            taker=tx.taker,
            taker_order=tx.taker_order,
            maker=tx.maker,
            maker_order=tx.maker_order,
            taker_side="buy" if taker.is_buy else "sell",
            size=tx.size,
            price=tx.price,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
        )
    ]


def access_close_order(tx: CloseOrder) -> AccessSet:
    return account_access(
        (tx.account,),
        reads=(k.lock_of(k.CONFIG),),
        deltas=(k.lock_of(k.order_count(tx.instrument)),),
    )


def apply_close_order(
    tx: CloseOrder, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Raises Unauthorized, UnknownOrder, Malformed (``remaining`` not below the order's)."""
    require_role(view, tx.sender, "oracle")
    order = read_order(view, tx.account, tx.order, tx.instrument)
    if tx.remaining >= order.remaining:
        raise errors.Malformed(field="remaining", reason="must be below the order's remaining")
    released = shrink_order(view, tx.account, tx.order, order, tx.remaining)
    return [_closed(tx.account, tx.order, order, tx.reason, tx.remaining, released)]


# --- shared by the handlers and by expiry ----------------------------------------------------


def reservation(
    view: StateView,
    model: MarginModel,
    inst: Instrument,
    name: str,
    is_buy: bool,
    price: int,
    size: int,
) -> int:
    """Initial margin to hold for an order of ``size`` at ``price``: the requirement of the
    position it opens, alone; what its price pays beyond the mark; its largest fee."""
    mark = read_mark(view, name)
    signed = size if is_buy else -size
    initial = model.requirement([(Position(signed, 0, mark.funding_index), mark)]).initial
    beyond_mark = max(div_ceil((price - mark.price) * signed, SIZE_SCALE), 0)
    cash = div_ceil(price * size, SIZE_SCALE)
    maker_fee, taker_fee = fill_fees(view, read_config(view), name, inst, size, cash)
    return initial + beyond_mark + max(maker_fee, taker_fee)


def read_order(
    view: StateView, account: str, nonce: int, instrument: str | None = None
) -> OpenOrder:
    """The account's open order ``nonce`` (in ``instrument``, if given); raises UnknownOrder."""
    order = view.get(k.order(account, nonce))
    if not isinstance(order, OpenOrder) or instrument not in (None, order.instrument):
        raise errors.UnknownOrder(account=account, order=nonce)
    return order


def shrink_order(
    view: StateView, account: str, nonce: int, order: OpenOrder, remaining: int, filled: int = 0
) -> int:
    """Leave ``remaining`` of the order open (0 closes it), ``filled`` more of it filled;
    release the reservation of the rest, rounded toward releasing. Returns what it released."""
    key = k.order(account, nonce)
    if remaining:
        keep = div_floor(order.reserved * remaining, order.remaining)
        view.set(
            key,
            _replace(order, remaining=remaining, filled=order.filled + filled, reserved=keep),
        )
    else:
        keep = 0
        view.set(key, None)
        nonces = [n for n in _order_nonces(view, account) if n != nonce]
        view.set(k.open_orders(account), tuple(nonces) if nonces else None)
        view.add(k.order_count(order.instrument), -1)
    released = order.reserved - keep
    _add_reserved(view, account, -released)
    return released


def close_orders_of(
    view: StateView, account: str, instrument: str, reason: CloseReason
) -> list[Event]:
    """Close every open order of ``account`` in ``instrument`` (expiry, delisting)."""
    events: list[Event] = []
    for nonce in _order_nonces(view, account):
        order = read_order(view, account, nonce)
        if order.instrument == instrument:
            released = shrink_order(view, account, nonce, order, 0)
            events.append(_closed(account, nonce, order, reason, 0, released))
    return events


def _order_nonces(view: StateView, account: str) -> list[int]:
    nonces: list[int] = list(view.get(k.open_orders(account)) or ())  # type: ignore[call-overload]
    return nonces


def _add_reserved(view: StateView, account: str, amount: int) -> None:
    if amount:
        key = k.reserved(account)
        total = view.get_int(key) + amount
        view.set(key, total or None)


def _position_size(view: StateView, account: str, instrument: str) -> int:
    position = view.get(k.position(account, instrument))
    return position.size if isinstance(position, Position) else 0


def _check_match(tx: SettleFill, taker: OpenOrder, maker: OpenOrder) -> None:
    reason = ""
    if taker.instrument != tx.instrument or maker.instrument != tx.instrument:
        reason = "an order is in another instrument"
    elif taker.is_buy == maker.is_buy:
        reason = "both orders are on the same side"
    elif tx.size > taker.remaining or tx.size > maker.remaining:
        reason = "size exceeds an order's remaining size"
    elif tx.price != maker.price:
        reason = "a fill is at the maker's price"
    elif (tx.price > taker.price) if taker.is_buy else (tx.price < taker.price):
        reason = "the price is beyond the taker's limit"
    elif maker.kind != OrderType.LIMIT.value and maker.kind != OrderType.POST_ONLY.value:
        reason = "the maker's order cannot rest"
    if reason:
        raise errors.FillMismatch(reason=reason)


def _replace(order: OpenOrder, **changes: int) -> OpenOrder:
    fields = {name: getattr(order, name) for name in order.__struct_fields__}
    fields.update(changes)
    return OpenOrder(**fields)


def _closed(
    account: str, nonce: int, order: OpenOrder, reason: CloseReason, remaining: int, released: int
) -> OrderClosed:
    return OrderClosed(
        account=account,
        order=nonce,
        instrument=order.instrument,
        reason=reason,
        remaining=remaining,
        released=released,
    )
