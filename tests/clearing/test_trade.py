import pytest

from paraclear.clearing.events import TradeSettled
from paraclear.clearing.transactions import Deposit, Side, Trade
from paraclear.state import keys as k

from .harness import CALL, ONE, PERP, Exchange, usd


def trade(ex, taker, maker, inst, side, size, price, code=None):
    fields = dict(maker=maker, instrument=inst.name, side=side, size=size, price=price)
    if code:
        return ex.fails(Trade, taker, code, **fields)
    return ex.ok(Trade, taker, **fields)


@pytest.fixture
def ex():
    return Exchange().market().fund(alice=100_000, bob=100_000)


def test_option_trade_pays_premium_and_capped_fees_and_opens_both_positions(ex):
    receipt = trade(ex, "alice", "bob", CALL, Side.BUY, ONE // 2, usd(3_000))
    # Fee: min(0.03 % of 0.5 × 60,000 = 9, 12.5 % of the 1,500 premium) = 9 each.
    assert receipt.events == (
        TradeSettled(
            instrument=CALL.name,
            maker="bob",
            taker="alice",
            taker_side="buy",
            size=ONE // 2,
            price=usd(3_000),
            maker_fee=usd(9),
            taker_fee=usd(9),
        ),
    )
    assert ex.collateral("alice") == usd(100_000 - 1_500 - 9)
    assert ex.collateral("bob") == usd(100_000 + 1_500 - 9)
    assert (ex.size("alice", CALL), ex.size("bob", CALL)) == (ONE // 2, -ONE // 2)
    assert ex.get(k.open_interest(CALL.name)) == ONE // 2
    assert ex.get(k.FEE_POOL) == usd(18)
    assert ex.get(k.portfolio("alice")) == (CALL.name,)


def test_cheap_option_fee_is_capped_at_an_eighth_of_the_premium(ex):
    receipt = trade(ex, "alice", "bob", CALL, Side.BUY, ONE, usd(100))
    assert receipt.events[0].taker_fee == usd(12.5)


def test_perpetual_trade_moves_quote_and_closing_realises_pnl(ex):
    trade(ex, "alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    position = ex.position("alice", PERP)
    assert position is not None and position.quote == -usd(60_000)
    assert ex.collateral("alice") == usd(100_000 - 30)  # only the 0.05 % taker fee
    trade(ex, "alice", "bob", PERP, Side.SELL, ONE, usd(61_000))
    assert ex.position("alice", PERP) is None
    assert ex.collateral("alice") == usd(100_000 - 30 + 1_000 - 30.5)
    assert ex.collateral("bob") == usd(100_000 - 12 - 1_000 - 12.2)
    assert ex.get(k.open_interest(PERP.name)) is None
    assert ex.get(k.portfolio("alice")) is None


def test_trade_that_exceeds_initial_margin_fails_with_required_and_available(ex):
    receipt = trade(
        ex, "alice", "bob", PERP, Side.BUY, 100 * ONE, usd(60_000), "InsufficientMargin"
    )
    details = dict(receipt.error.details)
    assert details["account"] == "alice"
    assert details["required"] == usd(120_000)  # 2 % of 6,000,000
    assert details["available"] < details["required"]


def test_risk_reducing_trade_skips_the_margin_check(ex):
    trade(ex, "alice", "bob", PERP, Side.BUY, 40 * ONE, usd(60_000))
    ex.oracle(58_000)  # alice loses 80,000 and is below initial margin now
    trade(ex, "alice", "bob", PERP, Side.SELL, ONE, usd(58_000))
    assert ex.size("alice", PERP) == 39 * ONE


def test_selling_an_option_needs_standard_margin(ex):
    ex.block(ex.tx(Deposit, "carol", amount=usd(1_000)))
    trade(ex, "carol", "alice", CALL, Side.SELL, ONE, usd(3_000), "InsufficientMargin")


def test_buying_an_option_without_the_cash_fails(ex):
    ex.block(ex.tx(Deposit, "carol", amount=usd(100)))
    receipt = trade(ex, "carol", "bob", CALL, Side.BUY, ONE, usd(3_000), "InsufficientCollateral")
    assert dict(receipt.error.details)["available"] < usd(3_000)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (dict(instrument="BTC-PERP", price=usd(60_000.05)), "NotMultiple"),
        (dict(instrument="BTC-PERP", size=1), "NotMultiple"),
        (dict(instrument="ETH-PERP"), "UnknownInstrument"),
        (dict(maker="alice"), "SelfTrade"),
    ],
)
def test_bad_trades_fail_with_typed_errors(ex, fields, code):
    base = dict(maker="bob", instrument=PERP.name, side=Side.BUY, size=ONE, price=usd(60_000))
    ex.fails(Trade, "alice", code, **{**base, **fields})


def test_trading_an_expired_option_fails(ex):
    ex.time = CALL.expiry
    trade(ex, "alice", "bob", CALL, Side.BUY, ONE, usd(3_000), "InstrumentExpired")


def test_flipping_a_position_checks_margin_on_the_new_side(ex):
    trade(ex, "alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    trade(ex, "alice", "bob", PERP, Side.SELL, 3 * ONE, usd(60_000))
    assert ex.size("alice", PERP) == -2 * ONE
    assert ex.get(k.open_interest(PERP.name)) == 2 * ONE
