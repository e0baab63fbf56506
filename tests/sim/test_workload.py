import pytest

from paraclear.clearing import ClearingMachine
from paraclear.execution import execute_block
from paraclear.sim.run import run_simulation
from paraclear.sim.workload import Workload, WorkloadConfig


@pytest.mark.parametrize(("accounts", "hot_share"), [(2, 0.0), (10, 0.5), (100, 0.9), (300, 0.0)])
def test_generated_blocks_keep_every_invariant_at_every_contention_level(accounts, hot_share):
    config = WorkloadConfig(
        seed=accounts, accounts=accounts, txs_per_block=80, hot_share=hot_share, block_seconds=240
    )
    report = run_simulation(config, blocks=18)  # 72 minutes: an expiry and an hourly funding
    assert report.invariants_ok, report.invariant_violations
    assert report.events["TradeSettled"] > 0
    assert report.events["ExpirySettled"] > 0  # the first expiry falls inside the run
    assert report.events["FundingPaid"] > 0


def test_same_seed_same_blocks_different_seed_different_blocks():
    def first_block(seed):
        workload = Workload(WorkloadConfig(seed=seed, accounts=20, txs_per_block=30))
        state = workload.genesis()
        execute_block(state, workload.setup_block(), ClearingMachine())
        return workload.next_block(state)

    assert first_block(1) == first_block(1)
    assert first_block(1) != first_block(2)


def test_hot_share_concentrates_trades_on_the_hot_accounts():
    workload = Workload(WorkloadConfig(seed=3, accounts=1_000, txs_per_block=400, hot_share=0.8))
    state = workload.genesis()
    execute_block(state, workload.setup_block(), ClearingMachine())
    block = workload.next_block(state)
    trades = [tx for tx in block.txs if type(tx).__name__ == "Trade"]
    hot = sum(1 for tx in trades if tx.maker in workload.hot)
    assert hot / len(trades) > 0.7


def test_workload_rejects_fewer_than_two_accounts():
    with pytest.raises(ValueError):
        Workload(WorkloadConfig(accounts=1))


def test_pool_share_sends_lp_flows_trades_and_hedges_to_the_pool_and_keeps_invariants():
    config = WorkloadConfig(seed=5, accounts=40, txs_per_block=80, pool_share=0.4)
    report = run_simulation(config, blocks=10)
    assert report.invariants_ok, report.invariant_violations
    for event in ("PoolQuoted", "PoolDeposited", "PoolWithdrawn", "PoolTraded", "PoolHedged"):
        assert report.events.get(event, 0) > 0, event
    assert report.events["PoolTraded"] > report.events["TradeSettled"] * 0.2


def test_without_pool_share_no_pool_transaction_is_generated():
    workload = Workload(WorkloadConfig(seed=3, accounts=30, txs_per_block=100))
    state = workload.genesis()
    execute_block(state, workload.setup_block(), ClearingMachine())
    block = workload.next_block(state)
    assert not any(type(tx).__name__.startswith("Pool") for tx in block.txs)
    assert all(tx.surface == () for tx in block.txs if type(tx).__name__ == "OracleUpdate")


def test_a_parallel_simulation_reports_every_blocks_dependencies_planned_or_not():
    config = WorkloadConfig(seed=7, accounts=4, txs_per_block=60, hot_share=0.5)
    reports = [
        run_simulation(config, blocks=8, executor="parallel", spread=spread)
        for spread in ("measured", "model")
    ]
    measured, model = reports
    assert measured.state_root == model.state_root and measured.invariants_ok
    # Blocks this contended leave the model nothing to spread: measured, most of them run
    # unplanned, and the report takes their dependencies from the blocks themselves.
    assert measured.critical_path_max == model.critical_path_max >= 30
    assert measured.hot_locks == model.hot_locks != []
