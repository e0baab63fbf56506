"""``CompiledEngine.timings``: the engine's parts are timed, do not overlap, and stay within
the block run's execution time; the kernels count what they ran (no timing is asserted)."""

from __future__ import annotations

from paraclear.bench.blocks import OrderBlocks
from paraclear.clearing import ClearingMachine
from paraclear.clearing.kernels.engine import KERNEL_TYPES, CompiledEngine
from paraclear.clearing.kernels.timings import PARTS, EngineTimings
from paraclear.execution import execute_block


def test_the_engines_parts_add_up_within_execution_block_after_block():
    source = OrderBlocks(accounts=30, txs=150)
    machine = ClearingMachine(source.workload.model, engine="compiled")
    engine = machine.batch_runner
    assert isinstance(engine, CompiledEngine)
    state = source.workload.genesis()
    execute_block(state, source.setup_block(), machine)
    assert engine.timings.loads > 0 and engine.timings.reference > 0  # listings, deposits
    for _ in range(3):
        block = source.next_block(state)
        before, fallbacks = engine.timings.copy(), engine.fallbacks
        metrics = execute_block(state, block, machine).metrics
        spent = engine.timings.since(before)
        assert all(getattr(spent, part) >= 0 for part in PARTS)
        assert spent.glue > 0 and spent.kernels > 0 and spent.receipts > 0 and spent.flush > 0
        assert spent.seconds <= metrics.execute_seconds - metrics.access_seconds
        others = sum(not isinstance(tx, KERNEL_TYPES) for tx in block.txs)
        assert spent.kernel_txs + engine.fallbacks - fallbacks + others == len(block.txs)
        assert 1 <= spent.kernel_calls <= spent.kernel_txs
        assert spent.kernel_tps == spent.kernel_txs / spent.kernels


def test_since_a_copy_is_the_difference_and_a_fresh_record_has_no_kernel_rate():
    later = EngineTimings(glue=3.0, kernels=2.0, kernel_txs=10, kernel_calls=2)
    earlier = EngineTimings(glue=1.0, kernels=1.5, kernel_txs=4, kernel_calls=1)
    spent = later.since(earlier.copy())
    assert (spent.glue, spent.kernels, spent.kernel_txs, spent.kernel_calls) == (2.0, 0.5, 6, 1)
    assert spent.seconds == 2.5 and spent.kernel_tps == 12.0
    assert EngineTimings().kernel_tps is None
