"""Random sequences against the pool: invariants hold, failures change only the nonce, and
the pool's post-trade risk derived without reading state equals the risk read from state."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paraclear.clearing.margin import PortfolioMargin, StandardMargin
from paraclear.clearing.pool import POOL
from paraclear.clearing.transactions import (
    PoolDeposit,
    PoolHedge,
    PoolTrade,
    PoolWithdraw,
    Side,
)
from paraclear.state import keys as k

from .harness import CALL, ONE, OTM_CALL, PUT, usd
from .pool_setup import PoolExchange

OPTIONS = (CALL, PUT, OTM_CALL)
ACCOUNTS = ("a", "b", "c")
side = st.sampled_from((Side.BUY, Side.SELL))
trade = st.tuples(
    st.just("trade"), st.sampled_from(ACCOUNTS), st.sampled_from(OPTIONS), side, st.integers(1, 8)
)
op = st.one_of(
    trade,
    st.tuples(st.just("deposit"), st.sampled_from(ACCOUNTS), st.integers(1, 60_000)),
    st.tuples(st.just("redeem"), st.sampled_from(ACCOUNTS), st.floats(0.0, 1.0)),
    st.tuples(st.just("hedge"), st.sampled_from(ACCOUNTS), st.integers(1, 50)),
    st.tuples(st.just("oracle"), st.floats(0.85, 1.15)),
)


def exchange(model=None) -> PoolExchange:
    ex = PoolExchange(model).market()
    ex.surface()
    ex.open_pool()
    ex.fund(a=200_000, b=200_000, c=200_000, lp=200_000)
    ex.deposit("lp", 50_000)
    return ex


def make(ex: PoolExchange, operation):
    kind, *args = operation
    if kind == "trade":
        account, option, trade_side, tenths = args
        limit = usd(1_000_000) if trade_side is Side.BUY else 0
        fields = dict(side=trade_side, size=tenths * ONE // 10, limit_price=limit)
        return ex.tx(PoolTrade, account, instrument=option.name, **fields)
    if kind == "deposit":
        return ex.tx(PoolDeposit, args[0], amount=usd(args[1]))
    if kind == "redeem":
        shares = max(int(ex.shares(args[0]) * args[1]), 1)
        return ex.tx(PoolWithdraw, args[0], shares=shares)
    if kind == "hedge":
        return ex.tx(PoolHedge, args[0], underlying="BTC", max_size=args[1] * ONE // 10)
    from paraclear.clearing.transactions import OracleUpdate

    return ex.tx(
        OracleUpdate,
        "oracle",
        underlying="BTC",
        index_price=usd(60_000 * args[0]),
        atm_vol_ppm=600_000,
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=30), st.sampled_from([StandardMargin, PortfolioMargin]))
def test_invariants_hold_after_every_block_of_random_pool_activity(operations, model):
    ex = exchange(model())
    for start in range(0, len(operations), 4):
        ex.block(*(make(ex, o) for o in operations[start : start + 4]))  # harness checks


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=20))
def test_a_failed_pool_transaction_changes_only_its_nonce(operations):
    ex = exchange()
    for operation in operations:
        tx = make(ex, operation)
        before = dict(ex.state.data)
        receipt = ex.block(tx).receipts[0]
        if receipt.ok:
            continue
        changed = {
            key
            for key in set(before) | set(ex.state.data)
            if before.get(key) != ex.state.data.get(key)
        }
        assert changed <= {k.nonce(tx.sender)}, (receipt.error, changed)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trade, min_size=1, max_size=12), st.sampled_from([StandardMargin, PortfolioMargin]))
def test_risk_after_a_fill_equals_the_risk_read_from_state(trades, model):
    ex = exchange(model())
    for operation in trades:
        before = ex.risk()
        cash_before = ex.pool_cash()
        option = operation[2]
        size_before = ex.size(POOL, option)
        receipt = ex.block(make(ex, operation)).receipts[0]
        if not receipt.ok:
            continue
        derived = before.after_option_fill(
            option.name,
            ex.mark(option),
            ex.get(k.quote(option.name)),
            ex.size(POOL, option) - size_before,
            ex.pool_cash() - cash_before,
        )
        fresh = ex.risk()
        assert (derived.nav_scaled, derived.greeks) == (fresh.nav_scaled, fresh.greeks)
        assert derived.initial_margin(ex.machine.margin_model) == fresh.initial_margin(
            ex.machine.margin_model
        )
        event = receipt.events[0]
        net = fresh.on("BTC")
        assert (event.delta, event.gamma, event.vega, event.nav) == (
            net.delta,
            net.gamma,
            net.vega,
            fresh.nav_floor,
        )
