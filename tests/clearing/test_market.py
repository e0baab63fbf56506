import pytest

from paraclear.clearing.events import FundingPaid, InstrumentListed
from paraclear.clearing.instruments import Option, Perpetual, Right
from paraclear.clearing.transactions import Funding, ListInstrument, OracleUpdate, Side, Trade
from paraclear.risk.reference import black76_price_scalar
from paraclear.state import keys as k

from .harness import CALL, EXPIRY, ONE, OTM_CALL, PERP, T0, Exchange, usd


def test_listing_needs_the_admin():
    ex = Exchange()
    ex.fails(ListInstrument, "mallory", "Unauthorized", instrument=PERP)
    receipt = ex.ok(ListInstrument, "admin", instrument=PERP)
    assert receipt.events == (InstrumentListed(instrument="BTC-PERP"),)
    assert ex.get(k.series("BTC")) == ("BTC-PERP",)
    ex.fails(ListInstrument, "admin", "InstrumentExists", instrument=PERP)


@pytest.mark.parametrize(
    "bad",
    [
        Perpetual(underlying="BTC", tick_size=3, lot_size=7),
        Perpetual(underlying="BTC", initial_margin_ppm=1_000, maintenance_margin_ppm=2_000),
        Option(underlying="BTC", expiry=T0 - 1, strike=usd(1), right=Right.PUT),
        Perpetual(underlying="BTC", lot_size=0),
    ],
)
def test_invalid_specifications_are_refused(bad):
    Exchange().fails(ListInstrument, "admin", "InvalidInstrument", instrument=bad)


def test_oracle_update_marks_every_series_with_black76():
    ex = Exchange().market(index=60_000, vol_ppm=600_000)
    years = (EXPIRY - ex.time) / (365 * 86_400)
    expected = black76_price_scalar(60_000, 70_000, years, 0.0, 0.6, True)
    assert ex.mark(OTM_CALL).price == round(expected * 1_000_000)
    assert ex.mark(PERP).price == usd(60_000)
    assert ex.mark(CALL).index == usd(60_000)
    ex.fails(
        OracleUpdate, "mallory", "Unauthorized", underlying="BTC", index_price=1, atm_vol_ppm=1
    )


def test_funding_accrues_to_positions_and_settles_into_quote_when_they_change():
    ex = Exchange().market().fund(alice=100_000, bob=100_000)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    receipt = ex.ok(Funding, "oracle", instrument=PERP.name, rate_ppm=100)
    # 0.01 % of 60,000 per contract = 6 per contract = 0.006 per lot of 0.001.
    assert receipt.events == (
        FundingPaid(instrument=PERP.name, rate_ppm=100, index_delta=6_000, funding_index=6_000),
    )
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    position = ex.position("alice", PERP)
    assert position.quote == -usd(120_000) - usd(6) and position.funding_index == 6_000


def test_funding_errors():
    ex = Exchange().market()
    ex.fails(Funding, "oracle", "WrongInstrumentKind", instrument=CALL.name, rate_ppm=1)
    ex.fails(Funding, "oracle", "Malformed", instrument=PERP.name, rate_ppm=6_000)
    ex.fails(Funding, "admin", "Unauthorized", instrument=PERP.name, rate_ppm=1)
    ex.fails(Funding, "oracle", "UnknownInstrument", instrument="ETH-PERP", rate_ppm=1)


def test_trading_before_any_oracle_fails_with_no_market_data():
    ex = Exchange()
    ex.block(ex.tx(ListInstrument, "admin", instrument=PERP))
    ex.fund(alice=1_000, bob=1_000)
    ex.fails(
        Trade,
        "alice",
        "NoMarketData",
        maker="bob",
        instrument=PERP.name,
        side=Side.BUY,
        size=ONE // 1000,
        price=usd(60_000),
    )


def test_an_oracle_update_the_risk_engine_cannot_price_fails_with_invalid_oracle():
    ex = Exchange()
    huge = Perpetual(underlying="ETH", contract_size=10**17)  # 1e11 ETH per contract
    ex.ok(ListInstrument, "admin", instrument=huge)
    receipt = ex.fails(
        OracleUpdate,
        "oracle",
        "InvalidOracle",
        underlying="ETH",
        index_price=usd(3_000),
        atm_vol_ppm=500_000,
    )
    assert dict(receipt.error.details)["underlying"] == "ETH"


def test_funding_is_realised_into_collateral_when_the_position_closes():
    ex = Exchange().market().fund(alice=100_000, bob=100_000)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    ex.ok(Funding, "oracle", instrument=PERP.name, rate_ppm=100)  # longs pay 6 per contract
    ex.ok(Funding, "oracle", instrument=PERP.name, rate_ppm=-50)  # then receive 3
    alice, bob = ex.collateral("alice"), ex.collateral("bob")
    ex.trade("alice", "bob", PERP, Side.SELL, ONE, usd(60_000))
    assert ex.position("alice", PERP) is None and ex.position("bob", PERP) is None
    assert ex.collateral("alice") == alice - usd(3) - usd(30)  # net funding, taker fee
    assert ex.collateral("bob") == bob + usd(3) - usd(12)
