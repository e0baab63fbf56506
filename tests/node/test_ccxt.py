"""A client library users have, unchanged: ccxt's Deribit class pointed at a local node
loads its markets and reads tickers, books, trades, candles and funding.

ccxt reaches nothing but the local node: its API address is the node's, and the test
refuses to resolve any other host name."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clearing.harness import CALL, T0
from tests.node.test_deribit import OptionVenue, trade_twice

ccxt = pytest.importorskip("ccxt")
LOCAL = "127.0.0.1"


@pytest.fixture
def local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve = socket.getaddrinfo

    def only_local(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (LOCAL, "localhost"):
            raise OSError(f"the test may not reach {host}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", only_local)


@pytest.fixture
def exchange(tmp_path: Path, local_only: None) -> Iterator[tuple[Any, OptionVenue]]:
    venue = OptionVenue(tmp_path)
    base = venue.server.http_url.removesuffix("/api/v2")
    assert base.startswith(f"http://{LOCAL}:")
    deribit = ccxt.deribit({"urls": {"api": {"rest": base}, "test": {"rest": base}}})
    deribit.timeout = 30_000
    yield deribit, venue
    venue.close()


def test_ccxt_loads_markets_and_reads_public_market_data(exchange: tuple[Any, OptionVenue]) -> None:
    deribit, venue = exchange
    trade_twice(venue)
    markets = deribit.load_markets()
    perp = "BTC/USDC:USDC"
    assert markets[perp]["id"] == "BTC-PERP" and markets[perp]["swap"] is True
    option = next(m for m in markets.values() if m["id"] == CALL.name)
    assert option["option"] is True and option["strike"] == 60_000.0
    assert option["taker"] == 0.0003
    assert "BTC" in deribit.fetch_currencies()
    ticker = deribit.fetch_ticker(perp)
    assert ticker["last"] == 60_000.0 and ticker["ask"] == 60_000.0
    assert ticker["baseVolume"] == 1.5 and ticker["high"] == 60_000.0
    book = deribit.fetch_order_book(perp)
    assert book["asks"] == [[60_000.0, 0.5]] and book["bids"] == []
    trades = deribit.fetch_trades(perp)
    assert [(t["amount"], t["side"]) for t in trades] == [(1.0, "buy"), (0.5, "buy")]
    candles = deribit.fetch_ohlcv(perp, "1m", since=(T0 - 60) * 1000, limit=10)
    assert [c[1:] for c in candles] == [[60_000.0, 60_000.0, 60_000.0, 60_000.0, 1.5]]
    funding = deribit.fetch_funding_rate(perp)
    assert funding["symbol"] == perp
    assert deribit.fetch_funding_rate_history(perp) == []
    assert deribit.fetch_time() > 0
    assert deribit.fetch_status()["status"] == "ok"
    option_ticker = deribit.fetch_ticker(option["symbol"])
    assert option_ticker["info"]["mark_iv"] == 60.0
