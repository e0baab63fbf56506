"""Deribit's subscriptions on a running node: interval suffixes and aliases, an unknown
channel refused alone, book snapshots then changes that chain exactly, trades as lists
with their chain-long ``trade_seq``, the index, quotes and heartbeats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.api.heartbeat import Heartbeats
from paraclear.api.hub import Hub
from paraclear.api.methods import PublicMethods
from paraclear.api.rpc import Registry
from paraclear.api.server import ApiServer, ServerThread
from paraclear.clearing.transactions import OracleUpdate
from paraclear.client.connection import Client
from paraclear.client.envelope import sign
from paraclear.client.subscription import ConnectionClosed
from tests.clearing.harness import T0, usd
from tests.node.support import market
from tests.node.test_api import CHAIN, Venue
from tests.node.test_deribit import trade_twice


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    venue = Venue(tmp_path)
    yield venue
    venue.close()


class Inbox:
    """A subscription's messages by channel, taken in order."""

    def __init__(self, subscription: Any) -> None:
        self.subscription = subscription
        self.seen: dict[str, list[Any]] = {}

    def take(self, channel: str, count: int) -> list[Any]:
        """The next ``count`` messages of ``channel`` (others are kept for later)."""
        while len(self.seen.get(channel, [])) < count:
            name, data = self.subscription.get(timeout=30)
            self.seen.setdefault(name, []).append(data)
        found = self.seen[channel][:count]
        del self.seen[channel][:count]
        return found


def publish_index(venue: Venue, nonce: int, index: float) -> None:
    """The operator's oracle update of the BTC index, in a block of its own."""
    update = OracleUpdate(
        sender=venue.operator.account,
        nonce=nonce,
        underlying="BTC",
        index_price=usd(index),
        atm_vol_ppm=600_000,
    )
    assert venue.include(sign(venue.operator, CHAIN, update)).receipt.ok


def apply(book: dict[float, float], levels: list[list[Any]]) -> None:
    for action, price, amount in levels:
        if action == "delete":
            del book[price]
        else:
            assert (action == "new") == (price not in book)
            book[price] = amount


def test_a_batch_with_an_unknown_channel_subscribes_the_others(venue: Venue) -> None:
    client = venue.client()
    asked = [
        "book.BTC-PERP.100ms",
        "book.BTC_USDC-PERPETUAL.raw",
        "book.BTC-PERP.none.10.100ms",
        "ticker.BTC-PERP.agg2",
        "trades.BTC-PERPETUAL.100ms",
        "trades.future.BTC.100ms",
        "quote.BTC-PERP",
        "incremental_ticker.BTC-PERP",
        "perpetual.BTC-PERP.100ms",
        "deribit_price_index.btc_usd",
        "markprice.options.btc_usdc",
        "platform_state",
        "chart.trades.BTC-PERPETUAL.1D",
        "chart.trades.BTC-PERP.7",
        "book.BTC-PERP.1s",
        "book.ETH-PERP.100ms",
        "nonsense",
    ]
    assert client.call("public/subscribe", {"channels": asked}) == asked[:-4]


def test_book_snapshot_then_changes_chain_and_rebuild_the_book(venue: Venue) -> None:
    maker, taker, third = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, "BTC-PERP", "2", "60000")
    watcher = venue.client()
    stream = Inbox(watcher.subscribe(["book.BTC_USDC-PERPETUAL.100ms", "book.BTC-PERP"]))
    a.sell(maker, "BTC-PERP", "1", "60100")
    b.buy(taker, "BTC-PERP", "2", "60000")
    venue.client(third).buy(third, "BTC-PERP", "1", "59000")
    messages = stream.take("book.BTC_USDC-PERPETUAL.100ms", 4)
    snapshot, changes = messages[0], messages[1:]
    assert snapshot["type"] == "snapshot" and snapshot["asks"] == [["new", 60_000.0, 2.0]]
    assert [m["type"] for m in changes] == ["change"] * 3
    assert [m["prev_change_id"] for m in changes] == [snapshot["change_id"]] + [
        m["change_id"] for m in changes[:-1]
    ]
    bids: dict[float, float] = {}
    asks: dict[float, float] = {p: s for _, p, s in snapshot["asks"]}
    for change in changes:
        apply(bids, change["bids"])
        apply(asks, change["asks"])
    book = watcher.call("public/get_order_book", {"instrument_name": "BTC-PERP"})
    assert sorted(asks.items()) == [tuple(level) for level in book["asks"]] == [(60_100.0, 1.0)]
    assert sorted(bids.items()) == [tuple(level) for level in book["bids"]] == [(59_000.0, 1.0)]
    own = stream.take("book.BTC-PERP", 3)
    assert [m["prev_change_id"] for m in own[1:]] == [m["change_id"] for m in own[:-1]]


def test_trades_come_as_deribit_lists_numbered_for_the_chain(venue: Venue) -> None:
    maker, taker, _ = venue.traders
    watcher = venue.client()
    stream = Inbox(watcher.subscribe(["trades.BTC-PERP.100ms", "trades.future.BTC.raw"]))
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, "BTC-PERP", "2", "60000")
    b.buy(taker, "BTC-PERP", "1", "60000")
    b.buy(taker, "BTC-PERP", "0.5", "60000")
    by_instrument = stream.take("trades.BTC-PERP.100ms", 2)
    assert [[t["trade_seq"] for t in m] for m in by_instrument] == [[1], [2]]
    assert by_instrument[0][0]["instrument_name"] == "BTC-PERP"
    by_currency = stream.take("trades.future.BTC.raw", 2)
    assert [[t["amount"] for t in m] for m in by_currency] == [[1.0], [0.5]]


def test_candles_of_each_resolution_follow_the_trades(venue: Venue) -> None:
    watcher = venue.client()
    stream = Inbox(watcher.subscribe(["chart.trades.BTC-PERPETUAL.1", "chart.trades.BTC-PERP.60"]))
    trade_twice(venue)
    minute = stream.take("chart.trades.BTC-PERPETUAL.1", 2)
    hour = stream.take("chart.trades.BTC-PERP.60", 2)
    assert [(m["tick"], m["close"], m["volume"]) for m in minute] == [
        (T0 * 1000, 60_000.0, 1.0),
        (T0 * 1000, 60_000.0, 1.5),
    ]
    assert hour[-1]["tick"] == (T0 - T0 % 3_600) * 1000 and hour[-1]["cost"] == 90_000.0


def test_index_quote_and_incremental_ticker(venue: Venue) -> None:
    maker = venue.traders[0]
    watcher = venue.client()
    channels = ["deribit_price_index.btc_usdc", "quote.BTC-PERP", "incremental_ticker.BTC-PERP"]
    stream = Inbox(watcher.subscribe(channels))
    first = stream.take("incremental_ticker.BTC-PERP", 1)[0]
    assert first["type"] == "snapshot" and first["instrument_name"] == "BTC-PERP"
    venue.client(maker).sell(maker, "BTC-PERP", "1", "61000")
    quote = stream.take("quote.BTC-PERP", 1)[0]
    assert quote["best_ask_price"] == 61_000.0 and quote["best_ask_amount"] == 1.0
    assert stream.take("incremental_ticker.BTC-PERP", 1)[0]["type"] == "change"
    publish_index(venue, 2, 61_000)
    index = stream.take("deribit_price_index.btc_usdc", 1)[0]
    assert (index["index_name"], index["price"]) == ("btc_usdc", 61_000.0)


@pytest.fixture
def heartbeat_server() -> Iterator[ServerThread]:
    registry = Registry()
    PublicMethods(market()).register(registry)
    Heartbeats(min_interval=0.2).register(registry)
    with ServerThread(ApiServer(registry, hub=Hub())) as thread:
        yield thread


def test_heartbeat_test_requests_answered_keep_the_connection(
    heartbeat_server: ServerThread,
) -> None:
    with Client.connect(heartbeat_server.url, timeout=30) as client:
        error = None
        try:
            client.call("public/set_heartbeat", {"interval": 0.1})
        except Exception as raised:
            error = raised
        assert error is not None and "interval" in str(error)
        # A longer interval than the shortest: each answer has a second to arrive, so a
        # loaded machine's pause between a beat and its answer does not close the test.
        assert client.call("public/set_heartbeat", {"interval": 1}) == "ok"
        for _ in range(3):
            message = client.next_stray(timeout=10)
            assert message["method"] == "heartbeat"
            assert message["params"] == {"type": "test_request"}
            client.call("public/test")
        assert client.call("public/disable_heartbeat") == "ok"
        assert client.call("public/test") == {"version": "2.1.1"}


def test_an_unanswered_test_request_closes_the_connection(heartbeat_server: ServerThread) -> None:
    with Client.connect(heartbeat_server.url, timeout=30) as client:
        client.call("public/set_heartbeat", {"interval": 0.2})
        assert client.next_stray(timeout=10)["params"]["type"] == "test_request"
        closed = client.wait_closed(timeout=10)
        assert isinstance(closed, ConnectionClosed) and "heartbeat" in closed.reason
