"""State as JSON: instruments shaped like ccxt markets with Deribit's fields."""

from __future__ import annotations

from paraclear.api import views
from paraclear.clearing.events import OrderFilled
from paraclear.clearing.instruments import Option, Right, expiry_time
from tests.clearing.harness import CALL, ONE, PERP, PUT, T0, Exchange, usd


def test_option_view_has_ccxt_and_deribit_fields() -> None:
    view = views.instrument_view(CALL)
    assert view["id"] == view["instrument_name"] == "BTC-26JUN26-60000-C"
    assert view["symbol"] == "BTC/USDC:USDC-260626-60000-C"
    assert (view["type"], view["kind"], view["option"], view["swap"]) == (
        "option",
        "option",
        True,
        False,
    )
    assert (view["strike"], view["optionType"], view["option_type"]) == (60_000.0, "call", "call")
    assert view["expiry"] == view["expiration_timestamp"] == CALL.expiry * 1000
    assert view["expiryDatetime"] == "2026-06-26T08:00:00.000Z"
    assert view["tick_size"] == view["precision"]["price"] == 0.1
    assert view["min_trade_amount"] == view["limits"]["amount"]["min"] == 0.1
    assert (view["base"], view["quote"], view["settle"], view["contractSize"]) == (
        "BTC",
        "USDC",
        "USDC",
        1.0,
    )
    assert views.instrument_view(PUT)["optionType"] == "put"


def test_perpetual_view_is_a_linear_swap() -> None:
    view = views.instrument_view(PERP)
    assert view["symbol"] == "BTC/USDC:USDC"
    assert (view["type"], view["kind"], view["settlement_period"]) == (
        "swap",
        "future",
        "perpetual",
    )
    assert view["expiry"] is None and view["strike"] is None
    assert view["min_trade_amount"] == 0.001
    assert view["initial_margin"] == 0.02


def test_settlement_period_follows_deribit() -> None:
    def period(day: int, month: int) -> str:
        return views.settlement_period(expiry_time(day, month, 2026))

    assert [period(26, 6), period(19, 6), period(22, 6)] == ["month", "week", "day"]


def test_listed_instruments_and_the_deribit_filter() -> None:
    exchange = Exchange().market()
    listed = views.listed_instruments(exchange.state)
    assert [i.name for i in listed] == sorted(i.name for i in listed) and len(listed) == 4
    now = exchange.time
    assert views.select_instruments(listed, "BTC", "future", time=now) == [PERP]
    assert len(views.select_instruments(listed, "btc", "option", time=now)) == 3
    assert views.select_instruments(listed, "ETH", time=now) == []
    assert views.select_instruments(listed, expired=True, time=CALL.expiry) == [
        i for i in listed if isinstance(i, Option)
    ]
    strike = Option("ETH", CALL.expiry, 3_000_000_000, Right.PUT)
    assert views.select_instruments([strike], "ETH", time=now) == [strike]


def test_index_price_view() -> None:
    oracle = views.oracle_of(Exchange().market(index=61_234.5).state, "BTC")
    assert oracle is not None
    assert views.index_price_view(oracle)["index_price"] == 61_234.5


def test_book_view_lists_levels_best_first_with_deribit_and_ccxt_fields() -> None:
    bids = [(usd(59_990), 2 * ONE), (usd(59_980), ONE)]
    asks = [(usd(60_010), ONE // 2)]
    view = views.book_view("BTC-PERP", bids, asks, depth=1, height=7, time=T0, mark=None)
    assert view["bids"] == [[59_990.0, 2.0]] and view["asks"] == [[60_010.0, 0.5]]
    assert (view["best_bid_price"], view["best_ask_amount"]) == (59_990.0, 0.5)
    assert (view["change_id"], view["nonce"], view["symbol"]) == (7, 7, "BTC/USDC:USDC")
    empty = views.book_view("BTC-PERP", [], [], depth=5, height=1, time=T0)
    assert empty["best_bid_price"] is None and empty["best_ask_amount"] == 0.0


def test_trade_view_names_both_orders_and_the_taker_side() -> None:
    fill = OrderFilled(
        instrument="BTC-PERP",
        taker="bb",
        taker_order=4,
        maker="aa",
        maker_order=1,
        taker_side="sell",
        size=ONE // 4,
        price=usd(60_000),
        maker_fee=0,
        taker_fee=1,
    )
    view = views.trade_view(9, T0, 2, fill)
    assert (view["trade_id"], view["side"], view["amount"], view["cost"]) == (
        "9-BTC-PERP-2",
        "sell",
        0.25,
        15_000.0,
    )
    assert (view["taker_order_id"], view["maker_order_id"]) == ("bb-4", "aa-1")
