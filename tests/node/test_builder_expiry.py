"""The builder matches only the books a block names and those where a good-til-block order
expires: a book the block leaves alone still closes its expired order at the right height,
on a builder that ran since the order's placement and on one reopened from the state."""

from __future__ import annotations

from typing import Any

import pytest

from paraclear.chain.builder import BlockBuilder, Built
from paraclear.clearing.transactions import CloseOrder, PlaceOrder, Side
from paraclear.execution import SequentialExecutor
from paraclear.market import ParallelMatcher, SerialMatcher
from tests.clearing.harness import CALL, ONE, PERP, usd
from tests.node.test_builder import ACCOUNTS, Flow, _book_orders, _market, _state_orders

BLOCKS = 5
GOOD_TIL = 2
"""The call's order rests through block 2 of the run and expires in block 3."""


def _blocks(matcher: Any, restart_after: int | None) -> list[tuple[Built, bytes]]:
    """Build and execute ``BLOCKS`` blocks: the first places a good-til-block bid on the
    call, every one a bid on the perpetual (the call's book untouched after the first).
    ``restart_after``: reopen a fresh builder from the state after that block."""
    ex = _market()
    builder = BlockBuilder(ex.machine, matcher(), operator="oracle")
    flow = Flow(0, dict(ex.nonces))
    start = ex.height
    out = []
    for n in range(1, BLOCKS + 1):
        txs = [
            flow.tx(
                PlaceOrder, ACCOUNTS[1], instrument=PERP.name, side=Side.BUY,
                price=usd(59_000 - n), size=ONE,
            )
        ]  # fmt: skip
        if n == 1:
            txs.append(
                flow.tx(
                    PlaceOrder, ACCOUNTS[2], instrument=CALL.name, side=Side.BUY,
                    price=usd(3_900), size=ONE, good_til=start + GOOD_TIL,
                )
            )  # fmt: skip
        built = builder.build(ex.state, start + n, ex.time + 60 * n, txs)
        result = SequentialExecutor(ex.machine).execute(ex.state, built.block)
        assert result.receipts == built.receipts and all(r.ok for r in result.receipts)
        out.append((built, result.state_root))
        if n == restart_after:
            builder.matcher.close()  # type: ignore[attr-defined]
            builder = BlockBuilder(ex.machine, matcher(), operator="oracle")
            builder.reopen(ex.state, start + n)
        if isinstance(builder.matcher, SerialMatcher):
            assert _book_orders(builder.matcher) == _state_orders(ex.state)
    builder.matcher.close()  # type: ignore[attr-defined]
    return out


def _closes(built: Built) -> list[tuple[str, str]]:
    return [(tx.instrument, tx.reason) for tx in built.block.txs if isinstance(tx, CloseOrder)]


@pytest.mark.parametrize("matcher", [SerialMatcher, lambda: ParallelMatcher(processes=2)])
@pytest.mark.parametrize("restart_after", [None, 1, 2])
def test_an_untouched_books_order_expires_at_its_height(
    matcher: Any, restart_after: int | None
) -> None:
    blocks = _blocks(matcher, restart_after)
    assert [_closes(built) for built, _ in blocks] == [
        [], [], [(CALL.name, "expired")], [], []
    ]  # fmt: skip
    assert blocks[1][0].books[CALL.name].bids == [(usd(3_900), ONE)]
    assert blocks[2][0].books[CALL.name].bids == []
    for built, _ in blocks:
        assert sorted(built.books) == sorted((CALL.name, PERP.name))
    if restart_after is not None:  # the same blocks, receipts, roots and books as without
        reference = _blocks(SerialMatcher, None)
        for (built, root), (ref, ref_root) in zip(blocks, reference, strict=True):
            assert built.block == ref.block and built.receipts == ref.receipts
            assert root == ref_root and built.books == ref.books
