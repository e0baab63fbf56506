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


def test_ccxt_pro_watches_books_tickers_trades_and_candles_over_the_websocket(
    tmp_path: Path, local_only: None
) -> None:
    import asyncio
    import time

    pro = pytest.importorskip("ccxt.pro")
    venue = OptionVenue(tmp_path)
    perp = "BTC/USDC:USDC"

    async def watch() -> tuple[Any, Any, Any]:
        urls = {"rest": venue.server.http_url, "ws": venue.server.url}
        deribit = pro.deribit({"urls": {"api": urls, "test": urls}})
        try:
            await deribit.load_markets()
            book = asyncio.ensure_future(deribit.watch_order_book(perp))
            ticker = asyncio.ensure_future(deribit.watch_ticker(perp))
            trades = asyncio.ensure_future(deribit.watch_trades(perp))
            candles = asyncio.ensure_future(deribit.watch_ohlcv(perp, "1m"))
            first = await asyncio.wait_for(book, 60)  # subscribed: the snapshot came
            assert (first["bids"], first["asks"]) == ([], [])
            # Trade until every stream spoke: a subscription may land after a round's blocks
            # (a block starts as soon as a trade waits), so each round waits a second for
            # them; a liveness bound, not a timing figure.
            streams = (ticker, trades, candles)
            deadline = time.monotonic() + 60
            while not all(stream.done() for stream in streams):
                assert time.monotonic() < deadline, "a stream said nothing in 60 s of trades"
                await asyncio.to_thread(trade_twice, venue)
                await asyncio.wait(streams, timeout=1.0, return_when=asyncio.ALL_COMPLETED)
            rest = venue.client().call("public/get_order_book", {"instrument_name": "BTC-PERP"})
            deadline = time.monotonic() + 60  # a liveness bound, not a timing figure
            while [level[:2] for level in deribit.orderbooks[perp]["asks"]] != rest["asks"]:
                assert time.monotonic() < deadline, deribit.orderbooks[perp]["asks"]
                await asyncio.sleep(0.05)
            [candle] = candles.result()[-1:]
            assert candle[0] == T0 * 1000 and candle[4] == 60_000.0 and candle[5] > 0
            return deribit.orderbooks[perp], ticker.result(), trades.result()
        finally:
            await deribit.close()

    try:
        book, ticker, trades = asyncio.run(watch())
    finally:
        venue.close()
    assert book["bids"] == [] and book["nonce"] > 0  # ccxt applied snapshot and changes
    assert ticker["symbol"] == perp and ticker["ask"] == 60_000.0
    numbers = [trade["info"]["trade_seq"] for trade in trades]
    assert trades[0]["symbol"] == perp and numbers == list(range(numbers[0], numbers[-1] + 1))
