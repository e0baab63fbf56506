"""Deribit's public market methods on a running node: reference data, trades numbered for
the life of the chain, candles, summaries, tickers with 24 h statistics and Greeks, and
Deribit's own instrument names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.api import rpc
from paraclear.clearing.transactions import ListInstrument
from paraclear.client.envelope import sign
from tests.clearing.harness import CALL, T0
from tests.node.test_api import CHAIN, Venue, error_of


class OptionVenue(Venue):
    """The API test venue with a BTC call listed beside the perpetual."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        listing = ListInstrument(sender=self.operator.account, nonce=2, instrument=CALL)
        assert self.include(sign(self.operator, CHAIN, listing)).receipt.ok


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[OptionVenue]:
    venue = OptionVenue(tmp_path)
    yield venue
    venue.close()


def trade_twice(venue: Venue) -> Any:
    """A resting sell and two buys against it, in three blocks; returns a client."""
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, "BTC-PERP", "2", "60000")
    b.buy(taker, "BTC-PERP", "1", "60000")
    b.buy(taker, "BTC-PERP", "0.5", "60000")
    return b


def test_currencies_instrument_contract_size_and_index_names(venue: OptionVenue) -> None:
    client = venue.client()
    assert [c["currency"] for c in client.call("public/get_currencies")] == ["BTC"]
    perp = client.call("public/get_instrument", {"instrument_name": "BTC-PERP"})
    assert (perp["maker_commission"], perp["taker_commission"]) == (0.0002, 0.0005)
    assert perp["settlement_period"] == "perpetual" and perp["kind"] == "future"
    option = client.call("public/get_instrument", {"instrument_name": CALL.name})
    assert option["maker_commission"] == option["taker_commission"] == 0.0003
    listed = client.call("public/get_instruments", {"currency": "BTC"})
    assert all("taker_commission" in instrument for instrument in listed)
    size = client.call("public/get_contract_size", {"instrument_name": CALL.name})
    assert size == {"contract_size": 1.0}
    assert client.call("public/get_index_price_names") == ["btc_usdc"]
    assert client.call("public/get_expirations", {"currency": "BTC"}) == {
        "future": ["perpetual"],
        "option": ["26JUN26"],
    }
    assert client.call("public/get_expirations", {"currency": "any", "kind": "option"}) == {
        "btc": {"option": ["26JUN26"]}
    }
    error = error_of(client.call, "public/get_instrument", {"instrument_name": "ETH-PERP"})
    assert error.code == rpc.INVALID_PARAMS and error.data is not None


def test_perpetual_answers_to_deribit_names(venue: OptionVenue) -> None:
    client = venue.client()
    for alias in ("BTC_USDC-PERPETUAL", "BTC-PERPETUAL"):
        ticker = client.call("public/ticker", {"instrument_name": alias})
        assert ticker["instrument_name"] == "BTC-PERP"
    book = client.call("public/get_order_book", {"instrument_name": "BTC_USDC-PERPETUAL"})
    assert book["instrument_name"] == "BTC-PERP"


def test_trade_seq_counts_fills_per_instrument_across_blocks(venue: OptionVenue) -> None:
    client = trade_twice(venue)
    result = client.call("public/get_last_trades_by_instrument", {"instrument_name": "BTC-PERP"})
    assert [(t["trade_seq"], t["amount"]) for t in result["trades"]] == [(1, 1.0), (2, 0.5)]
    assert result["has_more"] is False
    newest = client.call(
        "public/get_last_trades_by_instrument",
        {"instrument_name": "BTC-PERP", "count": 1, "sorting": "desc", "include_old": True},
    )
    assert [t["trade_seq"] for t in newest["trades"]] == [2] and newest["has_more"] is True
    from_seq = client.call(
        "public/get_last_trades_by_instrument",
        {"instrument_name": "BTC-PERP", "start_seq": 2, "end_seq": 5},
    )
    assert [t["trade_seq"] for t in from_seq["trades"]] == [2]
    by_time = client.call(
        "public/get_last_trades_by_instrument_and_time",
        {"instrument_name": "BTC-PERP", "start_timestamp": T0 * 1000, "end_timestamp": T0 * 1000},
    )
    assert len(by_time["trades"]) == 2
    assert all(t["index_price"] == 60_000.0 for t in by_time["trades"])
    by_currency = client.call(
        "public/get_last_trades_by_currency", {"currency": "BTC", "kind": "future"}
    )
    assert [t["trade_seq"] for t in by_currency["trades"]] == [1, 2]
    second = by_currency["trades"][1]["trade_id"]
    from_id = client.call(
        "public/get_last_trades_by_currency", {"currency": "BTC", "start_id": second}
    )
    assert [t["trade_id"] for t in from_id["trades"]] == [second]
    up_to = client.call("public/get_last_trades_by_currency", {"currency": "BTC", "end_id": second})
    assert len(up_to["trades"]) == 2
    error = error_of(
        client.call, "public/get_last_trades_by_currency", {"currency": "BTC", "end_id": "x"}
    )
    assert error.data is not None and error.data["param"] == "end_id"
    options = client.call(
        "public/get_last_trades_by_currency", {"currency": "BTC", "kind": "option"}
    )
    assert options == {"trades": [], "has_more": False}


def test_an_order_answer_carries_the_chain_long_trade_seq(venue: OptionVenue) -> None:
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, "BTC-PERP", "2", "60000")
    b.buy(taker, "BTC-PERP", "1", "60000")
    answer = b.buy(taker, "BTC-PERP", "0.5", "60000")
    assert [t["trade_seq"] for t in answer["trades"]] == [2]


def test_candles_summary_and_ticker_statistics(venue: OptionVenue) -> None:
    client = trade_twice(venue)
    chart = client.call(
        "public/get_tradingview_chart_data",
        {
            "instrument_name": "BTC-PERP",
            "start_timestamp": (T0 - 3600) * 1000,
            "end_timestamp": T0 * 1000,
            "resolution": "60",
        },
    )
    assert chart["status"] == "ok" and chart["close"] == [60_000.0]
    assert chart["volume"] == [1.5] and chart["cost"] == [90_000.0]
    assert chart["ticks"] == [(T0 - T0 % 3600) * 1000]
    error = error_of(
        client.call,
        "public/get_tradingview_chart_data",
        {
            "instrument_name": "BTC-PERP",
            "start_timestamp": 0,
            "end_timestamp": 1,
            "resolution": "7",
        },
    )
    assert error.data is not None and error.data["param"] == "resolution"
    [summary] = client.call(
        "public/get_book_summary_by_instrument", {"instrument_name": "BTC-PERP"}
    )
    assert (summary["volume"], summary["volume_usd"], summary["last"]) == (1.5, 90_000.0, 60_000.0)
    assert summary["ask_price"] == 60_000.0 and summary["open_interest"] == 1.5
    ticker = client.call("public/ticker", {"instrument_name": "BTC-PERP"})
    assert ticker["stats"] == {
        "volume": 1.5,
        "volume_usd": 90_000.0,
        "high": 60_000.0,
        "low": 60_000.0,
        "price_change": 0.0,
    }
    assert "current_funding" in ticker and "funding_8h" in ticker


def test_option_ticker_has_greeks_and_implied_volatilities(venue: OptionVenue) -> None:
    maker = venue.traders[0]
    client = venue.client(maker)
    client.sell(maker, CALL.name, "1", "9000")
    client.buy(maker, CALL.name, "1", "1000")
    ticker = client.call("public/ticker", {"instrument_name": CALL.name})
    assert ticker["mark_iv"] == 60.0 and ticker["underlying_price"] == 60_000.0
    greeks = ticker["greeks"]
    assert 0.5 < greeks["delta"] < 0.6 and greeks["gamma"] > 0 and greeks["vega"] > 0
    assert greeks["theta"] < 0 and greeks["rho"] < 0
    assert ticker["bid_iv"] < ticker["mark_iv"] < ticker["ask_iv"]


def test_funding_settlements_and_history_answer_empty_before_any(venue: OptionVenue) -> None:
    client = venue.client()
    perp = {"instrument_name": "BTC-PERP"}
    assert client.call("public/get_funding_rate_history", perp) == []
    assert client.call("public/get_funding_rate_value", perp) == 0.0
    assert client.call("public/get_funding_chart_data", perp)["data"] == []
    assert client.call("public/get_delivery_prices", {"index_name": "btc_usdc"}) == {
        "data": [],
        "records_total": 0,
    }
    assert client.call("public/get_last_settlements_by_currency", {"currency": "BTC"}) == {
        "settlements": [],
        "continuation": "none",
    }
    history = client.call("public/get_mark_price_history", {"instrument_name": CALL.name})
    assert len(history) == 1 and history[0][0] == T0 * 1000 and history[0][1] > 0
    assert client.call("public/get_historical_volatility", {"currency": "BTC"}) == []
