"""The vectorised liquidation scan finds exactly the accounts the exact integer margin check
finds, under standard and portfolio margin."""

import pytest

from paraclear.clearing.accounts import margin_status
from paraclear.sim.crash import CrashConfig, CrashScenario
from paraclear.sim.scan import scan
from paraclear.state import StateView


def brute_force(data, model):
    view = StateView(data)
    accounts = sorted({key[1] for key in data if key[0] == "acct" and key[2] == "portfolio"})
    under = set()
    for account in accounts:
        status = margin_status(view, account, model)
        if status.equity < status.maintenance:
            under.add(account)
    return under


@pytest.mark.parametrize("portfolio", [False, True])
@pytest.mark.parametrize("index", [59_000, 55_000, 42_000])
def test_scan_equals_the_exact_check_of_every_account(portfolio, index):
    scenario = CrashScenario(CrashConfig(seed=11, traders=80, portfolio_margin=portfolio))
    scenario.setup_market()
    scenario.publish_index(index, 900_000)
    model = scenario.machine.margin_model
    found = scan(scenario.state.data, model)
    assert set(found.under_maintenance) == brute_force(scenario.state.data, model)
    assert found.confirmed <= len(found.table.accounts)
    view = StateView(scenario.state.data)
    for account, shortfall in found.under_maintenance.items():
        status = margin_status(view, account, model)
        assert abs(shortfall.equity - status.equity) <= 1_000 + abs(status.equity) // 10**9
        assert (
            abs(shortfall.maintenance - status.maintenance) <= 1_000 + status.maintenance // 10**9
        )
    if index == 42_000:
        assert len(found.under_maintenance) > 10


def test_scan_lists_bankrupt_accounts_that_hold_no_positions():
    from paraclear.clearing.margin import StandardMargin
    from paraclear.clearing.transactions import Liquidate, Side
    from tests.clearing.harness import ONE, PERP, Exchange, usd

    ex = Exchange().market().fund(alice=2_000, bob=1_000_000, liq=1_000_000)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex.oracle(50_000)
    found = scan(ex.state.data, StandardMargin())
    assert list(found.under_maintenance) == ["alice"] and found.bankrupt_without_positions == []
    ex.ok(Liquidate, "liq", account="alice", instrument=PERP.name, size=ONE)
    found = scan(ex.state.data, StandardMargin())
    assert found.under_maintenance == {} and found.bankrupt_without_positions == ["alice"]
