from paraclear.clearing.events import ExpirySettled
from paraclear.clearing.transactions import SettleExpiry, Side
from paraclear.state import keys as k

from .harness import CALL, ONE, PUT, Exchange, usd


def settle_index_at(ex, index):
    """Hold ``index`` over the whole TWAP window, then fix it with an update at expiry."""
    ex.oracle(index, time=CALL.expiry - 30 * 60)
    ex.oracle(index / 2, time=CALL.expiry)  # at expiry: outside the window
    ex.time = CALL.expiry


def open_call_positions(ex):
    ex.trade("alice", "bob", CALL, Side.BUY, ONE, usd(3_000))
    ex.trade("carol", "bob", CALL, Side.BUY, ONE // 2, usd(3_000))


def test_expiry_settles_every_position_at_intrinsic_value_and_delists():
    ex = Exchange().market().fund(alice=10_000, bob=100_000, carol=10_000)
    open_call_positions(ex)
    before = {a: ex.collateral(a) for a in ("alice", "bob", "carol")}
    settle_index_at(ex, 65_000)
    receipt = ex.ok(
        SettleExpiry,
        "oracle",
        instrument=CALL.name,
        accounts=("alice", "bob", "carol"),
    )
    assert receipt.events[0] == ExpirySettled(
        instrument=CALL.name, settlement_price=usd(65_000), positions=3, residual=0
    )
    assert ex.collateral("alice") == before["alice"] + usd(5_000)
    assert ex.collateral("carol") == before["carol"] + usd(2_500)
    assert ex.collateral("bob") == before["bob"] - usd(7_500)
    assert ex.get(k.instrument(CALL.name)) is None
    assert CALL.name not in ex.get(k.series("BTC"))
    assert ex.get(k.open_interest(CALL.name)) is None
    assert ex.get(k.portfolio("alice")) is None


def test_expiry_that_misses_a_holder_fails_as_incomplete():
    ex = Exchange().market().fund(alice=10_000, bob=100_000, carol=10_000)
    open_call_positions(ex)
    settle_index_at(ex, 65_000)
    receipt = ex.fails(
        SettleExpiry,
        "oracle",
        "IncompleteSettlement",
        instrument=CALL.name,
        accounts=("alice", "bob"),
    )
    assert dict(receipt.error.details)["open_interest"] == 3 * ONE // 2


def test_expiry_errors():
    ex = Exchange().market()
    args = dict(accounts=())
    ex.fails(SettleExpiry, "oracle", "NotExpired", instrument=PUT.name, **args)
    ex.fails(SettleExpiry, "admin", "Unauthorized", instrument=PUT.name, **args)
    ex.fails(SettleExpiry, "oracle", "WrongInstrumentKind", instrument="BTC-PERP", **args)
    ex.fails(SettleExpiry, "oracle", "UnknownInstrument", instrument="BTC-1JAN27-1-C", **args)


def test_rounding_residual_of_a_settlement_goes_to_the_insurance_fund():
    ex = Exchange().market().fund(alice=10_000, bob=100_000, carol=10_000)
    open_call_positions(ex)
    settle_index_at(ex, 60_000.000003)
    receipt = ex.ok(
        SettleExpiry,
        "oracle",
        instrument=CALL.name,
        accounts=("alice", "bob", "carol"),
    )
    # Payoff 3 micro-USDC per contract: carol's half receives 1, bob's 1.5 pays 5.
    assert receipt.events[0].residual == 1
    assert ex.get(k.INSURANCE_FUND) == 1


def test_a_short_that_cannot_pay_its_settlement_is_recorded_bankrupt_until_it_pays():
    from paraclear.clearing.transactions import Deposit, Withdraw

    ex = Exchange().market().fund(alice=100_000, bob=20_000)
    ex.trade("alice", "bob", CALL, Side.BUY, ONE, usd(3_000))
    ex.block(ex.tx(Withdraw, "bob", amount=usd(1_000)))
    settle_index_at(ex, 100_000)
    owed = usd(100_000 - 60_000)  # settles at 100,000: bob owes 40,000
    receipt = ex.ok(
        SettleExpiry,
        "oracle",
        instrument=CALL.name,
        accounts=("alice", "bob"),
    )
    deficit = owed - usd(20_000 + 3_000 - 18 - 1_000)  # deposit, premium, fee, withdrawal
    assert receipt.events[-1].deficit == deficit
    assert ex.collateral("bob") == -deficit
    ex.block(ex.tx(Deposit, "bob", amount=deficit))
    assert ex.get(k.bankruptcy("bob")) is None and ex.collateral("bob") == 0


def test_settlement_price_weighs_each_index_by_how_long_it_held_in_the_last_30_minutes():
    ex = Exchange().market().fund(alice=10_000, bob=100_000)
    ex.trade("alice", "bob", CALL, Side.BUY, ONE, usd(3_000))
    start = CALL.expiry - 30 * 60
    ex.oracle(90_000, time=start - 600)  # in force at the window's start: counts from it
    ex.oracle(62_000, time=start + 600)  # holds 15 minutes
    ex.oracle(68_000, time=start + 1_500)  # holds the last 5 minutes
    ex.oracle(10, time=CALL.expiry + 120)  # the first update after expiry fixes the TWAP
    ex.oracle(99_999)  # later updates change nothing
    twap = (usd(90_000) * 600 + usd(62_000) * 900 + usd(68_000) * 300) // 1_800
    assert ex.mark(CALL).price == CALL.intrinsic(twap)  # not the index of 10 after expiry
    receipt = ex.ok(SettleExpiry, "oracle", instrument=CALL.name, accounts=("alice", "bob"))
    assert receipt.events[0].settlement_price == twap == 72_333_333_333
    assert ex.collateral("alice") == usd(10_000 - 3_000 - 18) + twap - usd(60_000)


def test_settlement_without_an_update_at_or_after_expiry_fails_with_no_market_data():
    ex = Exchange().market()
    ex.oracle(61_000, time=CALL.expiry - 60)
    ex.time = CALL.expiry
    receipt = ex.fails(SettleExpiry, "oracle", "NoMarketData", instrument=CALL.name, accounts=())
    assert "settlement price" in dict(receipt.error.details)["what"]


def test_index_history_keeps_only_the_last_30_minutes_in_minute_buckets():
    ex = Exchange().market()
    for minute in range(1, 50):
        ex.oracle(60_000 + minute, time=ex.time + 60)
    buckets = ex.get(k.index_history("BTC")).buckets
    assert len(buckets) <= 31
    assert all(minute % 60 == 0 and seconds <= 60 for minute, _, seconds in buckets)
    assert buckets[-1][1] == usd(60_000 + 48) * 60
    assert ex.get(k.settlement_prices("BTC")) is None


def test_an_expiry_off_the_minute_cannot_be_listed():
    from paraclear.clearing.instruments import Option, Right
    from paraclear.clearing.transactions import ListInstrument

    odd = Option(underlying="BTC", expiry=CALL.expiry + 30, strike=usd(1), right=Right.PUT)
    Exchange().fails(ListInstrument, "admin", "InvalidInstrument", instrument=odd)
