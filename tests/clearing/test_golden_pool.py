"""Golden vectors of a workload with options-pool activity: LP flows, SVI quotes, trades
against the pool and its hedges, pinned by state root and receipts after every block.

Regenerated together with ``golden_blocks.json`` by ``python -m tests.clearing.test_golden``
(only for a deliberate change of results; say why in the commit).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from paraclear.clearing import ClearingMachine
from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.machine import ENGINES, Engine
from paraclear.clearing.records import HouseConfig
from paraclear.execution import execute_block
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import keys as k

from .test_golden import Golden, Step, receipts_hash

GOLDEN_POOL = Path(__file__).parent.parent / "data" / "golden_pool_blocks.json"
CONFIG = WorkloadConfig(seed=11, accounts=12, txs_per_block=40, block_seconds=120, pool_share=0.4)


def generate() -> Golden:
    workload = Workload(CONFIG)
    state = workload.genesis()
    machine = ClearingMachine()
    steps = []
    blocks = [workload.setup_block()]
    for _ in range(8):
        result = execute_block(state, blocks[-1], machine)
        steps.append(Step(blocks[-1], result.state_root.hex(), receipts_hash(result)))
        blocks.append(workload.next_block(state))
    return Golden(msgspec.convert(state.data[k.CONFIG], HouseConfig), steps)


def write() -> None:
    GOLDEN_POOL.write_bytes(msgspec.json.format(msgspec.json.encode(generate()), indent=1))
    print(f"wrote {GOLDEN_POOL}")


@pytest.mark.parametrize("engine", ENGINES)
def test_golden_pool_blocks_reproduce_their_roots_and_receipts(engine: Engine) -> None:
    golden = msgspec.json.decode(GOLDEN_POOL.read_bytes(), type=Golden)
    state = genesis_state(golden.config)
    machine = ClearingMachine(engine=engine)
    outcomes = set()
    for step in golden.steps:
        result = execute_block(state, step.block, machine)
        assert result.state_root.hex() == step.state_root, f"block {step.block.height}"
        assert receipts_hash(result) == step.receipts_hash, f"block {step.block.height}"
        outcomes |= {r.error.code if r.error else "ok" for r in result.receipts}
    kinds = {type(tx).__name__ for step in golden.steps for tx in step.block.txs}
    assert kinds >= {"ConfigurePool", "PoolDeposit", "PoolWithdraw", "PoolTrade", "PoolHedge"}
    assert any(
        tx.surface for step in golden.steps for tx in step.block.txs if hasattr(tx, "surface")
    )
    assert "ok" in outcomes and len(outcomes) > 2


if __name__ == "__main__":
    write()
