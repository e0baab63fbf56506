"""``Tape.seq_of``: a fill's ``trade_seq`` from its block and number, looked up from the
block's first sequence number, equals the seq of that fill among the trades still kept
(and is None once the fill is no longer kept), whatever the blocks and instruments."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.chain import tape as tape_module
from paraclear.chain.tape import Tape
from paraclear.clearing.events import OrderFilled
from paraclear.clearing.transactions import SettleFill
from paraclear.execution import Block, Receipt

NAMES = ("BTC-PERP", "ETH-PERP")
KEPT = 16
"""Trades kept per instrument in the test (few, so that fills age out)."""


def _fill(name: str) -> tuple[SettleFill, OrderFilled]:
    tx = SettleFill(
        sender="op", nonce=0, instrument=name, taker="a", taker_order=1, maker="b",
        maker_order=2, price=1, size=1,
    )  # fmt: skip
    event = OrderFilled(
        instrument=name, taker="a", taker_order=1, maker="b", maker_order=2,
        taker_side="buy", size=1, price=1, maker_fee=0, taker_fee=0,
    )  # fmt: skip
    return tx, event


@settings(max_examples=60, deadline=None)
@given(blocks=st.lists(st.lists(st.sampled_from(NAMES), max_size=12), min_size=1, max_size=25))
def test_seq_of_is_the_kept_fills_seq(blocks: list[list[str]]) -> None:
    original = tape_module.RECENT_TRADES
    tape_module.RECENT_TRADES = KEPT
    try:
        tape = Tape()
        for height, names in enumerate(blocks, start=1):
            made = [_fill(name) for name in names]
            block = Block(height, 1_800_000_000 + height, tuple(tx for tx, _ in made))
            receipts = [Receipt(i, True, None, (event,)) for i, (_, event) in enumerate(made)]
            tape.record(block, receipts)
        for name in NAMES:
            kept = list(tape.trades.get(name, ()))
            for height, names in enumerate([*blocks, []], start=1):
                for number in range(names.count(name) + 2):
                    want = next(
                        (t.seq for t in kept if t.height == height and t.number == number), None
                    )
                    assert tape.seq_of(name, height, number) == want, (name, height, number)
    finally:
        tape_module.RECENT_TRADES = original
