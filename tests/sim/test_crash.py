"""The crash scenario: a liquidation cascade that exhausts the insurance fund and ends in
auto-deleveraging, with every invariant holding after every block."""

import pytest

from paraclear.clearing.invariants import check_invariants
from paraclear.sim.crash import CrashConfig, CrashScenario, run_crash


@pytest.fixture(scope="module")
def report():
    return run_crash(CrashConfig(seed=5, traders=120))


def test_the_crash_liquidates_exhausts_the_fund_and_deleverages_with_invariants_holding(report):
    summary = report.as_dict()
    assert summary["invariants_ok"], summary["invariant_violations"]
    assert summary["liquidations"] > 20 and summary["cascade_blocks"] >= 2
    fund = summary["insurance_fund"]
    assert fund["before_crash"] > 0  # the dip's penalties seeded it
    assert fund["covered_out"] == fund["penalties_in"] and fund["final"] == 0
    assert fund["exhausted"] and summary["adl_events"] > 0
    # ADL brings an account to exactly zero; a later option step at the mark can still
    # round a micro-USDC against it (each step's cash is rounded against the holder).
    assert summary["adl_loss_absorbed"] > 0 and 0 <= summary["bad_debt"] <= 10


def test_every_transaction_the_liquidation_engine_planned_succeeded(report):
    assert report.failed == {}


def test_no_collateral_appears_or_vanishes_and_the_run_is_reproducible(report):
    """Cash (collateral, perpetual quotes, fee pool, insurance fund) at the end equals what
    was deposited; no funding ran, so no perpetual position has funding pending."""
    scenario = CrashScenario(CrashConfig(seed=5, traders=120))
    scenario.run()
    data = scenario.state.data
    positions = [v for key, v in data.items() if key[0] == "acct" and key[2] == "pos"]
    collateral = [v for key, v in data.items() if key[0] == "acct" and key[2] == "collateral"]
    funds = [v for key, v in data.items() if key[0] == "fund" and key[1] != "deposits"]
    assert all(p.funding_index == 0 for p in positions)
    cash = sum(collateral) + sum(p.quote for p in positions) + sum(funds)
    deposited = sum(tx.amount for tx in scenario.setup_deposits)
    assert cash == deposited == data[("fund", "deposits")]
    assert check_invariants(scenario.state) == []
    assert scenario.report.state_root == report.state_root


@pytest.mark.parametrize(("backend", "workers"), [("inline", 3), ("threads", 2)])
def test_the_crash_on_the_parallel_executor_reaches_the_sequential_state_root(backend, workers):
    config = dict(seed=8, traders=60)
    sequential = run_crash(CrashConfig(**config))
    parallel = run_crash(
        CrashConfig(**config, executor="parallel", workers=workers, backend=backend)
    )
    assert parallel.as_dict()["invariants_ok"] and parallel.events["Deleveraged"] > 0
    assert parallel.state_root == sequential.state_root
    assert parallel.events == sequential.events
