"""The glue's receipts (``kernels.glue.receipts_of``): the events of each kind built
together and put back in block order, the failures put in their places after. One kernel
call holds every kernel kind, with failures between them; its receipts must equal the
handlers' one by one."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.chain.builder import BlockBuilder
from paraclear.clearing import ClearingMachine
from paraclear.clearing.kernels.engine import MAX_CHUNK, CompiledEngine
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    Deposit,
    PlaceOrder,
    Side,
    Trade,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import Block, SequentialExecutor
from paraclear.market import SerialMatcher
from tests.clearing.harness import PERP
from tests.clearing.test_kernels import _market, _same
from tests.node.test_builder import Flow


def _orders_and_funds(ex: object) -> list[Transaction]:
    """Crossing placements, an amend and a cancel of them, a trade, funds moved, and a
    failure of each kind between them (a stale nonce, an unknown order, a withdrawal of
    more than the account holds, a transfer to oneself)."""
    tx = ex.tx  # type: ignore[attr-defined]
    price, lot = 50_000 * 10**6, PERP.lot_size
    order = {"instrument": PERP.name, "price": price, "size": 2 * lot}
    return [
        tx(PlaceOrder, "trader1", side=Side.SELL, **order),
        tx(Deposit, "trader3", amount=1_000_000),
        tx(PlaceOrder, "trader1", side=Side.SELL, **order),
        PlaceOrder(sender="trader2", nonce=0, side=Side.BUY, **order),  # stale nonce
        tx(CancelOrder, "trader2", instrument=PERP.name, order=10**6),  # unknown order
        tx(AmendOrder, "trader1", order=1, price=price + PERP.tick_size, size=lot),
        tx(Withdraw, "trader3", amount=10**15),  # more than it has
        tx(Trade, "trader2", instrument=PERP.name, maker="trader3", side=Side.BUY,
           price=price, size=lot),
        tx(Transfer, "trader3", to="trader3", amount=1),  # to oneself
        tx(CancelOrder, "trader1", instrument=PERP.name, order=1),
        tx(Transfer, "trader3", to="trader1", amount=1_000),
        tx(PlaceOrder, "trader2", side=Side.BUY, **order),
        tx(Withdraw, "trader3", amount=1_000),
    ]  # fmt: skip


def test_one_kernel_call_of_every_kind_with_failures_between_equals_the_handlers() -> None:
    ex = _market()
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    built = builder.build(ex.state, ex.height + 1, ex.time + 60, _orders_and_funds(ex))
    block = built.block
    assert len(block.txs) <= MAX_CHUNK
    kinds = Counter(type(tx).__name__ for tx in block.txs)
    assert len(kinds) >= 7 and kinds["SettleFill"] and kinds["Trade"], kinds
    want = SequentialExecutor(ex.machine).execute(ex.state, block)
    got = SequentialExecutor(compiled).execute(replica, block)
    _same(got, want, block)
    failed = [type(tx).__name__ for tx, r in zip(block.txs, got.receipts, strict=True) if not r.ok]
    assert Counter(failed) == {"PlaceOrder": 1, "CancelOrder": 1, "Withdraw": 1, "Transfer": 1}
    assert [receipt.index for receipt in got.receipts] == list(range(len(block.txs)))
    engine = compiled.batch_runner
    assert isinstance(engine, CompiledEngine) and engine.fallbacks == 0
    assert engine.timings.kernel_txs == len(block.txs)


def test_a_placement_repeating_an_order_of_its_batch_leaves_the_order_to_the_first() -> None:
    """Two placements of the same order (account and nonce) in one batch: the first opens
    it, the second fails on its nonce. The order stays known by its name, to a cancel in the
    next block and to one later in the same batch, as the handlers know it."""
    ex = _market()
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    first = ex.nonces["trader1"]
    order = {"instrument": PERP.name, "price": 50_000 * 10**6, "size": PERP.lot_size}

    def place(nonce: int) -> PlaceOrder:
        return PlaceOrder(sender="trader1", nonce=nonce, side=Side.SELL, **order)

    def cancel(nonce: int, placed: int) -> CancelOrder:
        return CancelOrder(sender="trader1", nonce=nonce, instrument=PERP.name, order=placed)

    blocks = [
        (place(first), place(first)),
        (cancel(first + 1, first),),
        (place(first + 2), place(first + 2), cancel(first + 3, first + 2)),
    ]
    oks = []
    for number, txs in enumerate(blocks, start=1):
        block = Block(ex.height + number, ex.time + 60 * number, txs)
        want = SequentialExecutor(ex.machine).execute(ex.state, block)
        got = SequentialExecutor(compiled).execute(replica, block)
        _same(got, want, block)
        oks.append([receipt.ok for receipt in got.receipts])
    assert oks == [[True, False], [True], [True, False, True]]


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_block=st.sampled_from([20, 80]))
def test_random_flow_with_placements_repeated_in_their_block_agrees(
    seed: int, per_block: int
) -> None:
    """Random order flow built into blocks (fills and closes of the block's own orders
    after them), each block with a few of its placements repeated later in it: the engines
    agree block after block."""
    ex = _market()
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow, rng = Flow(seed, dict(ex.nonces)), random.Random(seed)
    deferred: list[Transaction] = []
    repeated = 0
    for number in range(4):
        height = ex.height + 1 + number
        orders = deferred + flow.batch(per_block, height)
        built = builder.build(ex.state, height, ex.time + 60 * height, orders)
        deferred, txs = built.deferred, list(built.block.txs)
        placed = [tx for tx in txs if isinstance(tx, PlaceOrder)]
        for tx in rng.sample(placed, min(3, len(placed))):
            txs.insert(rng.randint(txs.index(tx) + 1, len(txs)), tx)
            repeated += 1
        block = Block(built.block.height, built.block.time, tuple(txs))
        want = SequentialExecutor(ex.machine).execute(ex.state, block)
        got = SequentialExecutor(compiled).execute(replica, block)
        _same(got, want, block)
    assert repeated
