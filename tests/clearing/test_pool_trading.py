"""Trades against the pool: its price, Greek tracking, risk limits, hedging and every error."""

import math
from fractions import Fraction

import pytest

from paraclear.clearing import ClearingMachine
from paraclear.clearing.events import PoolHedged, PoolTraded
from paraclear.clearing.pool import POOL
from paraclear.clearing.records import PoolConfig
from paraclear.clearing.transactions import (
    PoolDeposit,
    PoolHedge,
    PoolTrade,
    PoolWithdraw,
    SettleExpiry,
    Side,
)
from paraclear.numbers import SIZE_SCALE
from paraclear.state import keys as k

from .harness import CALL, EXPIRY, ONE, OTM_CALL, PERP, PUT, usd
from .pool_setup import PoolExchange, pool_exchange

BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def ex():
    ex = pool_exchange(lp=200_000, alice=100_000, bob=100_000, keeper=1_000_000)
    ex.deposit("lp", 100_000)
    return ex


def expected_price(ex, inst, side, size):
    """The pool's price written out from its definition, with exact fractions."""
    config: PoolConfig = ex.get(k.POOL_CONFIG)
    quote = ex.get(k.quote(inst.name))
    risk = ex.risk()
    pool_vega = risk.on("BTC").vega
    trade_vega = size * quote.vega // SIZE_SCALE * (-1 if side is BUY else 1)
    cap = Fraction(config.vega_limit_ppm * risk.nav_floor, 1_000_000)
    used = min(max((pool_vega + Fraction(trade_vega, 2)) / cap, -1), 1)
    mid = quote.theo - Fraction(quote.vega * config.skew_vol_ppm, 10_000) * used
    index_value = ex.mark(inst).index
    half = max(
        Fraction(quote.vega * config.fee_vol_ppm, 10_000),
        Fraction(index_value * config.min_fee_ppm, 1_000_000),
    )
    return math.ceil(mid + half) if side is BUY else max(math.floor(mid - half), 0)


def test_buying_from_the_pool_pays_theo_plus_skew_and_spread_and_moves_cash_and_positions(ex):
    price = expected_price(ex, CALL, BUY, ONE // 2)
    theo = ex.get(k.quote(CALL.name)).theo
    assert price > theo
    receipt = ex.pool_trade("alice", CALL, BUY, ONE // 2)
    event = receipt.events[0]
    assert isinstance(event, PoolTraded) and event.price == price
    cash = -(-price * ONE // 2 // SIZE_SCALE)
    assert ex.collateral("alice") == usd(100_000) - cash - event.fee
    assert ex.pool_cash() == usd(100_000) + cash
    assert (ex.size("alice", CALL), ex.size(POOL, CALL)) == (ONE // 2, -ONE // 2)
    assert ex.get(k.open_interest(CALL.name)) == ONE // 2
    assert ex.get(k.FEE_POOL) == event.fee > 0
    assert ex.get(k.POOL_VOLUME) == cash
    assert ex.get(k.POOL_SPREAD) > 0


def test_selling_to_the_pool_receives_theo_minus_spread(ex):
    ex.fund(alice=0)
    price = expected_price(ex, PUT, SELL, ONE)
    assert price < ex.get(k.quote(PUT.name)).theo
    receipt = ex.pool_trade("bob", PUT, SELL, ONE)
    assert receipt.events[0].price == price
    assert ex.size(POOL, PUT) == ONE


def test_inventory_skew_raises_the_price_after_the_pool_sells_vega(ex):
    first = ex.pool_trade("alice", CALL, BUY, ONE // 10).events[0].price
    ex.pool_trade("bob", OTM_CALL, BUY, ONE)
    second = ex.pool_trade("alice", CALL, BUY, ONE // 10).events[0].price
    assert second > first


def test_splitting_an_order_costs_the_same_as_one_order_up_to_rounding():
    def cost(*sizes):
        ex = pool_exchange(lp=200_000, alice=100_000)
        ex.deposit("lp", 100_000)
        for size in sizes:
            ex.pool_trade("alice", CALL, BUY, size)
        return usd(100_000) - ex.collateral("alice")

    one, split = cost(ONE // 2), cost(ONE // 5, ONE // 5, ONE // 10)
    # The skew is taken at the middle of each piece's own impact, so the pieces add up to the
    # whole; what is left is rounding and the NAV's drift between the pieces (the pool books
    # each at its mark, not its price), which moves the vega cap. Pricing at the pre-trade
    # skew instead would make the split order ~500,000 micro-USDC cheaper.
    assert abs(one - split) <= 1_000


def test_pool_greeks_are_the_sum_of_positions_times_quote_greeks(ex):
    ex.pool_trade("alice", CALL, BUY, ONE // 2)
    ex.pool_trade("bob", PUT, SELL, ONE // 5)
    event = ex.pool_trade("alice", OTM_CALL, BUY, ONE // 10).events[0]
    totals = [0, 0, 0]
    for inst in (CALL, PUT, OTM_CALL):
        quote = ex.get(k.quote(inst.name))
        size = ex.size(POOL, inst)
        for i, greek in enumerate((quote.delta, quote.gamma, quote.vega)):
            totals[i] += size * greek // SIZE_SCALE
    assert (event.delta, event.gamma, event.vega) == tuple(totals)
    assert event.vega < 0 and event.delta < 0  # net short calls
    assert event.nav == ex.risk().nav_floor


def test_greeks_follow_the_oracle_between_trades(ex):
    ex.pool_trade("alice", CALL, BUY, ONE // 2)
    before = ex.risk().on("BTC").delta
    ex.oracle(63_000)
    assert ex.risk().on("BTC").delta < before  # short call delta grows with the index


def test_hedge_buys_the_perpetual_that_flattens_the_pools_delta(ex):
    ex.pool_trade("alice", CALL, BUY, ONE // 2)
    delta = ex.risk().on("BTC").delta
    assert delta < 0
    receipt = ex.hedge("keeper", max_size=10 * ONE)
    event = receipt.events[0]
    assert isinstance(event, PoolHedged)
    assert event.size == -delta // PERP.lot_size * PERP.lot_size
    assert event.price == ex.mark(PERP).price * 1_000_200 // 1_000_000  # mark + 2 bp, floored
    assert abs(event.delta_after) < PERP.lot_size
    assert ex.size(POOL, PERP) == event.size == -ex.size("keeper", PERP)
    assert event.delta_after == ex.risk().on("BTC").delta
    ex.hedge("keeper", max_size=ONE, code="HedgeNotNeeded")


def test_pool_transactions_lock_two_accounts_and_read_market_data_only():
    machine = ClearingMachine()
    fields = dict(sender="alice", nonce=0)
    for tx in (
        PoolTrade(**fields, instrument=CALL.name, side=BUY, size=ONE, limit_price=1),
        PoolHedge(**fields, underlying="BTC", max_size=ONE),
        PoolDeposit(**fields, amount=1),
        PoolWithdraw(**fields, shares=1),
    ):
        access = machine.access(tx)
        accounts = {lock for lock in access.writes if lock[0] == "acct"}
        assert accounts == {k.account_lock("alice"), k.POOL_LOCK}, tx
        assert access.writes == accounts  # market data, quotes and config are read-only
        assert k.QUOTE_LOCK in access.reads and k.POOL_CONFIG in access.reads
    trade_access = machine.access(
        PoolTrade(**fields, instrument=CALL.name, side=BUY, size=ONE, limit_price=1)
    )
    assert trade_access.deltas >= {k.FEE_POOL, k.open_interest(CALL.name), k.POOL_VOLUME}


def test_hedge_is_capped_at_the_counterpartys_max_size(ex):
    ex.pool_trade("alice", CALL, BUY, ONE // 2)
    event = ex.hedge("keeper", max_size=ONE // 10).events[0]
    assert event.size == ONE // 10


def test_hedge_fails_for_a_poor_counterparty(ex):
    ex.pool_trade("alice", CALL, BUY, ONE // 2)
    ex.fund(pauper=1)
    ex.hedge("pauper", max_size=ONE, code="InsufficientMargin")


def test_hedge_needs_an_open_pool_and_a_listed_perpetual():
    ex = PoolExchange().market().fund(keeper=1_000)
    ex.hedge("keeper", max_size=ONE, code="PoolNotOpen")
    ex.open_pool()
    ex.fails(PoolHedge, "keeper", "UnknownInstrument", underlying="ETH", max_size=ONE)


def test_trade_errors(ex):
    ex.pool_trade("alice", PERP, BUY, ONE, code="WrongInstrumentKind")
    unknown = dict(instrument="BTC-PUMP", side=BUY, size=1, limit_price=1)
    ex.fails(PoolTrade, "alice", "UnknownInstrument", **unknown)
    ex.pool_trade("alice", CALL, BUY, ONE // 100, code="NotMultiple")
    buy_price = expected_price(ex, CALL, BUY, ONE // 10)
    receipt = ex.pool_trade(
        "alice", CALL, BUY, ONE // 10, limit=buy_price - 1, code="PoolPriceLimit"
    )
    assert dict(receipt.error.details) == {"price": buy_price, "limit": buy_price - 1}
    sell_price = expected_price(ex, CALL, SELL, ONE // 10)
    ex.pool_trade("alice", CALL, SELL, ONE // 10, limit=sell_price + 1, code="PoolPriceLimit")
    ex.fund(pauper=100)
    ex.pool_trade("pauper", CALL, BUY, ONE, code="InsufficientCollateral")
    ex.pool_trade("pauper", CALL, SELL, ONE, code="InsufficientMargin")


def test_trades_need_an_open_solvent_pool_with_quotes():
    ex = PoolExchange().market().fund(alice=10_000, lp=10_000)
    ex.pool_trade("alice", CALL, BUY, ONE // 10, code="PoolNotOpen")
    ex.open_pool()
    ex.pool_trade("alice", CALL, BUY, ONE // 10, code="NoMarketData")  # no surface yet
    ex.surface()
    ex.pool_trade("alice", CALL, BUY, ONE // 10, code="PoolInsolvent")  # no LP money
    ex.deposit("lp", 10_000)
    ex.pool_trade("alice", CALL, BUY, ONE // 10)


def test_expired_series_cannot_be_traded_with_the_pool(ex):
    ex.block(time=EXPIRY)
    ex.pool_trade("alice", CALL, BUY, ONE // 10, code="InstrumentExpired")


@pytest.mark.parametrize(
    ("config", "limit"),
    [
        (PoolConfig(vega_limit_ppm=300, delta_limit_ppm=5_000_000), "vega:BTC"),
        (PoolConfig(delta_limit_ppm=50_000), "delta:BTC"),
        (PoolConfig(margin_limit_ppm=50_000, delta_limit_ppm=5_000_000), "margin"),
    ],
)
def test_trade_beyond_a_pool_risk_limit_fails_with_the_limit_named(config, limit):
    ex = pool_exchange(config, lp=200_000, alice=200_000)
    ex.deposit("lp", 100_000)
    receipt = ex.pool_trade("alice", CALL, BUY, ONE, code="PoolRiskLimit")
    details = dict(receipt.error.details)
    assert details["limit"] == limit and details["value"] > details["cap"]


def test_a_trade_that_reduces_risk_is_allowed_beyond_the_limit():
    ex = pool_exchange(PoolConfig(delta_limit_ppm=300_000), lp=200_000, alice=200_000)
    ex.deposit("lp", 20_000)
    ex.pool_trade("alice", CALL, BUY, ONE // 10)
    ex.oracle(70_000)  # the short call's delta and the loss push the pool over its limit
    ex.pool_trade("alice", CALL, BUY, ONE // 10, code="PoolRiskLimit")
    ex.pool_trade("alice", CALL, SELL, ONE // 10)  # buying back reduces it


def test_expiry_settles_the_pools_positions_like_anyones(ex):
    ex.pool_trade("alice", CALL, BUY, ONE // 2)
    ex.oracle(62_000, time=EXPIRY - 30 * 60)  # the TWAP window's index
    ex.oracle(62_000, time=EXPIRY)  # fixes the settlement price
    pool_cash = ex.pool_cash()
    ex.ok(SettleExpiry, "oracle", instrument=CALL.name, accounts=tuple(sorted(("alice", POOL))))
    assert ex.size(POOL, CALL) == 0
    assert ex.get(k.quote(CALL.name)) is None
    assert ex.pool_cash() == pool_cash - usd(1_000)  # half a call, 2,000 in the money
