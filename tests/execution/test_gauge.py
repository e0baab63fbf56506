"""Whether spreading a block pays, measured (``SpreadGauge``), and the parallel executor
that plans with it: any sequence of decisions gives the sequential executor's result."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.execution import BlockResult, ParallelExecutor, SpreadGauge, execute_block
from paraclear.execution.access_batch import AccessBatch
from paraclear.execution.schedule import may_spread, plan_batch
from paraclear.state import State

from .universe import BatchedMockMachine, MockMachine, random_block

MACHINE = MockMachine()
BATCHED = BatchedMockMachine()


def test_the_gauge_takes_the_model_at_its_word_until_it_has_measured_both_sides():
    gauge = SpreadGauge(patience=10.0, min_gap=2, weight=0.5)
    assert gauge.factor() == 1.0
    gauge.observe(True, 9.0, 500.0, 1_000, counted=False)  # its workers were started
    assert gauge.factor() == 1.0 and gauge.spread_rate is None
    gauge.observe(True, 1.0, 500.0, 1_000)  # 2 ms a unit of the model's cost
    assert gauge.spread_rate == pytest.approx(0.002)
    assert gauge.factor() == math.inf  # now one run here, to measure that side
    gauge.observe(False, 5.0, 500.0, 1_000, counted=False)  # the runner here reloaded
    assert gauge.factor() == math.inf and gauge.here_rate is None
    gauge.observe(False, 0.5, 500.0, 1_000)  # 0.5 ms a transaction
    assert gauge.factor() == pytest.approx(4.0)
    # The probe's three blocks took 15 s where running them here takes 1.5 s.
    assert gauge.overhead == pytest.approx(13.5)


def test_blocks_the_model_would_not_spread_teach_the_gauge_nothing():
    gauge = SpreadGauge()
    gauge.observe(True, 1.0, 1_000.0, 1_000)  # cost not below the transactions
    gauge.observe(False, 1.0, 2_000.0, 10)
    gauge.observe(False, 1.0, 5.0, 0)
    gauge.observe(True, 1.0, 0.0, 10)  # one worker: no model cost, nothing to weigh
    assert gauge.spread_rate is None and gauge.here_rate is None and gauge.factor() == 1.0


def test_the_gauge_probes_again_once_declined_blocks_took_patience_times_the_last_probe():
    gauge = SpreadGauge(patience=10.0, min_gap=3, weight=1.0)
    gauge.observe(True, 3.0, 500.0, 1_000)  # spreading costs 3 s a block
    gauge.observe(False, 1.0, 500.0, 1_000, counted=False)  # and the reload after it
    gauge.observe(False, 1.0, 500.0, 1_000)  # 1 s a block here
    assert gauge.overhead == pytest.approx(2.0) and gauge.factor() == pytest.approx(6.0)
    for _ in range(19):  # 19 s declined, under 10 x 2 s
        gauge.observe(False, 1.0, 500.0, 1_000)
        assert not gauge.probing
    gauge.observe(False, 1.0, 500.0, 1_000)
    assert gauge.probing and gauge.factor() == 1.0
    gauge.observe(True, 0.4, 500.0, 1_000)  # spreading pays now (a quieter box)
    assert not gauge.probing and gauge.factor() == pytest.approx(0.8)


def test_probes_that_change_nothing_come_ever_more_rarely_until_spreading_pays():
    gauge = SpreadGauge(patience=4.0, min_gap=1, weight=1.0, backoff=2.0, max_patience=16.0)

    def probe(spread_seconds: float) -> None:
        """A probe: one spread block, then the block here that closes it (1 s a block)."""
        assert gauge.probing
        gauge.observe(True, spread_seconds, 500.0, 1_000)
        gauge.observe(False, 1.0, 500.0, 1_000)

    def declined_until_probe() -> int:
        seconds = 0
        while not gauge.probing:
            gauge.observe(False, 1.0, None, 1_000)
            seconds += 1
        return seconds

    probe(3.0)  # overhead 2 s: spreading costs three times running here
    waits = []
    for _ in range(4):
        waits.append(declined_until_probe())
        probe(3.0)
    assert waits == [8, 16, 32, 32]  # 4, 8, 16 and 16 (the most) times the 2 s overhead
    assert declined_until_probe() == 32
    probe(0.25)  # spreading pays now: the factor spreads the next block
    assert gauge.factor() < 1
    gauge.observe(True, 0.5, 500.0, 1_000)
    assert gauge.wait == 4.0  # back to the patience


def test_bad_backoffs_and_samples_are_refused():
    with pytest.raises(ValueError, match="backoff"):
        SpreadGauge(backoff=0.5)
    with pytest.raises(ValueError, match="sample_every"):
        SpreadGauge(sample_every=0)
    with pytest.raises(ValueError, match="max_patience"):
        SpreadGauge(patience=20.0, max_patience=10.0)


def test_the_gauge_never_probes_before_min_gap_blocks():
    gauge = SpreadGauge(patience=0.001, min_gap=4, weight=1.0)
    gauge.observe(True, 0.9, 500.0, 1_000)
    gauge.observe(False, 0.1, 500.0, 1_000)  # the probe cost nothing over running here
    for _ in range(3):
        gauge.observe(False, 0.1, 500.0, 1_000)
        assert not gauge.probing
    gauge.observe(False, 0.1, 500.0, 1_000)
    assert gauge.probing


def test_blocks_run_unplanned_count_towards_the_patience_and_move_no_rate():
    gauge = SpreadGauge(patience=10.0, min_gap=3, weight=1.0)
    gauge.observe(True, 3.0, 500.0, 1_000)
    assert gauge.measuring  # the probe waits for a counted block here, with its cost
    gauge.observe(False, 1.0, None, 1_000)  # unplanned: it cannot close the probe
    assert gauge.measuring and gauge.here_rate is None and gauge.declined == 0
    gauge.observe(False, 1.0, 500.0, 1_000)
    assert not gauge.measuring and gauge.factor() == pytest.approx(6.0)
    assert gauge.overhead == pytest.approx(2.0)
    gauge.observe(False, 50.0, None, 1_000, counted=False)  # paid for a reload: not counted
    assert gauge.spent == 0.0
    for _ in range(19):
        gauge.observe(False, 1.0, None, 1_000)
        assert not gauge.probing and gauge.here_rate == pytest.approx(0.001)
    gauge.observe(False, 1.0, None, 1_000)  # 20 s declined: 10 x the last probe's 2 s
    assert gauge.probing and gauge.factor() == 1.0


def test_bad_gauge_settings_and_cost_factors_are_refused():
    with pytest.raises(ValueError, match="patience"):
        SpreadGauge(patience=0.0)
    with pytest.raises(ValueError, match="min_gap"):
        SpreadGauge(min_gap=0)
    with pytest.raises(ValueError, match="weight"):
        SpreadGauge(weight=0.0)
    batch = AccessBatch.of(
        [MACHINE.access(tx) for tx in random_block(random.Random(1), 20, 100).txs]
    )
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="cost_factor"):
            plan_batch(batch, 2, cost_factor=bad)
    with pytest.raises(ValueError, match="spread"):
        ParallelExecutor(MACHINE, 2, spread="always")  # type: ignore[arg-type]


def test_the_cost_factor_scales_the_models_cost_of_spreading():
    block = random_block(random.Random(2), 400, 10_000)
    batch = AccessBatch.of([MACHINE.access(tx) for tx in block.txs])
    model = plan_batch(batch, 2)
    assert model.spread and 0 < model.cost < len(block.txs)
    just_under = len(block.txs) / model.cost * 0.99
    assert plan_batch(batch, 2, cost_factor=just_under).spread
    declined = plan_batch(batch, 2, cost_factor=just_under / 0.98, place_unspread=False)
    assert not declined.spread and not declined.placed and declined.cost == model.cost
    assert not plan_batch(batch, 2, cost_factor=math.inf).spread


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 24), workers=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_a_block_may_spread_says_cannot_be_spread_is_never_spread(size, workers, seed):
    block = random_block(random.Random(seed), size, 10_000)
    schedule = plan_batch(AccessBatch.of([MACHINE.access(tx) for tx in block.txs]), workers)
    assert schedule.spread <= may_spread(size, workers)
    assert may_spread(size, workers) == (size * (workers - 1) > 4 * workers)


def _same(got: BlockResult, expected: BlockResult) -> bool:
    return got.consensus_bytes() == expected.consensus_bytes()


class ScriptedGauge(SpreadGauge):
    """A gauge whose factors are given, one per block, and which records what it saw."""

    def __init__(self, factors: list[float]) -> None:
        super().__init__()
        self.factors = list(factors)
        self.seen: list[tuple[bool, bool]] = []

    def factor(self) -> float:
        return self.factors.pop(0)

    def observe(self, spread, seconds, cost, txs, *, counted=True):
        self.seen.append((spread, counted))


def test_a_block_the_measured_factor_declines_runs_here_and_the_workers_stop():
    rng = random.Random(4)
    sequential, parallel = State(), State()
    gauge = ScriptedGauge([1.0, 1.0, 50.0, 50.0, 1.0, 1.0])
    with ParallelExecutor(BATCHED, 2, "threads", gauge=gauge) as executor:
        for height in range(1, 7):
            block = random_block(rng, 150, 10_000, height=height)
            expected = execute_block(sequential, block, MACHINE)
            got = executor.execute(parallel, block)
            assert got.consensus_bytes() == expected.consensus_bytes()
            assert parallel.data == sequential.data
            metrics = got.metrics.parallel
            assert metrics.spread == (height not in (3, 4))
            assert metrics.cost_factor == (50.0 if height in (3, 4) else 1.0)
            assert (metrics.per_worker == []) == (height in (3, 4))
            if height == 5:  # the workers were stopped at block 3, so started again
                assert metrics.started_workers
    # Counted: spread blocks on warm workers, blocks here after a block here.
    assert gauge.seen == [
        (True, False),
        (True, True),
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    ]


def test_once_the_factor_rules_out_every_schedule_blocks_run_unplanned():
    rng = random.Random(8)
    sequential, parallel = State(), State()
    gauge = SpreadGauge(patience=1e9, weight=1.0)
    with ParallelExecutor(BATCHED, 2, "threads", gauge=gauge) as executor:
        for height in range(1, 9):
            if height == 3:  # blocks 1 and 2 probed; now spreading measures very dear
                gauge.spread_rate = 1e6
            if height == 6:
                gauge.observe(True, 1e6, 50.0, 100)  # a probe opens: plan until it closes
            measuring = gauge.measuring
            block = random_block(rng, 120, 10_000, height=height, fail_rate=0.1)
            expected = execute_block(sequential, block, MACHINE)
            got = executor.execute(parallel, block)
            assert got.consensus_bytes() == expected.consensus_bytes()
            assert parallel.data == sequential.data
            metrics = got.metrics.parallel
            # Blocks 3 and 4 close the probe of blocks 1 and 2 (block 3, right after spread
            # ones, does not count), block 6 the one opened before it: planned, run here.
            unplanned = height in (5, 7, 8)
            assert measuring == (height in (2, 3, 4, 6))
            assert metrics.planned == (not unplanned) and metrics.spread == (height < 3)
            assert (metrics.dag is None) == unplanned
            if height >= 3:
                assert metrics.cost_factor >= 2 and executor._pool is None
            if unplanned:
                assert metrics.access_seconds == metrics.dag_seconds == 0.0
    assert not gauge.measuring and gauge.declined == 2  # blocks 7 and 8, since block 6


def test_a_block_too_small_to_spread_leaves_the_next_one_to_pay_for_the_reload():
    rng = random.Random(10)
    sequential, parallel = State(), State()
    gauge = ScriptedGauge([1.0, 1.0, 50.0, 50.0, 50.0])
    with ParallelExecutor(BATCHED, 2, "threads", gauge=gauge) as executor:
        for height, size in enumerate((150, 150, 1, 150, 150), start=1):
            block = random_block(rng, size, 10_000, height=height)
            got = executor.execute(parallel, block)
            assert (
                got.consensus_bytes() == execute_block(sequential, block, MACHINE).consensus_bytes()
            )
    # Block 3 (one transaction, which the model would never spread) ran here unplanned after
    # spread blocks and taught nothing; it may not have caught the runner here up, so block
    # 4 does not count either.
    assert gauge.seen == [(True, False), (True, True), (False, False), (False, True)]


def test_blocks_that_leave_nothing_to_spread_are_planned_one_in_sample_every():
    rng = random.Random(12)
    sequential, parallel = State(), State()
    gauge = SpreadGauge(contended_after=2, sample_every=3)
    planned = []
    with ParallelExecutor(BATCHED, 2, "threads", gauge=gauge) as executor:
        for height, (size, keys) in enumerate([(60, 2)] * 10 + [(150, 10_000)] * 2, start=1):
            block = random_block(rng, size, keys, height=height, fail_rate=0.1)
            got = executor.execute(parallel, block)
            assert _same(got, execute_block(sequential, block, MACHINE))
            assert parallel.data == sequential.data
            metrics = got.metrics.parallel
            planned.append(metrics.planned)
            assert metrics.spread == (height > 10)  # the gauge's first probe: two blocks
            assert (metrics.dag is None) == (not metrics.planned)
    # Two contended blocks planned, then one in three until block 11, which is planned and
    # could be spread: planning goes on.
    assert planned[:10] == [True, True, False, False, True, False, False, True, False, False]
    assert planned[10:] == [True, True] and gauge.contended == 0


def test_a_block_too_small_to_spread_runs_unplanned_and_the_workers_follow_it():
    rng = random.Random(14)
    sequential, parallel = State(), State()
    with ParallelExecutor(BATCHED, 2, "threads") as executor:
        for height, size in enumerate((150, 3, 1), start=1):
            block = random_block(rng, size, 10_000, height=height)
            got = executor.execute(parallel, block)
            assert _same(got, execute_block(sequential, block, MACHINE))
            assert got.metrics.parallel.planned == (height == 1)
            assert executor._pool is not None  # the probe's workers follow the small blocks
    assert not may_spread(3, 2) and parallel.data == sequential.data


def test_a_fault_is_injected_whatever_the_gauge_says():
    gauge = ScriptedGauge([math.inf] * 3)
    sequential, parallel = State(), State()
    rng = random.Random(6)
    with ParallelExecutor(BATCHED, 2, "threads", gauge=gauge) as executor:
        block = random_block(rng, 120, 10_000, height=1)
        executor.inject_fault(1, 5)
        got = executor.execute(parallel, block)
        assert got.consensus_bytes() == execute_block(sequential, block, MACHINE).consensus_bytes()
        assert got.metrics.parallel.fallback is not None and "lost" in got.metrics.parallel.fallback
        assert gauge.factors == [math.inf] * 3  # the gauge was not asked


@settings(max_examples=12, deadline=None)
@given(
    factors=st.lists(st.sampled_from([0.5, 1.0, 3.0, math.inf]), min_size=6, max_size=6),
    keys=st.sampled_from([2, 50, 1_000, 10_000]),
    seed=st.integers(0, 2**16),
)
def test_any_sequence_of_spread_decisions_gives_the_sequential_result(factors, keys, seed):
    rng = random.Random(seed)
    sequential, parallel = State(), State()
    with ParallelExecutor(BATCHED, 2, "threads", gauge=ScriptedGauge(factors)) as executor:
        for height in range(1, 7):
            block = random_block(rng, 100, keys, height=height, fail_rate=0.1)
            expected = execute_block(sequential, block, MACHINE)
            got = executor.execute(parallel, block)
            assert got.receipts == expected.receipts
            assert got.write_set == expected.write_set
            assert got.state_root == expected.state_root == sequential.root()
            assert parallel.data == sequential.data
