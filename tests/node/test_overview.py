"""Whole-market reads: accounts by risk with margins and Greeks, book summaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paraclear.clearing.transactions import ListInstrument, OracleUpdate, OrderType
from paraclear.node import rpc
from paraclear.node.overview import AccountIndex, _margin_ratio
from paraclear.node.rpc import RpcError
from paraclear.state import State
from tests.clearing.harness import CALL, OTM_CALL, usd
from tests.node.test_api import Venue, error_of


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    venue = Venue(tmp_path)
    yield venue
    venue.close()


def list_calls(venue: Venue) -> None:
    """List two calls and republish the index so that they have marks."""
    operator = venue.operator
    admin = venue.client()
    for tx in (
        ListInstrument(sender=operator.account, nonce=2, instrument=CALL),
        ListInstrument(sender=operator.account, nonce=3, instrument=OTM_CALL),
        OracleUpdate(
            sender=operator.account,
            nonce=4,
            underlying="BTC",
            index_price=usd(60_000),
            atm_vol_ppm=600_000,
            skew_ppm=-100_000,
        ),
    ):
        assert admin.send_transaction(operator, tx)["ok"]


def test_accounts_rank_riskiest_first_with_positions_margins_and_greeks(venue: Venue) -> None:
    maker, taker, idle = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, "BTC-PERP", "2", "60000")
    b.buy(taker, "BTC-PERP", "1", "60010", kind=OrderType.IOC)
    accounts = venue.client().call("public/get_accounts", {"limit": 10})
    by_name = {row["account"]: row for row in accounts}
    assert set(by_name) >= {maker.account, taker.account, idle.account}
    ratios = [row["margin_ratio"] for row in accounts]
    assert ratios == sorted(ratios, reverse=True) and ratios[0] > 0
    assert by_name[idle.account]["margin_ratio"] == 0.0
    assert by_name[idle.account]["positions"] == []
    long = by_name[taker.account]
    assert long["positions"] == [
        {"instrument_name": "BTC-PERP", "size": 1.0, "mark_price": 60_000.0}
    ]
    assert long["greeks"] == {"delta": 1.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0}
    assert by_name[maker.account]["greeks"]["delta"] == -1.0
    assert 0 < long["maintenance_margin"] < long["initial_margin"] < long["equity"]
    assert long["margin_ratio"] == pytest.approx(long["maintenance_margin"] / long["equity"])
    assert venue.client().call("public/get_accounts", {"limit": 1}) == accounts[:1]


def test_option_positions_carry_black76_greeks(venue: Venue) -> None:
    list_calls(venue)
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, CALL.name, "1", "5000")
    b.buy(taker, CALL.name, "1", "5000", kind=OrderType.IOC)
    rows = {r["account"]: r for r in venue.client().call("public/get_accounts")}
    long, short = rows[taker.account]["greeks"], rows[maker.account]["greeks"]
    assert 0.4 < long["delta"] < 0.7 and long["gamma"] > 0 and long["vega"] > 0
    assert long["theta"] < 0
    assert short == pytest.approx({greek: -value for greek, value in long.items()})


def test_bad_accounts_params_are_typed_errors(venue: Venue) -> None:
    client = venue.client()
    for params, param in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit")):
        error = error_of(client.call, "public/get_accounts", params)
        assert error.code == rpc.INVALID_PARAMS and error.data is not None
        assert error.data["param"] == param
    for params in ({"sort": "equity"}, {"limit": "many"}, {"page": 2}):
        with pytest.raises(RpcError) as raised:
            client.call("public/get_accounts", params)
        assert raised.value.code == rpc.INVALID_PARAMS


def test_book_summary_has_marks_ivs_quotes_and_open_interest(venue: Venue) -> None:
    list_calls(venue)
    maker, taker, _ = venue.traders
    venue.client(maker).sell(maker, "BTC-PERP", "2", "60100")
    venue.client(taker).buy(taker, "BTC-PERP", "1", "60100", kind=OrderType.IOC)
    client = venue.client()
    summaries = {
        s["instrument_name"]: s
        for s in client.call("public/get_book_summary_by_currency", {"currency": "btc"})
    }
    assert set(summaries) == {"BTC-PERP", CALL.name, OTM_CALL.name}
    perp = summaries["BTC-PERP"]
    assert perp["mark_price"] == 60_000.0 and perp["mark_iv"] is None
    assert perp["ask_price"] == 60_100.0 and perp["bid_price"] is None
    assert perp["volume"] == 1.0 and perp["open_interest"] > 0
    atm, otm = summaries[CALL.name], summaries[OTM_CALL.name]
    assert atm["mark_iv"] == pytest.approx(60.0)
    assert otm["mark_iv"] < atm["mark_iv"]  # negative skew
    assert (otm["strike"], otm["option_type"]) == (70_000.0, "call")
    options = client.call(
        "public/get_book_summary_by_currency", {"currency": "BTC", "kind": "option"}
    )
    assert {s["instrument_name"] for s in options} == {CALL.name, OTM_CALL.name}
    error = error_of(client.call, "public/get_book_summary_by_currency", {"currency": "DOGE"})
    assert error.code == rpc.INVALID_PARAMS


def test_account_index_learns_accounts_from_written_keys() -> None:
    index = AccountIndex()
    index.scan(State({("acct", "a", "collateral"): 5, ("market", "fee_pool"): 1}))
    index.update([("acct", "b", "nonce"), ("acct", "c", "portfolio"), ("acct", "a", "pos", "X")])
    assert index.accounts() == ["a", "c"] and index.size == 2


def test_accounts_under_water_rank_first_with_a_null_ratio() -> None:
    assert _margin_ratio(equity=-5, maintenance=0) is None
    assert _margin_ratio(equity=0, maintenance=3) is None
    assert _margin_ratio(equity=0, maintenance=0) == 0.0
    assert _margin_ratio(equity=10, maintenance=0) == 0.0
    assert _margin_ratio(equity=10, maintenance=4) == 0.4
