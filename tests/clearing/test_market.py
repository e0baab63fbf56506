import pytest

from paraclear.clearing.events import FundingPaid, InstrumentListed
from paraclear.clearing.instruments import Option, Perpetual, Right
from paraclear.clearing.records import HouseConfig
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


def start_clean_period(ex, bid, ask):
    """Publish impact prices, then pay funding once, so that the next period's premium
    is the same from start to end."""
    ex.oracle(60_000, impact_bid=usd(bid), impact_ask=usd(ask))
    return pay_funding_when_due(ex)


def pay_funding_when_due(ex):
    ex.time = ex.get(k.premium(PERP.name)).start + 3_600 - 60
    return ex.ok(Funding, "oracle", instrument=PERP.name)


def test_the_perpetual_mark_is_the_impact_mid_clamped_to_one_percent_of_the_index():
    ex = Exchange().market()
    ex.oracle(60_000, impact_bid=usd(60_010), impact_ask=usd(60_030.5))
    assert ex.mark(PERP).price == usd(60_020.25) and ex.mark(PERP).index == usd(60_000)
    ex.oracle(60_000, impact_bid=usd(61_000), impact_ask=usd(62_000))
    assert ex.mark(PERP).price == usd(60_600)
    ex.oracle(50_000, impact_bid=usd(10_000), impact_ask=usd(10_001))
    assert ex.mark(PERP).price == usd(49_500)
    ex.oracle(50_000)
    assert ex.mark(PERP).price == usd(50_000)


def test_funding_pays_an_eighth_of_the_time_weighted_premium_of_the_hour():
    ex = Exchange().market()  # listed at T0 + 60, premium 0 until the next update
    ex.oracle(60_000, impact_bid=usd(60_040), impact_ask=usd(60_056), time=T0 + 180)
    assert ex.get(k.premium(PERP.name)).premium_ppm == 800  # mark 60,048
    ex.fails(Funding, "oracle", "FundingNotDue", instrument=PERP.name)
    ex.time = T0 + 3_600
    receipt = ex.ok(Funding, "oracle", instrument=PERP.name)  # at T0 + 3,660
    # 800 ppm held 3,480 of 3,600 s: average 773.3, an eighth of it 96.67 -> 96 ppm.
    assert receipt.events[0].rate_ppm == 96
    receipt = pay_funding_when_due(ex)  # a whole hour at 800 ppm
    # 100 ppm of the 60,048 mark per lot of 0.001 contract: 0.0060048 USDC, rounded down.
    assert receipt.events == (
        FundingPaid(
            instrument=PERP.name, rate_ppm=100, index_delta=6_004, funding_index=5_764 + 6_004
        ),
    )


def test_funding_is_capped_per_hour():
    config = HouseConfig(admin="admin", oracle="oracle", max_funding_rate_ppm=30)
    ex = Exchange(config=config).market()
    start_clean_period(ex, 60_500, 60_700)  # premium 1 % (the band): 1,250 ppm an hour
    assert pay_funding_when_due(ex).events[0].rate_ppm == 30
    start_clean_period(ex, 10_000, 10_000)
    assert pay_funding_when_due(ex).events[0].rate_ppm == -30


def test_funding_accrues_to_positions_and_settles_into_quote_when_they_change():
    ex = Exchange().market().fund(alice=100_000, bob=100_000)
    start_clean_period(ex, 60_040, 60_056)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    index = pay_funding_when_due(ex).events[0].funding_index
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    position = ex.position("alice", PERP)
    assert position.quote == -usd(120_000) - 1_000 * 6_004 and position.funding_index == index


def test_funding_errors():
    ex = Exchange().market()
    ex.fails(Funding, "oracle", "WrongInstrumentKind", instrument=CALL.name)
    ex.fails(Funding, "oracle", "FundingNotDue", instrument=PERP.name)
    ex.fails(Funding, "admin", "Unauthorized", instrument=PERP.name)
    ex.fails(Funding, "oracle", "UnknownInstrument", instrument="ETH-PERP")


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
    start_clean_period(ex, 59_970, 59_970)  # mark 59,970: premium -500 ppm, -62 an hour
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    # -62 ppm of 59,970 per lot of 0.001: -0.00371814 USDC, rounded down to -3,719 micro.
    assert pay_funding_when_due(ex).events[0].index_delta == -3_719
    alice, bob = ex.collateral("alice"), ex.collateral("bob")
    ex.trade("alice", "bob", PERP, Side.SELL, ONE, usd(60_000))
    assert ex.position("alice", PERP) is None and ex.position("bob", PERP) is None
    received = 1_000 * 3_719  # 1,000 lots
    assert ex.collateral("alice") == alice + received - usd(30)  # funding, taker fee
    assert ex.collateral("bob") == bob - received - usd(12)
