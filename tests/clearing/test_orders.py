"""Order transactions: reservations, every error, fills and closes by the producer, expiry."""

from __future__ import annotations

import msgspec
import pytest

from paraclear.clearing.errors import Rejected
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    OrderType,
    PlaceOrder,
    SettleExpiry,
    SettleFill,
    Side,
    Withdraw,
    decode_transaction,
    validate,
)
from paraclear.state import keys as k
from tests.clearing.harness import CALL, EXPIRY, ONE, PERP, PUT, Exchange, usd


def _ex() -> Exchange:
    return Exchange().market(index=60_000).fund(alice=100_000, bob=100_000, poor=50)


def _place(ex: Exchange, who: str, side: Side = Side.BUY, **fields: object) -> int:
    nonce = ex.nonces[who]
    fields = {"instrument": PERP.name, "price": usd(60_000), "size": ONE, **fields}
    ex.ok(PlaceOrder, who, side=side, **fields)
    return nonce


def _order(ex: Exchange, who: str, nonce: int) -> OpenOrder:
    order = ex.get(k.order(who, nonce))
    assert isinstance(order, OpenOrder)
    return order


def test_placing_reserves_margin_that_withdrawals_cannot_take() -> None:
    ex = _ex()
    nonce = _place(ex, "alice", size=10 * ONE)
    order = _order(ex, "alice", nonce)
    assert order.remaining == 10 * ONE and order.reserved > 0
    assert ex.get(k.reserved("alice")) == order.reserved
    assert ex.get(k.open_orders("alice")) == (nonce,)
    assert ex.get(k.order_count(PERP.name)) == 1
    free = usd(100_000) - order.reserved
    ex.fails(Withdraw, "alice", "InsufficientCollateral", amount=free + 1)
    ex.ok(Withdraw, "alice", amount=free)


def test_a_bought_option_reserves_its_price_and_fee() -> None:
    ex = _ex()
    price = ex.mark(CALL).price + usd(100)
    nonce = _place(ex, "alice", instrument=CALL.name, price=price - price % CALL.tick_size)
    order = _order(ex, "alice", nonce)
    assert order.price <= order.reserved <= order.price * 113 // 100


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"instrument": "BTC-NOPE"}, "UnknownInstrument"),
        ({"price": usd(60_000) + 1}, "NotMultiple"),
        ({"size": ONE + 1}, "NotMultiple"),
        ({"good_til": 1}, "OrderExpired"),
        ({"reduce_only": True}, "ReduceOnlyWouldIncrease"),
        ({"size": 1000 * ONE}, "InsufficientMargin"),
    ],
)
def test_placing_fails_with_a_typed_error(fields: dict[str, object], code: str) -> None:
    ex = _ex()
    ex.fails(
        PlaceOrder, "alice", code,
        **{"instrument": PERP.name, "side": Side.BUY, "price": usd(60_000), "size": ONE, **fields},
    )  # fmt: skip


def test_an_expired_option_takes_no_orders() -> None:
    ex = _ex()
    ex.oracle(60_000, time=EXPIRY)
    ex.fails(
        PlaceOrder, "alice", "InstrumentExpired",
        instrument=CALL.name, side=Side.BUY, price=usd(1_000), size=ONE,
    )  # fmt: skip


def test_the_open_order_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from paraclear.clearing.handlers import orders

    monkeypatch.setattr(orders, "MAX_OPEN_ORDERS", 2)
    ex = _ex()
    _place(ex, "alice")
    _place(ex, "alice")
    ex.fails(
        PlaceOrder, "alice", "TooManyOrders",
        instrument=PERP.name, side=Side.BUY, price=usd(60_000), size=ONE,
    )  # fmt: skip


def test_cancel_releases_everything_and_checks_owner_and_instrument() -> None:
    ex = _ex()
    nonce = _place(ex, "alice")
    ex.fails(CancelOrder, "bob", "UnknownOrder", instrument=PERP.name, order=nonce)
    ex.fails(CancelOrder, "alice", "UnknownOrder", instrument=CALL.name, order=nonce)
    ex.ok(CancelOrder, "alice", instrument=PERP.name, order=nonce)
    assert ex.get(k.order("alice", nonce)) is None
    assert ex.get(k.reserved("alice")) is None and ex.get(k.open_orders("alice")) is None
    assert not ex.get(k.order_count(PERP.name))
    ex.fails(CancelOrder, "alice", "UnknownOrder", instrument=PERP.name, order=nonce)


def test_amend_moves_the_reservation_and_checks_margin() -> None:
    ex = _ex()
    nonce = _place(ex, "alice")
    before = _order(ex, "alice", nonce).reserved
    ex.ok(AmendOrder, "alice", order=nonce, price=usd(59_000), size=3 * ONE)
    after = _order(ex, "alice", nonce)
    assert after.remaining == 3 * ONE and after.price == usd(59_000)
    assert after.reserved > before and ex.get(k.reserved("alice")) == after.reserved
    ex.fails(
        AmendOrder, "alice", "InsufficientMargin", order=nonce, price=usd(59_000), size=1000 * ONE
    )
    ex.fails(AmendOrder, "alice", "NotMultiple", order=nonce, price=usd(59_000) + 1, size=ONE)
    ex.fails(AmendOrder, "bob", "UnknownOrder", order=nonce, price=usd(59_000), size=ONE)


def test_poor_accounts_cannot_place() -> None:
    ex = _ex()
    ex.fails(
        PlaceOrder, "poor", "InsufficientMargin",
        instrument=PERP.name, side=Side.BUY, price=usd(60_000), size=ONE,
    )  # fmt: skip


def _fill(ex: Exchange, taker: int, maker: int, **fields: object) -> object:
    fill = {
        "instrument": PERP.name, "taker": "alice", "taker_order": taker, "maker": "bob",
        "maker_order": maker, "price": usd(60_000), "size": ONE, "nonce": 0, **fields,
    }  # fmt: skip
    return fill


def test_a_fill_settles_and_releases_in_proportion() -> None:
    ex = _ex()
    maker = _place(ex, "bob", Side.SELL, size=4 * ONE)
    taker = _place(ex, "alice", Side.BUY, size=2 * ONE, price=usd(60_100))
    maker_reserved = _order(ex, "bob", maker).reserved
    receipt = ex.block(SettleFill(sender="oracle", **_fill(ex, taker, maker))).receipts[0]  # type: ignore[arg-type]
    assert receipt.ok, receipt.error
    assert ex.size("alice", PERP) == ONE and ex.size("bob", PERP) == -ONE
    assert _order(ex, "alice", taker).remaining == ONE
    left = _order(ex, "bob", maker)
    assert (left.remaining, left.filled) == (3 * ONE, ONE)
    assert left.reserved == maker_reserved * 3 // 4
    assert receipt.events[0].maker_fee > 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"size": 5 * ONE}, "FillMismatch"),
        ({"price": usd(59_000)}, "FillMismatch"),
        ({"taker_order": 999}, "UnknownOrder"),
        ({"instrument": CALL.name}, "FillMismatch"),
        ({"size": ONE + 1}, "NotMultiple"),
    ],
)
def test_a_fill_its_orders_do_not_allow_fails(fields: dict[str, object], code: str) -> None:
    ex = _ex()
    maker = _place(ex, "bob", Side.SELL, size=4 * ONE)
    taker = _place(ex, "alice", Side.BUY, size=2 * ONE, price=usd(60_100))
    receipt = ex.block(SettleFill(sender="oracle", **_fill(ex, taker, maker, **fields))).receipts[0]  # type: ignore[arg-type]
    assert not receipt.ok and receipt.error is not None and receipt.error.code == code


def test_same_side_and_non_resting_makers_are_refused() -> None:
    ex = _ex()
    maker = _place(ex, "bob", Side.BUY)
    taker = _place(ex, "alice", Side.BUY)
    receipt = ex.block(SettleFill(sender="oracle", **_fill(ex, taker, maker))).receipts[0]  # type: ignore[arg-type]
    assert receipt.error is not None and receipt.error.code == "FillMismatch"
    ioc = _place(ex, "bob", Side.SELL, kind=OrderType.IOC)
    receipt = ex.block(SettleFill(sender="oracle", **_fill(ex, taker, ioc))).receipts[0]  # type: ignore[arg-type]
    assert receipt.error is not None and receipt.error.code == "FillMismatch"


def test_only_the_oracle_settles_and_closes() -> None:
    ex = _ex()
    maker = _place(ex, "bob", Side.SELL)
    taker = _place(ex, "alice", Side.BUY)
    fill = SettleFill(sender="alice", **_fill(ex, taker, maker))  # type: ignore[arg-type]
    assert ex.block(fill).receipts[0].error.code == "Unauthorized"  # type: ignore[union-attr]
    close = CloseOrder(
        sender="bob", nonce=0, account="bob", instrument=PERP.name, order=maker, reason="x"
    )
    assert ex.block(close).receipts[0].error.code == "Unauthorized"  # type: ignore[union-attr]


def test_close_keeps_what_is_left_or_closes() -> None:
    ex = _ex()
    nonce = _place(ex, "alice", size=4 * ONE)
    reserved = _order(ex, "alice", nonce).reserved

    def close(remaining: int) -> object:
        tx = CloseOrder(
            sender="oracle", nonce=0, account="alice", instrument=PERP.name, order=nonce,
            remaining=remaining, reason="reduced",
        )  # fmt: skip
        return ex.block(tx).receipts[0]

    assert close(ONE).ok  # type: ignore[attr-defined]
    assert _order(ex, "alice", nonce).reserved == reserved // 4
    assert close(ONE).error.code == "Malformed"  # type: ignore[attr-defined]
    assert close(0).ok  # type: ignore[attr-defined]
    assert ex.get(k.reserved("alice")) is None


def test_settlements_take_no_nonce_or_fee() -> None:
    ex = _ex()
    with pytest.raises(Rejected):
        validate(SettleFill(sender="oracle", **{**_fill(ex, 0, 0), "nonce": 3}))  # type: ignore[arg-type]
    raw = msgspec.json.encode(
        CloseOrder(
            sender="oracle", nonce=0, fee=1, account="a", instrument="X", order=0, reason="r"
        )
    )
    with pytest.raises(Rejected):
        decode_transaction(raw)
    assert SettleFill.operator_only and not SettleFill.consumes_nonce
    assert not PlaceOrder.operator_only and PlaceOrder.consumes_nonce


def test_expiry_closes_the_series_orders() -> None:
    ex = _ex()
    nonce = _place(ex, "alice", instrument=PUT.name, price=usd(1_000), side=Side.BUY)
    ex.oracle(60_000, time=EXPIRY)
    settle = ex.tx(SettleExpiry, "oracle", instrument=PUT.name, accounts=())
    assert ex.block(settle).receipts[0].error.code == "OpenOrdersLeft"  # type: ignore[union-attr]
    settle = ex.tx(SettleExpiry, "oracle", instrument=PUT.name, accounts=("alice",))
    receipt = ex.block(settle).receipts[0]
    assert receipt.ok, receipt.error
    assert ex.get(k.order("alice", nonce)) is None and ex.get(k.reserved("alice")) is None
    assert {type(e).__name__ for e in receipt.events} >= {"OrderClosed", "ExpirySettled"}
