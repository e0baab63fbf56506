"""Matching the books of a block in parallel worker processes equals matching them serially."""

from __future__ import annotations

import random

import pytest

from paraclear.market import (
    NEVER,
    BookSpec,
    OrderBook,
    OrderKind,
    ParallelMatcher,
    SerialMatcher,
    amend_op,
    apply_ops,
    cancel_op,
    encode_columns,
    place_op,
    to_columns,
)


def random_block(rng: random.Random, books: list[str], count: int, next_id: list[int]):
    """Operations of one block over ``books``: places of every kind, cancels, amends."""
    block: dict[str, list[tuple[object, ...]]] = {name: [] for name in books}
    for _ in range(count):
        name = rng.choice(books)
        oid = rng.randrange(next_id[0] + 1)
        account = f"a{rng.randrange(4)}"
        price, size = 10 * rng.randint(95, 105), rng.randint(1, 5)
        roll = rng.random()
        if roll < 0.6:
            next_id[0] += 1
            kind = rng.choice(list(OrderKind))
            gtb = rng.choice([NEVER, NEVER, rng.randint(0, 8)])
            block[name].append(
                place_op(
                    next_id[0],
                    account,
                    rng.random() < 0.5,
                    kind,
                    price,
                    size,
                    rng.random() < 0.1,
                    rng.randint(-5, 5),
                    gtb,
                )
            )
        elif roll < 0.8:
            block[name].append(cancel_op(oid, account))
        else:
            block[name].append(amend_op(oid, account, price, size))
    return {name: to_columns(ops) for name, ops in block.items() if ops}


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_parallel_matching_returns_exactly_the_serial_fills(processes):
    rng = random.Random(processes)
    books = [f"BTC-{i}" for i in range(5)]
    serial = SerialMatcher()
    with ParallelMatcher(processes) as parallel:
        for name in books:
            for matcher in (serial, parallel):
                matcher.add_book(name, BookSpec(tick=10, lot=1, max_open_orders=20))
        next_id = [0]
        fills = 0
        for height in range(1, 9):
            block = random_block(rng, books, 400, next_id)
            expected = serial.match(height, block)
            if height % 2:  # as from the network: encoded, decoded where the book lives
                block = {name: encode_columns(ops) for name, ops in block.items()}
            assert parallel.match(height, block) == expected
            fills += sum(len(result.fills) for result in expected.values())
        assert fills > 100


def test_apply_ops_reports_refusals_by_index_and_drains_the_book():
    book = OrderBook(10, 1)
    ops = [
        place_op(1, "a", True, OrderKind.LIMIT, 100, 5),
        place_op(2, "b", False, OrderKind.POST_ONLY, 100, 5),
        cancel_op(9, "a"),
        place_op(3, "b", False, OrderKind.IOC, 100, 2),
        amend_op(1, "a", 105, 3),
    ]
    result = apply_ops(book, 1, ops)
    assert result.errors == [(1, "PostOnlyWouldCross"), (2, "UnknownOrder"), (4, "InvalidPrice")]
    assert result.fills == [(3, 1, "b", "a", False, 100, 2)]
    assert book.fills == [] and book.closed == []
