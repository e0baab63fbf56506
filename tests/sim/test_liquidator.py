"""The liquidation engine plans only transactions that succeed, in the documented order."""

from paraclear.clearing.accounts import margin_status
from paraclear.clearing.transactions import Backstop, Deleverage, Liquidate, Side
from paraclear.execution import Block, BlockContext, execute_block
from paraclear.sim.liquidator import DryRun, LiquidationEngine
from paraclear.state import keys as k
from tests.clearing.harness import ONE, PERP, PUT, Exchange, usd


def plan_and_run(ex, engine):
    txs = engine.plan(ex.state.data, BlockContext(ex.height + 1, ex.time + 60))
    result = ex.block(*txs)
    assert all(receipt.ok for receipt in result.receipts)
    return txs


def test_perpetuals_go_first_in_bounded_steps_until_the_account_is_healthy():
    ex = Exchange().market().fund(carol=20_000, bob=10_000_000, keeper=10_000_000)
    ex.trade("carol", "bob", PERP, Side.BUY, 3 * ONE, usd(60_000))
    ex.trade("carol", "bob", PUT, Side.SELL, ONE, ex.mark(PUT).price // 100_000 * 100_000)
    ex.oracle(55_000)
    engine = LiquidationEngine(ex.machine, ["keeper"], max_steps=1)
    txs = plan_and_run(ex, engine)
    assert txs == [
        Liquidate(
            sender="keeper",
            nonce=1,  # after its deposit
            account="carol",
            instrument=PERP.name,
            size=100_000 * ONE // 55_000 // 1_000 * 1_000,  # one step of 100k USDC
        )
    ]
    while step := plan_and_run(ex, engine):
        txs += step
    names = [tx.instrument for tx in txs]
    assert names == sorted(names, key=lambda name: name != PERP.name)  # perpetual first
    status = margin_status(ex.state_view(), "carol", ex.machine.margin_model)
    assert status.equity >= status.maintenance


def test_an_underwater_account_is_deleveraged_against_the_top_ranked_opposite_position():
    ex = Exchange().market().fund(alice=3_000, bob=1_000_000, dave=20_000, keeper=1_000_000)
    ex.trade("alice", "dave", PERP, Side.BUY, ONE, usd(60_000))
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex.oracle(50_000)
    txs = plan_and_run(ex, LiquidationEngine(ex.machine, ["keeper"]))
    assert txs == [
        Deleverage(
            sender="keeper",
            nonce=1,  # after its deposit
            account="alice",
            instrument=PERP.name,
            size=2 * ONE,
            counterparties=("dave", "bob"),
        )
    ]
    assert ex.collateral("alice") == 0 and ex.get(k.portfolio("alice")) is None


def test_a_deficit_the_fund_can_pay_is_liquidated_then_backstopped():
    ex2 = Exchange().market().fund(alice=2_000, frank=2_000, bob=1_000_000, keeper=1_000_000)
    ex2.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex2.trade("frank", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex2.oracle(58_500)
    engine2 = LiquidationEngine(ex2.machine, ["keeper"])
    ex2.block(
        ex2.tx(Liquidate, "bob", account="frank", instrument=PERP.name, size=ONE)
    )  # frank's penalty: 292.5 in the fund
    ex2.oracle(57_990)  # alice: 1,970 - 2,010 = -40, which the fund can pay
    txs = plan_and_run(ex2, engine2)
    assert [type(tx) for tx in txs] == [Liquidate, Backstop]
    assert ex2.collateral("alice") == 0


def test_the_planner_dry_run_includes_only_successes_and_equals_the_executor():
    ex = Exchange().market().fund(carol=20_000, bob=10_000_000, keeper=10_000_000)
    ex.trade("carol", "bob", PERP, Side.BUY, 3 * ONE, usd(60_000))
    ex.trade("carol", "bob", PUT, Side.SELL, ONE, ex.mark(PUT).price // 100_000 * 100_000)
    ex.oracle(55_000)
    ctx = BlockContext(ex.height + 1, ex.time + 60)
    planned = LiquidationEngine(ex.machine, ["keeper"]).plan(ex.state.data, ctx)
    assert planned and all(isinstance(tx, Liquidate) for tx in planned)
    healthy = ex.tx(Liquidate, "keeper", account="bob", instrument=PERP.name, size=ONE)
    dry = DryRun(ex.state.data, ex.machine, ctx)
    assert not dry.try_run(healthy).ok  # bob is healthy: left out, nonce and all
    assert all(dry.try_run(tx).ok for tx in planned) and dry.txs == planned
    expected = execute_block(
        ex.state.copy(), Block(ctx.height, ctx.time, tuple(planned)), ex.machine
    )
    assert dry.finish(ex.state).consensus_bytes() == expected.consensus_bytes()
