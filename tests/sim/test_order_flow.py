"""Random order flow through the node's builder: every kind of order transaction, edits
that the builder never defers, few failures, the same flow from the same seed, and orders
with a life that the builder expires, so that the books stop deepening."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from paraclear.bench.blocks import OrderBlocks
from paraclear.clearing import ClearingMachine
from paraclear.clearing.invariants import check_invariants
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import PlaceOrder
from paraclear.execution import execute_block
from paraclear.sim.order_flow import OrderFlow
from paraclear.state import State, StateView


def _open_orders(state: State) -> list[OpenOrder]:
    return [value for value in state.data.values() if isinstance(value, OpenOrder)]


def _blocks(
    seed: int, count: int, quote_life: int = 0, states: list[tuple[int, State]] | None = None
) -> tuple[list[Counter[str]], list[float], list[bytes]]:
    """``count`` blocks of the flow, each executed and checked against the builder's dry
    run; each block's height and a copy of the state after it go to ``states``."""
    source = OrderBlocks(accounts=40, txs=200, seed=seed, quote_life=quote_life)
    machine = ClearingMachine(source.workload.model)
    state = source.workload.genesis()
    execute_block(state, source.setup_block(), machine)
    kinds, failed, roots = [], [], []
    for _ in range(count):
        block = source.next_block(state)
        result = execute_block(state, block, machine)
        assert source.built is not None and source.built.deferred == []
        assert result.receipts == source.built.receipts
        assert result.state_root == source.root  # the dry run, committed to its own state
        assert check_invariants(state) == []
        kinds.append(Counter(type(tx).__name__ for tx in block.txs))
        failed.append(result.metrics.failed / len(block.txs))
        roots.append(result.state_root)
        if states is not None:
            states.append((block.height, state.copy()))
    return kinds, failed, roots


def test_order_flow_makes_every_order_transaction_and_the_builder_defers_none() -> None:
    kinds, failed, _ = _blocks(seed=3, count=4)
    last = kinds[-1]
    assert set(last) == {"PlaceOrder", "AmendOrder", "CancelOrder", "SettleFill", "CloseOrder"}
    assert last["PlaceOrder"] > last["AmendOrder"] > 0 and last["SettleFill"] > 0
    assert max(failed) < 0.05


def test_order_flow_blocks_come_near_the_size_asked() -> None:
    kinds, _, _ = _blocks(seed=3, count=4)
    assert all(150 <= sum(k.values()) <= 260 for k in kinds[1:])


def test_the_same_seed_gives_the_same_blocks() -> None:
    roots = _blocks(seed=5, count=3)[2]
    assert roots == _blocks(seed=5, count=3)[2]
    assert roots != _blocks(seed=6, count=3)[2]


def test_orders_with_a_life_are_expired_and_the_books_stop_deepening() -> None:
    """With a life of 2 blocks every open order in the state was placed in the last two
    blocks (its ``good_til`` not behind the height), the builder closes the rest as
    expired, and the books hold a fraction of what they hold without a life."""
    kept: list[tuple[int, State]] = []
    lasting: list[tuple[int, State]] = []
    kinds, _, _ = _blocks(seed=3, count=8, quote_life=2, states=kept)
    _blocks(seed=3, count=8, states=lasting)
    for height, state in kept:
        orders = _open_orders(state)
        assert orders and min(order.good_til for order in orders) >= height
        assert max(order.good_til for order in orders) == height + 1
    sizes = [len(_open_orders(state)) for _, state in kept]
    assert max(sizes[3:]) < 1.5 * min(sizes[3:])  # steady, not growing
    assert sizes[-1] < 0.5 * len(_open_orders(lasting[-1][1]))
    assert kinds[-1]["CloseOrder"] > 0


def test_a_life_dates_every_placement_and_needs_the_height() -> None:
    source = OrderBlocks(accounts=10, txs=20, seed=1)
    state = source.workload.genesis()
    execute_block(state, source.setup_block(), ClearingMachine(source.workload.model))
    workload = source.workload
    flow = OrderFlow(random.Random(1), workload.accounts, workload.instruments, {}, quote_life=5)
    txs = flow.batch(StateView(state.data), 50, height=12)
    placed = [tx for tx in txs if isinstance(tx, PlaceOrder)]
    assert placed and {tx.good_til for tx in placed} == {12 + 5 - 1}
    with pytest.raises(ValueError, match="height"):
        flow.batch(StateView(state.data), 5)
    with pytest.raises(ValueError, match="quote_life"):
        OrderFlow(random.Random(1), workload.accounts, workload.instruments, {}, quote_life=-1)
