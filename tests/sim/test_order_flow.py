"""Random order flow through the node's builder: every kind of order transaction, edits
that the builder never defers, few failures, and the same flow from the same seed."""

from __future__ import annotations

from collections import Counter

from paraclear.bench.blocks import OrderBlocks
from paraclear.clearing import ClearingMachine
from paraclear.clearing.invariants import check_invariants
from paraclear.execution import execute_block


def _blocks(seed: int, count: int) -> tuple[list[Counter[str]], list[float], list[bytes]]:
    source = OrderBlocks(accounts=40, txs=200, seed=seed)
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
