import pytest

from paraclear.clearing.events import BankruptcyRecorded, InsuranceCovered, Liquidated
from paraclear.clearing.records import Bankruptcy
from paraclear.clearing.transactions import Deposit, Liquidate, Side, Withdraw
from paraclear.state import keys as k

from .harness import ONE, PERP, Exchange, usd


@pytest.fixture
def ex():
    ex = Exchange().market().fund(alice=2_000, bob=1_000_000, liq=1_000_000)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    return ex


def test_healthy_account_is_not_liquidatable(ex):
    receipt = ex.fails(
        Liquidate, "liq", "NotLiquidatable", account="alice", instrument=PERP.name, size=ONE
    )
    details = dict(receipt.error.details)
    assert details["equity"] >= details["maintenance"]


def test_liquidator_takes_the_position_at_the_mark_and_the_penalty_goes_to_the_fund(ex):
    ex.oracle(58_700)  # equity 2,000 − 30 − 1,300 = 670 < maintenance 587
    ex.oracle(58_500)  # equity 470 < 585
    receipt = ex.ok(Liquidate, "liq", account="alice", instrument=PERP.name, size=ONE)
    penalty = usd(58_500 * 0.005)  # 292.5 on the notional moved
    assert receipt.events == (
        Liquidated(
            account="alice",
            liquidator="liq",
            instrument=PERP.name,
            size=ONE,
            price=usd(58_500),
            penalty=penalty,
        ),
    )
    assert ex.size("alice", PERP) == 0 and ex.size("liq", PERP) == ONE
    assert ex.collateral("alice") == usd(2_000 - 30 - 1_500) - penalty
    assert ex.get(k.INSURANCE_FUND) == penalty


def test_bankrupt_account_is_covered_by_the_fund_then_recorded(ex):
    ex.oracle(58_500)
    ex.ok(Liquidate, "liq", account="alice", instrument=PERP.name, size=ONE // 2)
    fund = ex.get(k.INSURANCE_FUND)
    ex.oracle(50_000)  # alice's remaining half is deep under water
    receipt = ex.ok(Liquidate, "liq", account="alice", instrument=PERP.name, size=ONE // 2)
    covered = [e for e in receipt.events if isinstance(e, InsuranceCovered)]
    recorded = [e for e in receipt.events if isinstance(e, BankruptcyRecorded)]
    assert covered and covered[0].amount == fund
    assert recorded and ex.collateral("alice") == -recorded[0].deficit < 0
    assert ex.get(k.bankruptcy("alice")) == Bankruptcy(ex.height, recorded[0].deficit)
    assert ex.get(k.INSURANCE_FUND) is None
    ex.fails(Withdraw, "alice", "AccountBankrupt", amount=1)
    ex.ok(Deposit, "alice", amount=recorded[0].deficit)
    assert ex.get(k.bankruptcy("alice")) is None


def test_liquidation_errors(ex):
    ex.oracle(58_500)
    ex.fails(
        Liquidate, "liq", "PositionTooSmall", account="alice", instrument=PERP.name, size=2 * ONE
    )
    ex.fails(Liquidate, "liq", "NotMultiple", account="alice", instrument=PERP.name, size=1)
    ex.fails(Liquidate, "alice", "Malformed", account="alice", instrument=PERP.name, size=ONE)
    ex.block(ex.tx(Deposit, "poor", amount=usd(10)))
    ex.fails(
        Liquidate, "poor", "InsufficientMargin", account="alice", instrument=PERP.name, size=ONE
    )


def test_a_short_option_is_liquidated_at_its_mark():
    from .harness import CALL

    ex = Exchange().market().fund(seller=14_000, buyer=1_000_000, liq=1_000_000)
    ex.trade("seller", "buyer", CALL, Side.SELL, ONE, ex.mark(CALL).price // 100_000 * 100_000)
    ex.oracle(68_000)  # the call is deep in the money; the seller is under maintenance
    mark = ex.mark(CALL).price
    before = ex.collateral("seller")
    receipt = ex.ok(Liquidate, "liq", account="seller", instrument=CALL.name, size=ONE)
    penalty = receipt.events[0].penalty
    assert ex.size("liq", CALL) == -ONE and ex.size("seller", CALL) == 0
    assert ex.collateral("liq") == usd(1_000_000) + mark
    assert penalty == usd(68_000 * 0.005)  # on the underlying notional moved
    assert ex.collateral("seller") == before - mark - penalty > 0
    assert ex.get(k.bankruptcy("seller")) is None
