import pytest

from paraclear.clearing.events import BankruptcyRecorded, InsuranceCovered, Liquidated
from paraclear.clearing.records import Bankruptcy
from paraclear.clearing.transactions import Backstop, Deposit, Liquidate, Side, Transfer, Withdraw
from paraclear.state import keys as k

from .harness import CALL, ONE, PERP, PUT, Exchange, usd


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


def test_a_bankrupt_account_is_recorded_then_covered_by_the_fund_through_backstop(ex):
    ex.oracle(58_500)
    ex.ok(Liquidate, "liq", account="alice", instrument=PERP.name, size=ONE // 2)
    fund = ex.get(k.INSURANCE_FUND)
    ex.oracle(50_000)  # alice's remaining half is deep under water
    receipt = ex.ok(Liquidate, "liq", account="alice", instrument=PERP.name, size=ONE // 2)
    assert not [e for e in receipt.events if isinstance(e, InsuranceCovered)]
    deficit = -ex.collateral("alice")
    assert receipt.events[-1] == BankruptcyRecorded(account="alice", deficit=deficit)
    assert ex.get(k.INSURANCE_FUND) == fund  # a liquidation only adds to the fund
    receipt = ex.ok(Backstop, "liq", account="alice")
    assert receipt.events == (
        InsuranceCovered(account="alice", amount=fund),
        BankruptcyRecorded(account="alice", deficit=deficit - fund),
    )
    assert ex.get(k.bankruptcy("alice")) == Bankruptcy(ex.height, deficit - fund)
    assert ex.get(k.INSURANCE_FUND) is None
    ex.fails(Withdraw, "alice", "AccountBankrupt", amount=1)
    ex.fails(Transfer, "alice", "AccountBankrupt", to="bob", amount=1)
    ex.fails(Backstop, "liq", "InsuranceFundEmpty", account="alice")
    ex.ok(Transfer, "bob", to="alice", amount=deficit - fund - 1)
    assert ex.get(k.bankruptcy("alice")) is not None and ex.collateral("alice") == -1
    ex.ok(Transfer, "bob", to="alice", amount=1)  # paid back by someone else: not bankrupt
    assert ex.get(k.bankruptcy("alice")) is None and ex.collateral("alice") == 0
    ex.fails(Backstop, "liq", "NotUnderwater", account="alice")


def test_backstop_waits_until_the_account_holds_no_positions():
    ex = Exchange().market().fund(seller=14_000, buyer=1_000_000, liq=1_000_000)
    ex.trade("seller", "buyer", CALL, Side.SELL, ONE, ex.mark(CALL).price // 100_000 * 100_000)
    ex.oracle(120_000)  # the call is worth about 60,000: the seller is far under water
    ex.ok(Liquidate, "liq", account="seller", instrument=CALL.name, size=ONE // 2)
    assert ex.collateral("seller") < 0 and ex.size("seller", CALL) == -ONE // 2
    assert ex.get(k.bankruptcy("seller")).deficit == -ex.collateral("seller")
    receipt = ex.fails(Backstop, "liq", "PositionsOpen", account="seller")
    assert dict(receipt.error.details)["positions"] == 1


def test_an_account_under_water_cannot_withdraw_even_with_positive_collateral(ex):
    ex.oracle(50_000)  # equity 1,970 - 10,000 < 0 while collateral is still 1,970
    assert ex.collateral("alice") > 0
    ex.fails(Withdraw, "alice", "InsufficientCollateral", amount=1)
    ex.fails(Transfer, "alice", "InsufficientCollateral", to="bob", amount=1)


def test_perpetuals_are_liquidated_before_options():
    ex = Exchange().market().fund(carol=20_000, bob=1_000_000, liq=1_000_000)
    ex.trade("carol", "bob", PERP, Side.BUY, ONE // 10, usd(60_000))
    ex.trade("carol", "bob", PUT, Side.SELL, ONE, ex.mark(PUT).price // 100_000 * 100_000)
    ex.oracle(45_000)
    receipt = ex.fails(
        Liquidate, "liq", "PerpetualsFirst", account="carol", instrument=PUT.name, size=ONE
    )
    assert dict(receipt.error.details)["perpetual"] == PERP.name
    ex.ok(Liquidate, "liq", account="carol", instrument=PERP.name, size=ONE // 10)
    ex.ok(Liquidate, "liq", account="carol", instrument=PUT.name, size=ONE)


def test_one_liquidation_step_moves_at_most_100k_usdc_of_notional():
    ex = Exchange().market().fund(whale=4_000, bob=1_000_000, liq=1_000_000)
    ex.trade("whale", "bob", PERP, Side.BUY, 3 * ONE // 100, usd(60_000))
    ex.trade("whale", "bob", PERP, Side.BUY, 3 * ONE - 3 * ONE // 100, usd(60_000))
    ex.oracle(59_000)
    limit = 100_000 * ONE // 59_000 // 1_000 * 1_000  # 1.694 contracts
    receipt = ex.fails(
        Liquidate,
        "liq",
        "LiquidationStepTooLarge",
        account="whale",
        instrument=PERP.name,
        size=limit + 1_000,
    )
    assert dict(receipt.error.details)["limit"] == limit
    ex.ok(Liquidate, "liq", account="whale", instrument=PERP.name, size=limit)


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
