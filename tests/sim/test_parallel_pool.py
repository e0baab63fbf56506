"""Blocks with options-pool activity (one hot lock) on the parallel executor equal the
sequential executor, bit for bit: LP flows, SVI quotes, trades against the pool, hedges."""

import pytest

from paraclear.clearing import ClearingMachine
from paraclear.clearing.invariants import check_invariants
from paraclear.execution import BACKENDS, ParallelExecutor, execute_block
from paraclear.sim.workload import Workload, WorkloadConfig


def side_by_side(accounts, workers, backend, pool_share, *, declared=True, blocks=3):
    config = WorkloadConfig(
        seed=accounts + workers, accounts=accounts, txs_per_block=80, pool_share=pool_share
    )
    workload = Workload(config)
    machine = ClearingMachine(workload.model, declared=declared)
    sequential, parallel = workload.genesis(), workload.genesis()
    pool_events, fallbacks = 0, []
    with ParallelExecutor(machine, workers, backend) as executor:
        setup = workload.setup_block()
        execute_block(sequential, setup, machine)
        executor.execute(parallel, setup)
        for _ in range(blocks):
            block = workload.next_block(sequential)
            expected = execute_block(sequential, block, machine)
            got = executor.execute(parallel, block)
            assert got.receipts == expected.receipts
            assert got.consensus_bytes() == expected.consensus_bytes()
            assert parallel.data == sequential.data
            pool_events += sum(type(e).__name__ == "PoolTraded" for e in got.events)
            fallbacks.append(got.metrics.details.get("fallback"))
    assert check_invariants(parallel) == []
    assert pool_events > 0
    return fallbacks


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("accounts", "workers", "pool_share"), [(20, 2, 0.5), (500, 3, 0.1)])
def test_pool_blocks_equal_sequential(accounts, workers, pool_share, backend):
    assert side_by_side(accounts, workers, backend, pool_share) == [None] * 3  # ran in parallel


@pytest.mark.parametrize("backend", BACKENDS)
def test_optimistic_pool_blocks_equal_sequential(backend):
    side_by_side(100, 2, backend, 0.3, declared=False)
