"""The block builder: orders matched in their books and settled in the same block.

Random order flow (every order type, cancels, amends, good-til-block, reduce-only, orders
that fail margin) goes through the builder block after block. After every block:

* the executors' receipts and write set equal the builder's dry run (sequential and
  parallel executors alike);
* the clearing invariants hold (reservations included);
* every open order in state rests in its book with the same open size, and the reverse;
* serial and parallel matching build the same blocks.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.api.views import order_id, parse_order_id
from paraclear.chain.builder import BlockBuilder
from paraclear.clearing import ENGINES, ClearingMachine, Engine
from paraclear.clearing.invariants import check_invariants
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    OracleUpdate,
    OrderType,
    PlaceOrder,
    SettleExpiry,
    Side,
    Transaction,
)
from paraclear.execution import ParallelExecutor, SequentialExecutor
from paraclear.market import ParallelMatcher, SerialMatcher
from paraclear.state import State
from tests.clearing.harness import CALL, EXPIRY, ONE, PERP, PUT, Exchange, usd

INSTRUMENTS = (PERP, CALL, PUT)
ACCOUNTS = tuple(f"trader{i}" for i in range(8))


def _market() -> Exchange:
    ex = Exchange().market(index=60_000)
    ex.fund(**{a: 2_000_000 if i % 4 else 300 for i, a in enumerate(ACCOUNTS)})
    return ex


class Flow:
    """Random order transactions with correct nonces, remembering which orders exist."""

    def __init__(self, seed: int, nonces: dict[str, int]) -> None:
        self.rng = random.Random(seed)
        self.nonces = dict(nonces)
        self.placed: list[tuple[str, int, str]] = []

    def tx(self, cls: type[Any], sender: str, **fields: Any) -> Transaction:
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        tx: Transaction = cls(sender=sender, nonce=nonce, **fields)
        return tx

    def batch(self, count: int, height: int) -> list[Transaction]:
        rng = self.rng
        txs: list[Transaction] = []
        for _ in range(count):
            sender = rng.choice(ACCOUNTS)
            roll = rng.random()
            if roll < 0.15 and self.placed:
                account, nonce, name = rng.choice(self.placed)
                txs.append(self.tx(CancelOrder, account, instrument=name, order=nonce))
            elif roll < 0.25 and self.placed:
                account, nonce, name = rng.choice(self.placed)
                inst = next(i for i in INSTRUMENTS if i.name == name)
                txs.append(
                    self.tx(
                        AmendOrder,
                        account,
                        order=nonce,
                        price=self._price(inst),
                        size=rng.randint(1, 5) * inst.lot_size * 10,
                    )
                )
            else:
                inst = rng.choice(INSTRUMENTS)
                kind = rng.choice(list(OrderType))
                tx = self.tx(
                    PlaceOrder,
                    sender,
                    instrument=inst.name,
                    side=rng.choice(list(Side)),
                    kind=kind,
                    price=self._price(inst),
                    size=rng.randint(1, 8) * inst.lot_size * 10,
                    reduce_only=rng.random() < 0.1,
                    good_til=height + rng.randint(0, 3) if rng.random() < 0.2 else 0,
                )
                self.placed.append((sender, tx.nonce, inst.name))
                txs.append(tx)
        return txs

    def _price(self, inst: Any) -> int:
        centre = 60_000 if inst is PERP else (4_000 if inst is CALL else 3_000)
        ticks = round(usd(centre) * self.rng.uniform(0.97, 1.03) / inst.tick_size)
        return int(ticks * inst.tick_size)


def _book_orders(matcher: SerialMatcher) -> dict[tuple[str, int], tuple[str, int]]:
    found = {}
    for name, book in matcher.books.items():
        for is_buy in (True, False):
            for order in book.resting(is_buy):
                found[parse_order_id(str(order.order_id))] = (name, order.remaining)
    return found


def _state_orders(state: State) -> dict[tuple[str, int], tuple[str, int]]:
    return {
        (key[1], int(key[3])): (value.instrument, value.remaining)
        for key, value in state.data.items()
        if key[0] == "acct" and key[2] == "order" and isinstance(value, OpenOrder)
    }


def _run(
    seed: int, blocks: int, per_block: int, executor: str, engine: Engine = "reference"
) -> list[bytes]:
    ex = _market()
    matcher = SerialMatcher()
    builder = BlockBuilder(
        ClearingMachine(ex.machine.margin_model, engine=engine), matcher, operator="oracle"
    )
    flow = Flow(seed, dict(ex.nonces))
    run_block = (
        SequentialExecutor(ex.machine)
        if executor == "sequential"
        else ParallelExecutor(ex.machine, workers=2, backend=executor, spread="model")  # type: ignore[arg-type]
    )
    roots = []
    deferred: list[Transaction] = []
    for height in range(ex.height + 1, ex.height + 1 + blocks):
        built = builder.build(
            ex.state, height, ex.time + 60 * height, deferred + flow.batch(per_block, height)
        )
        deferred = built.deferred
        result = run_block.execute(ex.state, built.block)
        assert built.unsettled == []  # marks do not move here: reservations cover every fill
        assert result.receipts == built.receipts
        assert result.write_set == built.writes
        assert check_invariants(ex.state) == []
        assert _book_orders(matcher) == _state_orders(ex.state)
        roots.append(result.state_root)
    return roots


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_block=st.sampled_from([5, 40, 120]))
def test_books_and_state_agree_after_every_block(seed: int, per_block: int) -> None:
    _run(seed, blocks=6, per_block=per_block, executor="sequential")


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_block=st.sampled_from([5, 40, 120]))
def test_the_compiled_dry_run_equals_the_reference_executor(seed: int, per_block: int) -> None:
    """The builder's dry run on the compiled engine (order operations and fills in
    batches) against the reference handlers executing the block it built."""
    _run(seed, blocks=6, per_block=per_block, executor="sequential", engine="compiled")


@pytest.mark.parametrize("backend", ["inline", "threads"])
def test_parallel_executor_matches_the_dry_run(backend: str) -> None:
    assert _run(7, blocks=5, per_block=80, executor=backend) == _run(
        7, blocks=5, per_block=80, executor="sequential"
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_committing_the_dry_run_equals_executing_the_block(engine: Engine) -> None:
    ex = _market()
    machine = ClearingMachine(ex.machine.margin_model, engine=engine)
    builder = BlockBuilder(machine, SerialMatcher(), operator="oracle")
    flow = Flow(11, dict(ex.nonces))
    replica = ex.state.copy()
    for height in range(ex.height + 1, ex.height + 6):
        built = builder.build(ex.state, height, ex.time + 60 * height, flow.batch(60, height))
        committed = built.commit(ex.state)
        executed = SequentialExecutor(ex.machine).execute(replica, built.block)
        assert committed.consensus_bytes() == executed.consensus_bytes()
        assert committed.metrics.execute_seconds == built.run_seconds > 0
        assert ex.state.root() == replica.root()
    assert _book_orders(builder.matcher) == _state_orders(ex.state)  # type: ignore[arg-type]
    if isinstance(machine.batch_runner, CompiledEngine):
        assert machine.batch_runner.loads == 1  # its tables followed every committed block


def test_parallel_matching_builds_the_same_blocks() -> None:
    def blocks(matcher: Any) -> list[Any]:
        ex = _market()
        builder = BlockBuilder(ex.machine, matcher, operator="oracle")
        flow = Flow(3, dict(ex.nonces))
        built_blocks = []
        for height in range(ex.height + 1, ex.height + 5):
            built = builder.build(ex.state, height, ex.time + 60 * height, flow.batch(100, height))
            SequentialExecutor(ex.machine).execute(ex.state, built.block)
            built_blocks.append(built.block)
        return built_blocks

    with ParallelMatcher(processes=2) as parallel:
        assert blocks(parallel) == blocks(SerialMatcher())


def test_a_crossing_order_is_filled_in_its_own_block() -> None:
    ex = _market()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(0, dict(ex.nonces))
    maker, taker = ACCOUNTS[1], ACCOUNTS[2]
    price = usd(60_000)
    txs = [
        flow.tx(PlaceOrder, maker, instrument=PERP.name, side=Side.SELL, price=price, size=ONE),
        flow.tx(
            PlaceOrder, taker, instrument=PERP.name, side=Side.BUY, kind=OrderType.IOC,
            price=price + usd(10), size=2 * ONE,
        ),
    ]  # fmt: skip
    built = builder.build(ex.state, ex.height + 1, ex.time + 60, txs)
    kinds = [type(tx).__name__ for tx in built.block.txs]
    assert kinds == ["PlaceOrder", "PlaceOrder", "SettleFill", "CloseOrder"]
    result = SequentialExecutor(ex.machine).execute(ex.state, built.block)
    assert all(r.ok for r in result.receipts)
    assert ex.size(taker, PERP) == ONE and ex.size(maker, PERP) == -ONE
    assert _state_orders(ex.state) == {}  # the maker filled, the taker's rest closed
    assert ex.get(("acct", taker, "reserved")) is None


def test_a_reduce_only_order_rests_capped_by_its_accounts_position() -> None:
    """The builder hands the book the account's position for reduce-only orders, placed
    and amended: a long of one contract rests a reduce-only sell of three as one."""
    ex = _market()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(0, dict(ex.nonces))
    long, short = ACCOUNTS[1], ACCOUNTS[2]
    price = usd(60_000)

    def block(*txs: Transaction) -> None:
        built = builder.build(ex.state, ex.height + 1, ex.time + 60, list(txs))
        result = SequentialExecutor(ex.machine).execute(ex.state, built.block)
        assert all(r.ok for r in result.receipts)
        ex.height, ex.time = ex.height + 1, ex.time + 60

    block(
        flow.tx(PlaceOrder, short, instrument=PERP.name, side=Side.SELL, price=price, size=ONE),
        flow.tx(PlaceOrder, long, instrument=PERP.name, side=Side.BUY, price=price, size=ONE),
    )
    assert ex.size(long, PERP) == ONE
    reduce = flow.tx(
        PlaceOrder, long, instrument=PERP.name, side=Side.SELL, price=price + usd(500),
        size=3 * ONE, reduce_only=True,
    )  # fmt: skip
    block(reduce)
    assert _book_orders(builder.matcher) == {(long, reduce.nonce): (PERP.name, ONE)}
    assert _state_orders(ex.state) == _book_orders(builder.matcher)
    block(flow.tx(AmendOrder, long, order=reduce.nonce, price=price + usd(400), size=2 * ONE))
    assert _book_orders(builder.matcher) == {(long, reduce.nonce): (PERP.name, ONE)}
    assert _state_orders(ex.state) == _book_orders(builder.matcher)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fill_the_oracle_leaves_short_of_its_fee_is_left_out(engine: Engine) -> None:
    """An oracle update after two crossing call orders, in the same block, raises the
    option fee beyond what the buyer reserved: its settlement fails and is left out (the
    perpetual's fill before it stays), both call orders close, and the block executes to
    the dry run's writes."""
    ex = _market()
    ex.fund(lean=4_020)  # the call's premium and its fee at an index of 60,000 USDC
    machine = ClearingMachine(ex.machine.margin_model, engine=engine)
    builder = BlockBuilder(machine, SerialMatcher(), operator="oracle")
    flow = Flow(0, dict(ex.nonces))
    perp, call = usd(60_000), usd(4_000)

    def order(account: str, name: str, side: Side, price: int) -> Transaction:
        return flow.tx(PlaceOrder, account, instrument=name, side=side, price=price, size=ONE)

    txs = [
        order(ACCOUNTS[3], PERP.name, Side.SELL, perp),
        order(ACCOUNTS[5], PERP.name, Side.BUY, perp),
        order(ACCOUNTS[1], CALL.name, Side.SELL, call),
        order("lean", CALL.name, Side.BUY, call),
        flow.tx(
            OracleUpdate, "oracle", underlying="BTC", index_price=usd(200_000),
            atm_vol_ppm=600_000,
        ),
    ]  # fmt: skip
    built = builder.build(ex.state, ex.height + 1, ex.time + 60, txs)
    assert [settle.instrument for settle, _ in built.unsettled] == [CALL.name]
    kinds = [type(tx).__name__ for tx in built.block.txs[len(txs) :]]
    assert kinds == ["SettleFill", "CloseOrder", "CloseOrder"]
    result = SequentialExecutor(ex.machine).execute(ex.state, built.block)
    assert result.receipts == built.receipts and result.write_set == built.writes
    assert ex.size(ACCOUNTS[5], PERP) == ONE and ex.size("lean", CALL) == 0
    assert _book_orders(builder.matcher) == _state_orders(ex.state) == {}


def test_a_cancel_of_an_order_placed_in_the_same_block_waits() -> None:
    ex = _market()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(0, dict(ex.nonces))
    account = ACCOUNTS[1]
    place = flow.tx(
        PlaceOrder, account, instrument=PERP.name, side=Side.BUY, price=usd(50_000), size=ONE
    )
    cancel = flow.tx(CancelOrder, account, instrument=PERP.name, order=place.nonce)
    built = builder.build(ex.state, ex.height + 1, ex.time + 60, [place, cancel])
    assert built.block.txs == (place,) and built.deferred == [cancel]
    SequentialExecutor(ex.machine).execute(ex.state, built.block)
    again = builder.build(ex.state, ex.height + 2, ex.time + 120, built.deferred)
    assert again.block.txs == (cancel,) and again.receipts[0].ok
    SequentialExecutor(ex.machine).execute(ex.state, again.block)
    assert _state_orders(ex.state) == {}


def test_order_ids_round_trip() -> None:
    assert parse_order_id(order_id("ab-c", 12)) == ("ab-c", 12)
    with pytest.raises(ValueError):
        parse_order_id("nonce-less")


def test_expiry_closes_the_orders_and_retires_the_book() -> None:
    ex = _market()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(0, dict(ex.nonces))
    holder = ACCOUNTS[1]
    bid = flow.tx(
        PlaceOrder, holder, instrument=PUT.name, side=Side.BUY, price=usd(1_000), size=ONE
    )
    built = builder.build(ex.state, ex.height + 1, ex.time + 60, [bid])
    SequentialExecutor(ex.machine).execute(ex.state, built.block)
    assert builder.book_names == [PUT.name]
    ex.height += 1
    ex.nonces[holder] = flow.nonces[holder]
    ex.oracle(60_000, time=EXPIRY)
    settle = ex.tx(SettleExpiry, "oracle", instrument=PUT.name, accounts=(holder,))
    built = builder.build(ex.state, ex.height + 1, EXPIRY + 60, [settle])
    result = SequentialExecutor(ex.machine).execute(ex.state, built.block)
    assert result.receipts[0].ok, result.receipts[0].error
    assert built.delisted == [PUT.name] and builder.book_names == []
    assert PUT.name not in built.books and _state_orders(ex.state) == {}
    assert check_invariants(ex.state) == []
