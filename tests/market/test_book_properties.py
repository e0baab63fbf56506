"""The fast book against the list-scan reference, over random sequences of operations."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.market import NEVER, MarketError, OrderBook, OrderKind
from tests.market.reference import ReferenceBook

TICK, LOT = 5, 10
ACCOUNTS = ("a", "b", "c")


def random_op(
    rng: random.Random, height: int, placed: dict[int, tuple[str, int, int]]
) -> tuple[Any, ...]:
    """One operation, mostly valid, sometimes with a bad price, size, id or owner.

    ``placed`` (order id -> account, price, size of its last placement) steers cancels and
    amends to orders that may be open, and amends to their own price and nearby sizes.
    """
    oid, account = rng.randrange(12), rng.choice(ACCOUNTS)
    price = rng.choice([TICK * rng.randint(1, 4)] * 12 + [0, TICK + 1])
    size = rng.choice([LOT * rng.randint(1, 6)] * 10 + [0, LOT + 3])
    position = rng.choice([LOT * rng.randint(-5, 5)] * 8 + [LOT + 3])
    if placed and rng.random() < 0.8:
        oid = rng.choice(sorted(placed))
        owner, old_price, old_size = placed[oid]
        account = owner if rng.random() < 0.9 else account
        if rng.random() < 0.5:
            price, size = old_price, max(old_size + LOT * rng.randint(-2, 2), LOT)
    roll = rng.random()
    if roll < 0.55:
        kind = rng.choice(list(OrderKind) + [OrderKind.LIMIT] * 3)
        gtb = rng.choice([None, None, height + rng.randint(-1, 3)])
        oid = oid if rng.random() < 0.3 else rng.randrange(12)
        placed[oid] = (account, price, size)
        return (
            "place",
            oid,
            account,
            rng.random() < 0.5,
            kind,
            price,
            size,
            rng.random() < 0.15,
            position,
            gtb,
        )
    if roll < 0.7:
        return ("cancel", oid, account)
    if roll < 0.95:
        return ("amend", oid, account, price, size, position)
    return ("block", rng.randint(0, 2))


def run(book: Any, op: tuple[Any, ...]) -> object:
    """Apply ``op``; returns its result or the error's code and fields."""
    try:
        if op[0] == "place":
            _, oid, account, is_buy, kind, price, size, reduce_only, position, gtb = op
            good_til = NEVER if gtb is None else gtb
            return book.place(
                oid,
                account,
                is_buy,
                kind,
                price,
                size,
                reduce_only=reduce_only,
                position=position,
                good_til=good_til,
            )
        if op[0] == "cancel":
            return book.cancel(op[1], op[2])
        if op[0] == "amend":
            return book.amend(op[1], op[2], op[3], op[4], position=op[5])
        return book.begin_block(book.height + op[1])
    except MarketError as error:
        return (error.code, error.details)


def snapshot(book: Any) -> list[tuple[object, ...]]:
    return [
        (o.is_buy, o.price, o.order_id, o.account, o.remaining, o.good_til)
        for is_buy in (True, False)
        for o in book.resting(is_buy)
    ]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 4))
def test_book_matches_the_reference_model_after_every_operation(seed, max_open):
    rng = random.Random(seed)
    book = OrderBook(TICK, LOT, max_open_orders=max_open)
    model = ReferenceBook(TICK, LOT, max_open_orders=max_open)
    placed: dict[int, tuple[str, int, int]] = {}
    for _ in range(60):
        op = random_op(rng, book.height, placed)
        assert run(book, op) == run(model, op), op
        assert book.fills == model.fills, op
        assert book.closed == model.closed, op
        assert snapshot(book) == snapshot(model), op
        assert len(book) == len(model.orders)
        for account in ACCOUNTS:
            assert book.open_orders(account) == sum(o.account == account for o in model.orders)
        bids, asks = model.resting(True), model.resting(False)
        assert book.best_bid() == (bids[0].price if bids else None)
        assert book.best_ask() == (asks[0].price if asks else None)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32))
def test_deep_churn_of_levels_and_heap_rebuilds_do_not_change_matching(seed):
    """Hundreds of deep levels emptied by cancels, a long queue cancelled in the middle
    between market orders, then new levels among the stale heap entries (the heap is
    rebuilt): none of it may change what matches."""
    rng = random.Random(seed)
    book = OrderBook(1, 1, max_open_orders=10_000)
    model = ReferenceBook(1, 1, max_open_orders=10_000)
    deep = [(oid, False, 1_000 + oid, rng.choice(ACCOUNTS)) for oid in range(400)]
    queue = [(oid, False, 990, rng.choice(ACCOUNTS)) for oid in range(400, 460)]
    for oid, is_buy, price, account in deep + queue + [(999, True, 900, "c")]:
        size = rng.randint(1, 3)
        for target in (book, model):
            target.place(oid, account, is_buy, OrderKind.LIMIT, price, size)
    victims = rng.sample(deep[5:], 380) + rng.sample(queue[3:], 45)
    for step, (oid, _, _, account) in enumerate(victims):
        assert run(book, ("cancel", oid, account)) == run(model, ("cancel", oid, account))
        if step % 40 == 0:
            take = (
                "place",
                f"t{step}",
                "z",
                True,
                OrderKind.MARKET,
                0,
                rng.randint(1, 9),
                False,
                0,
                None,
            )
            assert run(book, take) == run(model, take)
    for oid in range(1_000, 1_300):  # new levels among stale heap entries: heap rebuilds
        price, size, account = rng.randint(995, 1_400), rng.randint(1, 3), rng.choice(ACCOUNTS)
        for target in (book, model):
            target.place(oid, account, False, OrderKind.LIMIT, price, size)
    assert snapshot(book) == snapshot(model)
    for is_buy in (True, False):
        sweep = ("place", f"sweep{is_buy}", "z", is_buy, OrderKind.MARKET, 0, 10**6, False, 0, None)
        assert run(book, sweep) == run(model, sweep)
    assert book.fills == model.fills
    assert book.best_bid() is None and book.best_ask() is None and len(book) == 0
