"""``Tape.record`` adds a block's fills of an instrument together (one candle per block and
instrument, merged into the minute's); what it keeps equals the readable rule applied fill
by fill in block order: each fill's number, ``trade_seq``, tick direction and the oracle of
its moment (an update earlier in the block counts, a later one does not), and each minute's
candle as the fold of one candle per fill."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.chain.tape import MINUTE, Candle, Tape, merged
from paraclear.clearing.events import OrderFilled
from paraclear.clearing.records import OracleData
from paraclear.clearing.transactions import OracleUpdate, SettleFill, Transaction
from paraclear.execution import Block, Receipt
from paraclear.numbers import notional

NAMES = ("BTC-PERP", "ETH-PERP")

fills = st.tuples(st.sampled_from(NAMES), st.integers(1, 9), st.integers(1, 5))
"""A fill: instrument, price, size (raw)."""
oracles = st.tuples(st.sampled_from(("BTC", "ETH")), st.integers(1, 99))
"""An oracle update: underlying, index price."""
blocks = st.lists(
    st.tuples(st.integers(0, 70), st.lists(fills | oracles, max_size=10)), min_size=1, max_size=12
)
"""Blocks: seconds after the previous block, then fills and oracle updates in order."""


def _fill(name: str, price: int, size: int) -> tuple[Transaction, OrderFilled]:
    tx = SettleFill(
        sender="op", nonce=0, instrument=name, taker="a", taker_order=1, maker="b",
        maker_order=2, price=price, size=size,
    )  # fmt: skip
    event = OrderFilled(
        instrument=name, taker="a", taker_order=1, maker="b", maker_order=2,
        taker_side="buy", size=size, price=price, maker_fee=0, taker_fee=0,
    )  # fmt: skip
    return tx, event


def _direction(previous: tuple[int, int] | None, price: int) -> int:
    """Deribit's tick direction against the previous (price, direction)."""
    if previous is None or price > previous[0]:
        return 0
    if price < previous[0]:
        return 2
    return 1 if previous[1] in (0, 1) else 3


@settings(max_examples=80, deadline=None)
@given(blocks)
def test_a_blocks_fills_are_kept_as_one_by_one(
    made: list[tuple[int, list[tuple[str, int, int] | tuple[str, int]]]],
) -> None:
    tape = Tape()
    time = 1_800_000_000
    oracle: dict[str, OracleData] = {}
    seq = dict.fromkeys(NAMES, 0)
    last: dict[str, tuple[int, int] | None] = dict.fromkeys(NAMES)
    want_trades: dict[str, list[tuple[int, int, int, int, OracleData | None]]] = {}
    want_candles: dict[str, list[Candle]] = {}
    for height, (seconds, items) in enumerate(made, start=1):
        time += seconds
        txs: list[Transaction] = []
        receipts: list[Receipt] = []
        numbers = dict.fromkeys(NAMES, 0)
        for item in items:
            if len(item) == 2:
                underlying, index = item
                update = OracleUpdate(
                    sender="op", nonce=0, underlying=underlying, index_price=index,
                    atm_vol_ppm=500_000,
                )  # fmt: skip
                oracle[underlying] = OracleData(index, 500_000, 0, time)
                txs.append(update)
                receipts.append(Receipt(len(receipts), True, None, ()))
                continue
            name, price, size = item
            tx, event = _fill(name, price, size)
            txs.append(tx)
            receipts.append(Receipt(len(receipts), True, None, (event,)))
            seq[name] += 1
            direction = _direction(last[name], price)
            last[name] = (price, direction)
            at = oracle.get(name.partition("-")[0])
            want_trades.setdefault(name, []).append(
                (height, numbers[name], seq[name], direction, at)
            )
            numbers[name] += 1
            start = time - time % MINUTE
            one = Candle(start, price, price, price, price, size, notional(price, size))
            candles = want_candles.setdefault(name, [])
            if candles and candles[-1].start == start:
                candles[-1] = merged(candles[-1], one)
            else:
                candles.append(one)
        tape.record(Block(height, time, tuple(txs)), receipts)
    for name in NAMES:
        kept = [(t.height, t.number, t.seq, t.tick_direction, t.oracle) for t in tape.recent(name)]
        assert kept == want_trades.get(name, [])
        assert list(tape.candles.get(name, ())) == want_candles.get(name, [])
        assert tape.seq.get(name, 0) == seq[name]
