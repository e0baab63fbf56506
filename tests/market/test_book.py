"""Every order type and every refusal of the order book, one scenario each."""

from __future__ import annotations

import pytest

from paraclear.market import NEVER, OrderBook, OrderKind, errors
from paraclear.market.book import EXPIRED, SELF_TRADE

TICK, LOT = 100, 10
LIMIT, MARKET, IOC, FOK, POST = (
    OrderKind.LIMIT,
    OrderKind.MARKET,
    OrderKind.IOC,
    OrderKind.FOK,
    OrderKind.POST_ONLY,
)


def book_with_asks() -> OrderBook:
    """Asks: 1000 x 20 (m1), 1000 x 20 (m2), 1100 x 30 (m3). Bid: 900 x 10 (b1)."""
    book = OrderBook(TICK, LOT, max_open_orders=3)
    book.place("m1", "maker", False, LIMIT, 1_000, 20)
    book.place("m2", "other", False, LIMIT, 1_000, 20)
    book.place("m3", "maker", False, LIMIT, 1_100, 30)
    book.place("b1", "bidder", True, LIMIT, 900, 10)
    return book


def test_limit_order_takes_in_price_time_priority_and_rests_the_rest():
    book = book_with_asks()
    assert book.place("t", "taker", True, LIMIT, 1_000, 50) == 10
    assert book.fills == [
        ("t", "m1", "taker", "maker", True, 1_000, 20),
        ("t", "m2", "taker", "other", True, 1_000, 20),
    ]
    assert book.best_bid() == 1_000 and book.best_ask() == 1_100
    assert book.depth(True) == [(1_000, 10), (900, 10)]


def test_market_order_walks_the_book_at_any_price_and_drops_the_rest():
    book = book_with_asks()
    assert book.place("t", "taker", True, MARKET, 0, 100) == 0
    assert [f[1] for f in book.fills] == ["m1", "m2", "m3"]
    assert book.fills[-1][5:] == (1_100, 30)
    assert book.best_ask() is None and book.order("t") is None


def test_ioc_takes_up_to_its_limit_and_never_rests():
    book = book_with_asks()
    assert book.place("t", "taker", True, IOC, 1_000, 50) == 0
    assert sum(f[6] for f in book.fills) == 40
    assert book.order("t") is None and book.best_ask() == 1_100


def test_fok_fills_completely_or_fails_without_touching_the_book():
    book = book_with_asks()
    with pytest.raises(errors.FillOrKillUnfilled) as refused:
        book.place("t", "taker", True, FOK, 1_000, 50)
    assert refused.value.details == (("size", 50), ("available", 40))
    assert book.fills == [] and len(book) == 4
    assert book.place("t", "taker", True, FOK, 1_100, 50) == 0
    assert sum(f[6] for f in book.fills) == 50


def test_fok_on_an_empty_side_fails_with_nothing_available():
    book = OrderBook(TICK, LOT)
    with pytest.raises(errors.FillOrKillUnfilled):
        book.place("t", "taker", True, FOK, 1_000, 10)


def test_post_only_rests_when_passive_and_fails_when_it_would_cross():
    book = book_with_asks()
    assert book.place("p", "poster", True, POST, 900, 10) == 10
    with pytest.raises(errors.PostOnlyWouldCross) as refused:
        book.place("q", "poster", True, POST, 1_000, 10)
    assert refused.value.details == (("price", 1_000), ("best", 1_000))
    assert book.order("q") is None


def test_reduce_only_is_capped_by_the_position_and_refused_if_it_would_grow_it():
    book = book_with_asks()
    assert book.place("r", "long", False, LIMIT, 1_200, 50, reduce_only=True, position=20) == 20
    with pytest.raises(errors.ReduceOnlyWouldIncrease):
        book.place("s", "long", True, LIMIT, 800, 10, reduce_only=True, position=20)
    with pytest.raises(errors.ReduceOnlyWouldIncrease):
        book.place("s", "flat", False, LIMIT, 1_200, 10, reduce_only=True, position=0)
    book.place("t", "short", True, IOC, 1_000, 50, reduce_only=True, position=-15)
    assert sum(f[6] for f in book.fills) == 10  # capped at 15 rounded down to the lot


def test_self_trade_prevention_cancels_the_resting_order_and_keeps_matching():
    book = book_with_asks()
    assert book.place("t", "maker", True, LIMIT, 1_100, 30) == 10
    assert book.closed == [("m1", SELF_TRADE), ("m3", SELF_TRADE)]
    assert [(f[1], f[6]) for f in book.fills] == [("m2", 20)]
    assert book.order("m1") is None and book.order("m3") is None
    assert book.best_bid() == 1_100 and book.best_ask() is None


def test_fok_does_not_count_own_orders_as_liquidity():
    book = book_with_asks()
    with pytest.raises(errors.FillOrKillUnfilled) as refused:
        book.place("t", "maker", True, FOK, 1_100, 30)
    assert refused.value.details == (("size", 30), ("available", 20))
    assert book.closed == []


def test_cancel_returns_the_open_size_and_refuses_unknown_or_foreign_orders():
    book = book_with_asks()
    assert book.cancel("m2", "other") == 20
    with pytest.raises(errors.UnknownOrder):
        book.cancel("m2", "other")
    with pytest.raises(errors.NotOrderOwner):
        book.cancel("m1", "other")
    assert book.depth(False) == [(1_000, 20), (1_100, 30)]


def test_amend_shrinking_keeps_priority_and_growing_or_moving_loses_it():
    book = book_with_asks()
    assert book.amend("m1", "maker", 1_000, 10) == 10  # shrinks: still first
    book.place("t", "taker", True, IOC, 1_000, 10)
    assert book.fills[-1][1:2] == ("m1",) and book.order("m1") is None
    book.place("m1", "maker", False, LIMIT, 1_000, 20)  # behind m2 now
    book.amend("m2", "other", 1_000, 30)  # grows: behind m1
    book.place("u", "taker", True, IOC, 1_000, 10)
    assert book.fills[-1][1] == "m1"
    book.amend("m3", "maker", 1_000, 30)  # moves to 1000: behind m2
    assert [o.order_id for o in book.resting(False)] == ["m1", "m2", "m3"]


def test_amend_across_the_spread_takes_like_a_new_limit_order():
    book = book_with_asks()
    assert book.amend("b1", "bidder", 1_000, 50) == 10
    assert [(f[1], f[6]) for f in book.fills] == [("m1", 20), ("m2", 20)]
    assert book.best_bid() == 1_000


def test_amend_refusals_leave_the_order_unchanged():
    book = book_with_asks()
    book.place("p", "poster", True, POST, 900, 10)
    book.place("r", "long", False, LIMIT, 1_200, 10, reduce_only=True, position=10)
    cases = [
        (("x", "poster", 900, 10), errors.UnknownOrder),
        (("p", "maker", 900, 10), errors.NotOrderOwner),
        (("p", "poster", 900, 15), errors.InvalidSize),
        (("p", "poster", 950, 10), errors.InvalidPrice),
        (("p", "poster", 1_000, 10), errors.PostOnlyWouldCross),
    ]
    for args, error in cases:
        with pytest.raises(error):
            book.amend(*args)
    with pytest.raises(errors.ReduceOnlyWouldIncrease):
        book.amend("r", "long", 1_200, 10, position=-10)
    assert book.order("p") is not None and book.order("p").price == 900  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("m1", "x", True, LIMIT, 900, 10), errors.DuplicateOrderId),
        (("n", "x", True, LIMIT, 900, 0), errors.InvalidSize),
        (("n", "x", True, LIMIT, 900, 15), errors.InvalidSize),
        (("n", "x", True, LIMIT, 0, 10), errors.InvalidPrice),
        (("n", "x", True, LIMIT, 950, 10), errors.InvalidPrice),
        (("n", "x", True, IOC, -100, 10), errors.InvalidPrice),
    ],
)
def test_malformed_orders_are_refused_with_typed_errors(args, error):
    book = book_with_asks()
    with pytest.raises(error):
        book.place(*args)
    assert len(book) == 4 and book.fills == []


def test_market_order_ignores_its_price():
    book = book_with_asks()
    book.place("t", "taker", True, MARKET, 12_345, 10)
    assert book.fills[0][1] == "m1"


def test_good_til_block_orders_expire_when_their_block_has_passed():
    book = OrderBook(TICK, LOT)
    book.place("a", "x", True, LIMIT, 900, 10, good_til=2)
    book.place("b", "x", True, LIMIT, 800, 10, good_til=1)
    book.place("c", "x", True, LIMIT, 700, 10)
    book.begin_block(2)
    assert book.closed == [("b", EXPIRED)]
    book.begin_block(5)
    assert book.closed == [("b", EXPIRED), ("a", EXPIRED)]
    assert [o.order_id for o in book.resting(True)] == ["c"]
    with pytest.raises(errors.ExpiredOnArrival):
        book.place("d", "x", True, LIMIT, 900, 10, good_til=4)
    assert book.order("c").good_til == NEVER  # type: ignore[union-attr]


def test_per_account_open_order_limit_counts_only_resting_orders():
    book = book_with_asks()  # limit 3 per account; "maker" has 2 open
    book.place("m4", "maker", False, LIMIT, 1_200, 10)
    with pytest.raises(errors.TooManyOpenOrders) as refused:
        book.place("m5", "maker", False, LIMIT, 1_200, 10)
    assert refused.value.details == (("account", "maker"), ("limit", 3))
    book.place("t", "maker", True, IOC, 800, 10)  # an IOC never rests: allowed
    book.cancel("m4", "maker")
    assert book.place("m5", "maker", False, LIMIT, 1_200, 10) == 10
    assert book.open_orders("maker") == 3


def test_book_refuses_a_nonsensical_specification():
    with pytest.raises(ValueError):
        OrderBook(0, 1)
