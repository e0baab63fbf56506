"""Golden vectors: a pre-state, blocks, and the expected root and receipts after each block,
reproduced by both engines (the reference handlers and the compiled kernels).

The vectors in ``tests/data/golden_blocks.json`` pin the encoding of state and the
semantics of every transaction type. Regenerate them only for a deliberate change:
``python -m tests.clearing.test_golden`` (and say why in the commit).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest

from paraclear.clearing import ClearingMachine
from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.machine import ENGINES, Engine
from paraclear.clearing.records import HouseConfig
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, BlockResult, execute_block
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state.codec import encode

GOLDEN = Path(__file__).parent.parent / "data" / "golden_blocks.json"


class Step(msgspec.Struct):
    block: Block[Transaction]
    state_root: str
    receipts_hash: str


class Golden(msgspec.Struct):
    config: HouseConfig
    steps: list[Step]


def receipts_hash(result: BlockResult) -> str:
    return hashlib.blake2b(encode(result.receipts), digest_size=32).hexdigest()


def generate() -> Golden:
    workload = Workload(WorkloadConfig(seed=7, accounts=12, txs_per_block=40, block_seconds=480))
    state = workload.genesis()
    machine = ClearingMachine()
    steps = []
    blocks = [workload.setup_block()]
    for _ in range(10):
        result = execute_block(state, blocks[-1], machine)
        steps.append(Step(blocks[-1], result.state_root.hex(), receipts_hash(result)))
        blocks.append(workload.next_block(state))
    config = msgspec.convert(state.data[("market", "config")], HouseConfig)
    return Golden(config, steps)


@pytest.mark.parametrize("engine", ENGINES)
def test_golden_blocks_reproduce_their_roots_and_receipts(engine: Engine) -> None:
    golden = msgspec.json.decode(GOLDEN.read_bytes(), type=Golden)
    state = genesis_state(golden.config)
    machine = ClearingMachine(engine=engine)
    outcomes = set()
    for step in golden.steps:
        result = execute_block(state, step.block, machine)
        assert result.state_root.hex() == step.state_root, f"block {step.block.height}"
        assert receipts_hash(result) == step.receipts_hash, f"block {step.block.height}"
        outcomes |= {r.error.code if r.error else "ok" for r in result.receipts}
    kinds = {type(tx).__name__ for step in golden.steps for tx in step.block.txs}
    assert kinds >= {
        "Deposit",
        "Withdraw",
        "Transfer",
        "ListInstrument",
        "OracleUpdate",
        "Trade",
        "Liquidate",
        "SettleExpiry",
        "Funding",
    }
    assert "ok" in outcomes and len(outcomes) > 2


if __name__ == "__main__":
    GOLDEN.write_bytes(msgspec.json.format(msgspec.json.encode(generate()), indent=1))
    print(f"wrote {GOLDEN}")
    from tests.clearing import test_golden_pool

    test_golden_pool.write()
