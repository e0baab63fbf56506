"""The clearing workload on the parallel executor equals the sequential executor, bit for bit.

Blocks mix trades, deposits, withdrawals, transfers, liquidations, oracle updates, funding
and expiry settlement, over 2 to 10,000 accounts, on every backend and 1–4 workers; also
with every transaction optimistic (declaring nothing) and with a worker killed mid-block.
"""

import pytest

from paraclear.clearing import ClearingMachine
from paraclear.execution import BACKENDS, Block, ParallelExecutor, execute_block
from paraclear.sim.workload import Workload, WorkloadConfig

from .side_by_side import fallbacks, side_by_side


def run(
    accounts, workers, backend, *, blocks=3, txs=80, declared=True, kill=None, engine="reference"
):
    return fallbacks(results_of(accounts, workers, backend, blocks, txs, declared, kill, engine))


def results_of(accounts, workers, backend, blocks, txs, declared, kill, engine):
    config = WorkloadConfig(
        seed=accounts + workers, accounts=accounts, txs_per_block=txs, hot_share=0.2
    )
    return side_by_side(
        config, workers, backend, blocks=blocks, declared=declared, kill=kill, engine=engine
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("workers", [1, 2, 3, 4])
@pytest.mark.parametrize("accounts", [2, 10, 100, 1_000, 10_000])
def test_clearing_blocks_equal_sequential(accounts, workers, backend):
    if accounts == 10_000 and backend == "inline" and workers > 2:
        pytest.skip("covered by the process backend at this size; keeps CI short")
    reasons = run(accounts, workers, backend)
    assert reasons == [None] * len(reasons)


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
@pytest.mark.parametrize("accounts", [2, 10, 100, 1_000, 10_000])
def test_compiled_workers_on_threads_equal_the_reference(accounts, workers):
    # Each worker runs its declared transactions in batches of a compiled engine of its own.
    results = results_of(accounts, workers, "threads", 3, 160, True, None, "compiled")
    assert fallbacks(results) == [None] * len(results)
    batched = [w.batched_txs for r in results for w in r.metrics.parallel.per_worker]
    hashed = [w.hashed_keys for r in results for w in r.metrics.parallel.per_worker]
    if accounts >= 100:  # the block is spread: every worker ran batches
        assert min(batched) > 0, batched
        assert sum(hashed) > 0, hashed  # and committed keys from its engine's rows


def test_compiled_workers_inline_equal_the_reference():
    assert run(1_000, 3, "inline", engine="compiled") == [None] * 3


@pytest.mark.parametrize("accounts", [2, 100, 1_000])
def test_compiled_workers_with_optimistic_transactions_equal_the_reference(accounts):
    run(accounts, 2, "threads", declared=False, engine="compiled")


def test_compiled_workers_survive_a_killed_worker():
    reasons = run(1_000, 3, "threads", kill=(1, 10), engine="compiled")
    assert reasons[0] is None and reasons[2] is None
    assert reasons[1] is not None and reasons[1].startswith("worker lost")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("accounts", [2, 100, 1_000])
def test_optimistic_clearing_blocks_equal_sequential(accounts, backend):
    run(accounts, 2, backend, declared=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clearing_block_survives_a_killed_worker(backend):
    reasons = run(1_000, 3, backend, kill=(1, 10))
    assert reasons[0] is None and reasons[2] is None
    assert reasons[1] is not None and reasons[1].startswith("worker lost")


def test_a_run_through_expiry_and_funding_equals_sequential():
    # The first expiry comes 15 blocks in; settlement, delisting and funding all run.
    run(100, 2, "threads", blocks=18, txs=40)


def test_blocks_run_in_the_coordinator_between_spread_ones_keep_every_engines_tables():
    # Each generated block split in three: its two oracle updates and then one transaction
    # (not worth spreading: they run on the executor's own engine, the updates on the
    # handlers alone) and the rest (spread over the workers).
    workload = Workload(WorkloadConfig(seed=5, accounts=1_000, txs_per_block=160))
    machine = ClearingMachine(workload.model)
    tested = ClearingMachine(workload.model, engine="compiled")
    sequential, parallel = workload.genesis(), workload.genesis()
    started = []
    with ParallelExecutor(tested, 2, "threads", spread="model") as executor:
        setup = workload.setup_block()
        execute_block(sequential, setup, machine)
        executor.execute(parallel, setup)
        for _ in range(3):
            whole = workload.next_block(sequential)
            for part in (whole.txs[:2], whole.txs[2:3], whole.txs[3:]):
                height = sequential.version + 1
                block = Block(height=height, time=whole.time, txs=part)
                expected = execute_block(sequential, block, machine)
                got = executor.execute(parallel, block)
                assert got.consensus_bytes() == expected.consensus_bytes()
                assert parallel.data == sequential.data
                assert got.metrics.parallel.spread == (len(part) > 2)
                started.append(got.metrics.parallel.started_workers)
        runner = executor._runner
        workers = executor._pool.workers
        # Loaded once each: the executor's engine caught up with the spread blocks, the
        # workers' engines and shards followed the blocks run in the coordinator.
        assert runner.loads == 1 and [w.runner.loads for w in workers] == [1, 1]
    assert started == [False] * 9  # started at the setup block, never again


def test_compiled_workers_over_order_flow_keep_no_key_that_is_gone():
    # Orders come and go: a worker's caches of tree paths and owners must not keep every
    # order key it ever committed (they did), and its commit from its engine's rows must
    # give the sequential executor's roots.
    from paraclear.bench.blocks import OrderBlocks

    source = OrderBlocks(100, 300)
    machine = ClearingMachine(source.workload.model, engine="compiled")
    sequential, parallel = source.workload.genesis(), source.workload.genesis()
    setup = source.setup_block()
    execute_block(sequential, setup, machine)
    with ParallelExecutor(machine, 2, "threads", spread="model") as executor:
        executor.execute(parallel, setup)
        hashed = 0
        for _ in range(6):
            block = source.next_block(sequential)
            expected = execute_block(sequential, block, machine)
            got = executor.execute(parallel, block)
            assert got.state_root == expected.state_root
            assert got.receipts == expected.receipts
            if got.metrics.parallel is not None:
                hashed += sum(w.hashed_keys for w in got.metrics.parallel.per_worker)
        workers = executor._pool.workers if executor._pool is not None else []
    assert parallel.data == sequential.data
    assert hashed > 0
    assert workers, "no block was spread over the workers"
    for worker in workers:
        assert set(worker.paths) <= set(worker.data), "paths kept for keys that are gone"
        assert all(len(lock) == 2 for lock in worker.owners), "owners kept by key"
