"""Auto-deleveraging: an underwater account is closed against ranked opposite positions at
the bankruptcy price, only once the insurance fund cannot cover it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.clearing.events import Deleveraged, InsuranceCovered
from paraclear.clearing.instruments import Perpetual
from paraclear.clearing.transactions import (
    Backstop,
    Deleverage,
    Liquidate,
    ListInstrument,
    OracleUpdate,
    Side,
)
from paraclear.state import keys as k

from .harness import ONE, PERP, PUT, Exchange, usd


@pytest.fixture
def ex():
    """alice is long 2 BTC-PERP at 60,000 on 3,000 of collateral: 1 from dave (more
    leveraged, ranks first), 1 from bob. The index then falls to 50,000."""
    ex = Exchange().market().fund(alice=3_000, bob=1_000_000, dave=20_000, keeper=10)
    ex.trade("alice", "dave", PERP, Side.BUY, ONE, usd(60_000))
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex.oracle(50_000)
    return ex


def deleverage(ex, code=None, size=2 * ONE, counterparties=("dave", "bob"), **fields):
    fields = dict(account="alice", instrument=PERP.name, size=size, counterparties=counterparties)
    if code is None:
        return ex.ok(Deleverage, "keeper", **fields)
    return ex.fails(Deleverage, "keeper", code, **fields)


def test_deleveraging_closes_the_account_at_zero_equity_and_conserves_cash(ex):
    deficit = -(usd(3_000 - 60) - usd(20_000))  # collateral less taker fees, minus the loss
    dave, bob = ex.collateral("dave"), ex.collateral("bob")
    receipt = deleverage(ex)
    assert receipt.events == (
        Deleveraged(
            account="alice",
            counterparty="dave",
            instrument=PERP.name,
            size=ONE,
            price=usd(50_000),
            loss=deficit // 2,
        ),
        Deleveraged(
            account="alice",
            counterparty="bob",
            instrument=PERP.name,
            size=ONE,
            price=usd(50_000),
            loss=deficit // 2,
        ),
    )
    assert ex.position("alice", PERP) is None and ex.collateral("alice") == 0
    assert ex.get(k.bankruptcy("alice")) is None
    # Each short closes at 50,000 + its share: it keeps 10,000 - 8,530 of its profit.
    assert ex.collateral("dave") == dave + usd(10_000) - deficit // 2
    assert ex.collateral("bob") == bob + usd(10_000) - deficit // 2
    assert ex.get(k.open_interest(PERP.name)) is None


def test_counterparties_must_come_in_hyperliquid_rank_order(ex):
    receipt = deleverage(ex, "AdlRankOrder", counterparties=("bob", "dave"))
    assert dict(receipt.error.details) == {"account": "dave", "after": "bob"}


def test_deleverage_refuses_accounts_that_are_not_opposite_or_not_enough(ex):
    ex.fund(carol=10_000)
    deleverage(ex, "NotOpposite", counterparties=("carol",))
    deleverage(ex, "InsufficientCounterparties", counterparties=("dave",))
    deleverage(ex, "Malformed", size=ONE, counterparties=("dave", "bob"))
    deleverage(ex, "NotMultiple", size=ONE + 1)
    deleverage(ex, "PositionTooSmall", size=3 * ONE)


def test_a_partial_deleverage_absorbs_a_proportional_part_of_the_deficit(ex):
    deficit = usd(20_000 - 2_940)
    receipt = deleverage(ex, size=ONE // 2, counterparties=("dave",))
    assert receipt.events[0].loss == deficit // 4
    assert ex.size("alice", PERP) == 3 * ONE // 2 and ex.size("dave", PERP) == -ONE // 2


def test_deleverage_is_refused_for_a_healthy_account_or_while_the_fund_can_pay():
    ex = Exchange().market().fund(alice=2_000, frank=2_000, bob=1_000_000, liq=1_000_000)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex.trade("frank", "bob", PERP, Side.BUY, ONE, usd(60_000))
    fields = dict(account="alice", instrument=PERP.name, size=ONE, counterparties=("bob",))
    ex.fails(Deleverage, "liq", "NotUnderwater", **fields)
    ex.oracle(58_500)
    ex.ok(Liquidate, "liq", account="frank", instrument=PERP.name, size=ONE)
    fund = ex.get(k.INSURANCE_FUND)
    assert fund == usd(292.5)
    ex.oracle(58_000)  # alice: 1,970 - 2,000 = -30, which the fund can pay
    receipt = ex.fails(Deleverage, "liq", "InsuranceFundSufficient", **fields)
    assert dict(receipt.error.details) == {"fund": fund, "deficit": usd(30)}
    ex.ok(Liquidate, "liq", account="alice", instrument=PERP.name, size=ONE)
    receipt = ex.ok(Backstop, "liq", account="alice")
    assert receipt.events == (InsuranceCovered(account="alice", amount=usd(30)),)
    assert ex.collateral("alice") == 0 and ex.get(k.INSURANCE_FUND) == fund - usd(30)


def test_the_fund_pays_what_it_has_before_counterparties_absorb_the_rest():
    ex = Exchange().market().fund(alice=2_000, frank=2_000, bob=1_000_000, liq=1_000_000)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex.trade("frank", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex.oracle(58_500)
    ex.ok(Liquidate, "liq", account="frank", instrument=PERP.name, size=ONE)
    ex.oracle(55_000)  # alice: 1,970 - 5,000
    receipt = ex.ok(
        Deleverage, "liq", account="alice", instrument=PERP.name, size=ONE, counterparties=("bob",)
    )
    assert receipt.events[0] == InsuranceCovered(account="alice", amount=usd(292.5))
    assert receipt.events[1].loss == usd(3_030 - 292.5)
    assert ex.get(k.INSURANCE_FUND) is None and ex.collateral("alice") == 0


def test_options_are_deleveraged_only_after_perpetuals():
    ex = Exchange().market().fund(carol=20_000, bob=1_000_000, keeper=10)
    ex.trade("carol", "bob", PERP, Side.BUY, ONE // 10, usd(60_000))
    ex.trade("carol", "bob", PUT, Side.SELL, ONE, ex.mark(PUT).price // 100_000 * 100_000)
    ex.oracle(30_000)
    ex.fails(
        Deleverage,
        "keeper",
        "PerpetualsFirst",
        account="carol",
        instrument=PUT.name,
        size=ONE,
        counterparties=("bob",),
    )


def test_a_counterparty_its_share_would_sink_is_refused():
    """george is short BTC (the profitable side) but long ETH, which falls too."""
    eth = Perpetual(underlying="ETH")
    ex = Exchange().market().fund(alice=1_300, george=10_000, bob=1_000_000, keeper=10)
    ex.block(ex.tx(ListInstrument, "admin", instrument=eth))
    ex.block(ex.tx(OracleUpdate, "oracle", underlying="ETH", index_price=usd(3_000), atm_vol_ppm=1))
    ex.trade("alice", "george", PERP, Side.BUY, ONE, usd(60_000))
    ex.trade("george", "bob", eth, Side.BUY, 20 * ONE, usd(3_000))
    ex.oracle(40_000)
    ex.block(ex.tx(OracleUpdate, "oracle", underlying="ETH", index_price=usd(2_000), atm_vol_ppm=1))
    receipt = ex.fails(
        Deleverage,
        "keeper",
        "CounterpartyUnderwater",
        account="alice",
        instrument=PERP.name,
        size=ONE,
        counterparties=("george",),
    )
    assert dict(receipt.error.details)["account"] == "george"


@settings(max_examples=25, deadline=None)
@given(
    st.integers(700, 2_400),
    st.integers(30_000, 55_000),
    st.lists(st.tuples(st.integers(10_000, 500_000), st.integers(1, 4)), min_size=1, max_size=3),
)
def test_an_engine_planned_deleverage_zeroes_the_account_and_keeps_every_invariant(
    collateral, crash, shorts
):
    """alice is long half a contract per lot with 700-2,400 of collateral per lot, and the
    index falls by 5,000 or more, so she is always under water. Whatever the crash and the
    shorts' sizes and collateral: the engine's ADL succeeds, leaves her at zero, and the
    harness checks every invariant after every block."""
    from paraclear.execution import BlockContext
    from paraclear.sim.liquidator import LiquidationEngine

    ex = Exchange().fund(keeper=10_000_000)
    ex.market()
    lots = sum(n for _, n in shorts)
    ex.fund(alice=collateral * lots, **{f"s{i}": c for i, (c, _) in enumerate(shorts)})
    for i, (_, n) in enumerate(shorts):
        ex.trade("alice", f"s{i}", PERP, Side.BUY, n * ONE // 2, usd(60_000))
    ex.oracle(crash)
    engine = LiquidationEngine(ex.machine, ["keeper"])
    while txs := engine.plan(ex.state.data, BlockContext(ex.height + 1, ex.time + 60)):
        assert all(receipt.ok for receipt in ex.block(*txs).receipts)
    assert ex.get(k.portfolio("alice")) is None and ex.collateral("alice") == 0
    adl = [e for r in ex.results for rr in r.receipts for e in rr.events]
    assert any(isinstance(e, Deleveraged) for e in adl)


def test_access_sets_name_every_account_touched_and_keep_penalties_a_delta():
    from paraclear.clearing import ClearingMachine
    from paraclear.state import lock_of

    machine = ClearingMachine()
    fund = lock_of(k.INSURANCE_FUND)
    liquidate = machine.access(
        Liquidate(sender="liq", nonce=0, account="a", instrument=PERP.name, size=1)
    )
    assert fund in liquidate.deltas and fund not in liquidate.writes | liquidate.reads
    adl = machine.access(
        Deleverage(
            sender="k",
            nonce=0,
            account="a",
            instrument=PERP.name,
            size=1,
            counterparties=("b", "c"),
        )
    )
    assert {k.account_lock(x) for x in "kabc"} | {fund} <= adl.writes
    backstop = machine.access(Backstop(sender="k", nonce=0, account="a"))
    assert backstop.writes == {k.account_lock("k"), k.account_lock("a"), fund}


def test_deleverage_that_names_the_account_as_its_own_counterparty_fails_as_malformed(ex):
    deleverage(ex, "Malformed", counterparties=("dave", "alice"))
    deleverage(ex, "Malformed", counterparties=("dave", "dave"))
