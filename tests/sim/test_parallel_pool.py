"""Blocks with options-pool activity (one hot lock) on the parallel executor equal the
sequential executor, bit for bit: LP flows, SVI quotes, trades against the pool, hedges."""

import pytest

from paraclear.execution import BACKENDS
from paraclear.sim.workload import WorkloadConfig

from .side_by_side import fallbacks, side_by_side


def run(accounts, workers, backend, pool_share, *, declared=True, blocks=3):
    config = WorkloadConfig(
        seed=accounts + workers, accounts=accounts, txs_per_block=80, pool_share=pool_share
    )
    results = side_by_side(config, workers, backend, blocks=blocks, declared=declared)
    pool_events = sum(type(e).__name__ == "PoolTraded" for r in results for e in r.events)
    assert pool_events > 0
    return fallbacks(results)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("accounts", "workers", "pool_share"), [(20, 2, 0.5), (500, 3, 0.1)])
def test_pool_blocks_equal_sequential(accounts, workers, pool_share, backend):
    assert run(accounts, workers, backend, pool_share) == [None] * 3  # ran in parallel


@pytest.mark.parametrize("backend", BACKENDS)
def test_optimistic_pool_blocks_equal_sequential(backend):
    run(100, 2, backend, 0.3, declared=False)
