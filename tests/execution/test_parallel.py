"""The parallel executor equals the sequential one, bit for bit, on the mock universe.

For every backend and worker count (1–4), over random seeds and contention levels (2 to
10,000 keys), blocks mixing failing transactions, undeclared (stray) accesses, optimistic
transactions and state-dependent accesses that defeat prediction: receipts, events, write
set and state root must equal the sequential executor's. Also with a worker killed mid-block.
"""

import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paraclear.execution import BACKENDS, Block, ParallelExecutor, execute_block
from paraclear.state import State

from .universe import BatchedMockMachine, MockMachine, MockTx, random_block

CONTENTION = [2, 10, 100, 1_000, 10_000]
MACHINE = MockMachine()


def run_side_by_side(executor, seed, keys, blocks=3, txs=120, kill=None, tree="compiled", **rates):
    """Run the same random blocks on both executors; return the parallel results.

    ``kill`` = (worker, after): that worker is lost mid-way through the second block.
    ``tree``: the kind of tree of the parallel executor's state."""
    rng = random.Random(seed)
    sequential, parallel = State(), State(tree=tree)
    results = []
    for height in range(1, blocks + 1):
        block = random_block(rng, txs, keys, height=height, **rates)
        if kill is not None and height == 2:
            executor.inject_fault(kill[0] % executor.workers, kill[1])
        expected = execute_block(sequential, block, MACHINE)
        got = executor.execute(parallel, block)
        assert got.receipts == expected.receipts
        assert got.events == expected.events
        assert got.write_set == expected.write_set
        assert got.state_root == expected.state_root == sequential.root()
        assert got.consensus_bytes() == expected.consensus_bytes()
        assert parallel.data == sequential.data
        results.append(got)
    return results


BATCHED = BatchedMockMachine()
"""The same universe with a batch runner: each worker runs its declared transactions in
batches of its own runner."""
RUNS = [(b, w, MACHINE) for b in BACKENDS for w in (1, 2, 3, 4)]
RUNS += [("threads", w, BATCHED) for w in (1, 2, 3, 4)] + [("inline", 3, BATCHED)]


@pytest.fixture(
    scope="module", params=RUNS, ids=lambda run: f"{run[0]}-{run[1]}-{type(run[2]).__name__}"
)
def executor(request):
    backend, workers, machine = request.param
    with ParallelExecutor(
        machine, workers, backend, unspread_sequential=False, spread="model"
    ) as executor:
        yield executor


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    keys=st.sampled_from(CONTENTION),
    fail_rate=st.sampled_from([0.0, 0.1, 0.5]),
    optimistic_rate=st.sampled_from([0.0, 0.2, 1.0]),
)
def test_parallel_equals_sequential(executor, seed, keys, fail_rate, optimistic_rate):
    run_side_by_side(executor, seed, keys, fail_rate=fail_rate, optimistic_rate=optimistic_rate)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("keys", CONTENTION)
@pytest.mark.parametrize("machine", [MACHINE, BATCHED], ids=["one-by-one", "batched"])
def test_every_contention_level_with_mispredicted_optimistic_transactions(backend, keys, machine):
    with ParallelExecutor(
        machine, 3, backend, unspread_sequential=False, spread="model"
    ) as executor:
        results = run_side_by_side(
            executor, keys, keys, blocks=4, optimistic_rate=0.5, dynamic_rate=0.2
        )
    fallbacks = [r.metrics.parallel.fallback for r in results]
    assert all(r.metrics.parallel.speculative_runs > 0 for r in results)
    # Either prediction held, or the block fell back and says why.
    assert all(reason is None or reason.startswith("mispredicted") for reason in fallbacks)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("machine", [MACHINE, BATCHED], ids=["one-by-one", "batched"])
def test_workers_over_a_reference_tree_reach_the_compiled_trees_roots(backend, machine):
    with ParallelExecutor(
        machine, 3, backend, unspread_sequential=False, spread="model"
    ) as executor:
        for keys in (10, 1_000):
            run_side_by_side(executor, keys, keys, blocks=3, tree="reference", fail_rate=0.1)


def test_a_misprediction_widens_the_prediction_and_runs_again():
    seen_odd = MockTx(id=1, sender=1, reads=(), writes=(4,), deltas=(), declared=True)
    # The second reads key 4 (31 × 5, odd, after the first wrote it) and so writes key 9,
    # which the prediction from the block-start state (key 4 absent, sum even) left out.
    dynamic = MockTx(id=2, sender=2, reads=(4,), writes=(), deltas=(), declared=False, dynamic=9)
    blocks = [(seen_odd, dynamic), (MockTx(id=3, sender=3, reads=(9,), writes=(1,), deltas=(0,)),)]
    for backend in BACKENDS:
        sequential, parallel = State(), State()
        with ParallelExecutor(
            MACHINE, 2, backend, unspread_sequential=False, spread="model"
        ) as executor:
            for height, txs in enumerate(blocks, start=1):
                block = Block(height=height, time=height, txs=txs)
                expected = execute_block(sequential, block, MACHINE)
                got = executor.execute(parallel, block)
                assert got.consensus_bytes() == expected.consensus_bytes()
                metrics = got.metrics.parallel
                assert metrics.fallback is None
                if height == 1:  # speculated once, then one aborted attempt of the block
                    assert metrics.attempts == 2
                    assert metrics.reexecutions == 1 + len(txs)
                else:
                    assert metrics.attempts == 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("victim, after", [(0, 0), (1, 7), (2, 40)])
@pytest.mark.parametrize("machine", [MACHINE, BATCHED], ids=["one-by-one", "batched"])
def test_a_worker_lost_mid_block_changes_nothing_and_the_pool_recovers(
    backend, victim, after, machine
):
    rng = random.Random(victim * 100 + after)
    sequential, parallel = State(), State()
    with ParallelExecutor(machine, 3, backend, spread="model") as executor:
        for height in range(1, 4):
            block = random_block(rng, 150, 1_000, height=height, optimistic_rate=0.2)
            if height == 2:
                executor.inject_fault(victim, after)
            expected = execute_block(sequential, block, MACHINE)
            got = executor.execute(parallel, block)
            assert got.consensus_bytes() == expected.consensus_bytes()
            reason = got.metrics.parallel.fallback
            if height == 2:
                assert reason is not None and reason.startswith("worker lost")
            else:
                assert reason is None


class FaultyOnThreads(MockMachine):
    """Raises (a bug, not a ``TxFailure``) in transaction ``id`` of block 2 on a worker
    thread only; on the coordinator's thread it runs as the mock does (the ids below run on
    a worker thread, not on worker 0)."""

    def __init__(self, id: int) -> None:
        self.id = id

    def apply(self, tx, view, ctx):
        on_worker = threading.current_thread().name.startswith("paraclear-shard")
        if tx.id == self.id and ctx.height == 2 and on_worker:
            raise RuntimeError(f"bug in transaction {tx.id}")
        return super().apply(tx, view, ctx)


@pytest.mark.parametrize("workers, victim", [(2, 17), (4, 13)])
def test_a_thread_that_raises_mid_block_falls_back_to_an_identical_block(workers, victim):
    rng = random.Random(workers)
    sequential, parallel = State(), State()
    with ParallelExecutor(FaultyOnThreads(victim), workers, "threads", spread="model") as executor:
        for height in (1, 2, 3):
            block = random_block(rng, 150, 10_000, height=height)
            expected = execute_block(sequential, block, MACHINE)
            got = executor.execute(parallel, block)
            assert got.consensus_bytes() == expected.consensus_bytes()
            assert parallel.data == sequential.data
            reason = got.metrics.parallel.fallback
            if height == 2:
                assert reason is not None
                assert f"RuntimeError('bug in transaction {victim}')" in reason
            else:
                assert reason is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_block_given_to_one_worker_runs_sequentially_here_with_the_same_result(backend):
    rng = random.Random(3)
    sequential, parallel = State(), State()
    started = []
    with ParallelExecutor(BATCHED, 2, backend, spread="model") as executor:
        # Fully contended blocks (2 keys) between spread ones (100 and 10,000 keys).
        for height, keys in enumerate((2, 10_000, 2, 100, 2, 2, 10_000), start=1):
            block = random_block(rng, 150, keys, height=height)
            expected = execute_block(sequential, block, MACHINE)
            got = executor.execute(parallel, block)
            assert got.consensus_bytes() == expected.consensus_bytes()
            assert parallel.data == sequential.data
            metrics = got.metrics.parallel
            assert metrics.fallback is None and metrics.spread == (keys > 2)
            assert (metrics.per_worker == []) == (keys == 2)  # no worker ran it
            started.append(metrics.started_workers)
    # The workers followed the blocks run here: started once, never reloaded.
    assert started == [False, True, False, False, False, False, False]


def test_state_changed_elsewhere_between_blocks_is_picked_up():
    rng = random.Random(5)
    sequential, parallel = State(), State()
    with ParallelExecutor(MACHINE, 2, "threads", spread="model") as executor:
        for height in range(1, 5):
            block = random_block(rng, 80, 50, height=height)
            expected = execute_block(sequential, block, MACHINE)
            if height == 3:  # another executor commits this block
                got = execute_block(parallel, block, MACHINE)
            else:
                got = executor.execute(parallel, block)
            assert got.consensus_bytes() == expected.consensus_bytes()


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="workers"):
        ParallelExecutor(MACHINE, 0)
    with pytest.raises(ValueError, match="workers"):
        ParallelExecutor(MACHINE, 17)
    with pytest.raises(ValueError, match="backend"):
        ParallelExecutor(MACHINE, 2, "fibers")  # type: ignore[arg-type]
    with (
        ParallelExecutor(MACHINE, 2, "inline", spread="model") as executor,
        pytest.raises(ValueError),
    ):
        executor.inject_fault(2, 0)


def test_metrics_explain_the_block():
    rng = random.Random(1)
    with ParallelExecutor(
        MACHINE, 2, "inline", unspread_sequential=False, spread="model"
    ) as executor:
        result = executor.execute(State(), random_block(rng, 200, 10))
    metrics = result.metrics.parallel
    assert metrics.dag.critical_path == len(metrics.dag.level_widths)
    assert sum(metrics.dag.level_widths) == 200
    assert metrics.dag.hot_locks and metrics.dag_seconds > 0
    assert len(metrics.busy_seconds) == 2
