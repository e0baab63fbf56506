"""LP deposits and redemptions through the engine: share accounting and every LP error."""

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paraclear.clearing.events import PoolConfigured, PoolDeposited, PoolWithdrawn
from paraclear.clearing.pool import POOL
from paraclear.clearing.pool_shares import MAX_TOTAL_SHARES, VIRTUAL_ASSETS, VIRTUAL_SHARES
from paraclear.clearing.records import PoolConfig
from paraclear.clearing.transactions import (
    ConfigurePool,
    PoolDeposit,
    PoolTrade,
    PoolWithdraw,
    Side,
)
from paraclear.numbers import MAX_BALANCE
from paraclear.state import keys as k

from .harness import CALL, ONE, usd
from .pool_setup import PoolExchange, pool_exchange


def share_value(ex: PoolExchange) -> Fraction:
    risk = ex.risk()
    return Fraction(risk.nav_floor + VIRTUAL_ASSETS, ex.total_shares() + VIRTUAL_SHARES)


def test_first_deposit_moves_collateral_into_the_pool_for_a_thousand_shares_per_micro_usdc():
    ex = pool_exchange(alice=10_000)
    receipt = ex.deposit("alice", 4_000)
    shares = usd(4_000) * VIRTUAL_SHARES
    deposited = PoolDeposited(
        account="alice", amount=usd(4_000), shares=shares, nav=0, total_shares=shares
    )
    assert receipt.events == (deposited,)
    assert ex.collateral("alice") == usd(6_000)
    assert ex.pool_cash() == usd(4_000)
    assert ex.shares("alice") == ex.total_shares() == shares


def test_redeeming_every_share_returns_the_deposit_when_the_pool_did_nothing():
    ex = pool_exchange(alice=10_000, bob=10_000)
    ex.deposit("alice", 4_000)
    ex.deposit("bob", 1_000)
    receipt = ex.redeem("alice", ex.shares("alice"))
    assert isinstance(receipt.events[0], PoolWithdrawn)
    assert ex.collateral("alice") == usd(10_000)
    ex.redeem("bob", ex.shares("bob"))
    assert ex.collateral("bob") == usd(10_000)
    assert ex.total_shares() == 0 and ex.get(k.pool_shares("bob")) is None


def test_pool_profits_are_shared_pro_rata_and_late_lps_buy_in_at_the_new_value():
    ex = pool_exchange(alice=100_000, bob=100_000, carol=100_000)
    ex.deposit("alice", 50_000)
    ex.pool_trade("carol", CALL, Side.BUY, ONE // 10)  # the pool earns the spread
    value = share_value(ex)
    assert value > Fraction(1, VIRTUAL_SHARES)
    ex.deposit("bob", 50_000)
    assert share_value(ex) >= value
    assert ex.shares("bob") < ex.shares("alice")  # bob paid more per share


def test_configure_pool_is_admin_only_and_emits_an_event():
    ex = PoolExchange().market()
    ex.fails(ConfigurePool, "alice", "Unauthorized", config=PoolConfig())
    receipt = ex.ok(ConfigurePool, "admin", config=PoolConfig(fee_vol_ppm=1_000))
    assert receipt.events == (PoolConfigured(),)
    assert ex.get(k.POOL_CONFIG) == PoolConfig(fee_vol_ppm=1_000)


def test_lp_transactions_fail_until_the_pool_is_open():
    ex = PoolExchange().market().fund(alice=1_000)
    ex.fails(PoolDeposit, "alice", "PoolNotOpen", amount=usd(10))
    ex.fails(PoolWithdraw, "alice", "PoolNotOpen", shares=1)


def test_deposit_beyond_free_collateral_fails():
    ex = pool_exchange(alice=1_000)
    receipt = ex.fails(PoolDeposit, "alice", "InsufficientCollateral", amount=usd(1_001))
    assert dict(receipt.error.details)["available"] == usd(1_000)


def test_deposit_with_too_few_shares_fails_with_slippage():
    ex = pool_exchange(alice=1_000)
    minimum = usd(10) * VIRTUAL_SHARES + 1
    receipt = ex.fails(PoolDeposit, "alice", "PoolSlippage", amount=usd(10), min_shares=minimum)
    assert dict(receipt.error.details) == {"minimum": minimum, "actual": minimum - 1}


def test_deposit_that_mints_no_share_fails():
    ex = pool_exchange(alice=1_000)
    # A pool whose share is worth more than the deposit: endow it (and the deposits ledger,
    # so that cash stays conserved) with 1 USDC and no shares.
    ex.state.apply({k.collateral(POOL): usd(1), k.NET_DEPOSITS: usd(1_001)})
    ex.fails(PoolDeposit, "alice", "PoolDepositTooSmall", amount=1)


def test_deposit_that_would_mint_more_than_the_share_limit_fails():
    ex = pool_exchange()
    ex.fund(whale=MAX_BALANCE // 10 / 1e6)
    receipt = ex.fails(PoolDeposit, "whale", "ShareLimit", amount=MAX_BALANCE // 10)
    assert dict(receipt.error.details)["limit"] == MAX_TOTAL_SHARES


def test_redeeming_more_shares_than_held_fails():
    ex = pool_exchange(alice=1_000)
    ex.deposit("alice", 10)
    held = ex.shares("alice")
    receipt = ex.fails(PoolWithdraw, "alice", "InsufficientShares", shares=held + 1)
    assert dict(receipt.error.details) == {"account": "alice", "held": held, "requested": held + 1}


def test_redeeming_a_share_worth_less_than_a_micro_usdc_fails():
    ex = pool_exchange(alice=1_000)
    ex.deposit("alice", 10)
    ex.fails(PoolWithdraw, "alice", "PoolRedeemTooSmall", shares=1)


def test_redemption_below_the_minimum_amount_fails_with_slippage():
    ex = pool_exchange(alice=1_000)
    ex.deposit("alice", 10)
    shares = ex.shares("alice")
    ex.fails(PoolWithdraw, "alice", "PoolSlippage", shares=shares, min_amount=usd(10) + 1)


UNHEDGED = PoolConfig(delta_limit_ppm=5_000_000)
"""A pool that may hold a large unhedged delta, so that other limits bind first."""


def test_redemption_that_leaves_the_pool_over_its_margin_limit_fails():
    ex = pool_exchange(UNHEDGED, alice=100_000, bob=100_000)
    ex.deposit("alice", 20_000)
    ex.pool_trade("bob", CALL, Side.BUY, ONE // 2)  # the pool writes a call (IM ~6,350)
    shares = ex.shares("alice") * 3 // 4
    receipt = ex.fails(PoolWithdraw, "alice", "PoolRiskLimit", shares=shares)
    assert dict(receipt.error.details)["limit"] == "margin"
    ex.redeem("alice", ex.shares("alice") // 20)  # a small one leaves it within its limits


def test_an_insolvent_pool_refuses_deposits_and_redemptions():
    ex = pool_exchange(UNHEDGED, alice=100_000, bob=1_000_000, carol=10_000)
    ex.deposit("alice", 20_000)
    ex.pool_trade("bob", CALL, Side.BUY, ONE // 2)
    ex.surface(index=180_000)  # the written call is now worth ~60,000: the pool is under water
    assert ex.risk().nav_floor < 0
    ex.fails(PoolDeposit, "carol", "PoolInsolvent", amount=usd(1_000))
    ex.fails(PoolWithdraw, "alice", "PoolInsolvent", shares=ex.shares("alice"))


def test_invariant_catches_shares_out_of_step_with_the_total():
    from paraclear.clearing.invariants import check_invariants

    ex = pool_exchange(alice=1_000)
    ex.deposit("alice", 10)
    ex.state.apply({k.pool_shares("alice"): ex.shares("alice") + 1})
    assert any("shares" in v for v in check_invariants(ex.state))


lp_ops = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), st.sampled_from("abc"), st.integers(1, 30_000_000_000)),
        st.tuples(st.just("redeem"), st.sampled_from("abc"), st.floats(0.0, 1.0)),
        st.tuples(st.just("trade"), st.sampled_from((Side.BUY, Side.SELL)), st.integers(1, 3)),
        st.tuples(st.just("oracle"), st.floats(0.9, 1.1)),
    ),
    min_size=1,
    max_size=14,
)


@given(lp_ops)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_lp_flows_never_dilute_holders_and_never_create_value(ops):
    ex = pool_exchange(a=100_000, b=100_000, c=100_000, t=1_000_000)
    paid_in = {lp: 0 for lp in "abc"}
    paid_out = {lp: 0 for lp in "abc"}
    for op in ops:
        before = share_value(ex)
        if op[0] == "deposit":
            _, lp, amount = op
            receipt = ex.run(PoolDeposit, lp, amount=amount)
            if receipt.ok:
                paid_in[lp] += amount
                assert share_value(ex) >= before  # a late LP does not dilute earlier ones
        elif op[0] == "redeem":
            _, lp, fraction = op
            shares = int(ex.shares(lp) * fraction)
            receipt = ex.run(PoolWithdraw, lp, shares=max(shares, 1))
            if receipt.ok:
                paid_out[lp] += receipt.events[0].amount
                assert share_value(ex) >= before
        elif op[0] == "trade":
            _, side, tenths = op
            limit = usd(1_000_000) if side is Side.BUY else 0
            size = tenths * ONE // 10
            ex.run(PoolTrade, "t", instrument=CALL.name, side=side, size=size, limit_price=limit)
        else:
            ex.surface(index=60_000 * op[1])
    risk = ex.risk()
    claims = sum(ex.shares(lp) for lp in "abc") * Fraction(risk.nav_floor + 1)
    assert claims / (ex.total_shares() + VIRTUAL_SHARES) <= max(risk.nav_floor, 0) + 1
    if all(op[0] in ("deposit", "redeem") for op in ops):
        for lp in "abc":  # with no trading, no LP gets out more than it put in
            assert paid_out[lp] <= paid_in[lp]


def test_pool_parameters_out_of_range_are_rejected():
    import pytest

    from paraclear.clearing.errors import Rejected
    from paraclear.clearing.transactions import validate

    validate(ConfigurePool(sender="admin", nonce=0, config=PoolConfig()))
    for bad in (
        PoolConfig(vega_limit_ppm=0),  # a zero cap would refuse every trade and divide by 0
        PoolConfig(fee_vol_ppm=-1),
        PoolConfig(margin_limit_ppm=1_000_001),
        PoolConfig(hedge_fee_ppm=20_000),
    ):
        with pytest.raises(Rejected):
            validate(ConfigurePool(sender="admin", nonce=0, config=bad))
    ex = PoolExchange().market()  # one that reaches a block anyway fails and changes nothing
    ex.fails(ConfigurePool, "admin", "Malformed", config=PoolConfig(vega_limit_ppm=0))
