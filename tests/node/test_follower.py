"""A front-end's follower copy (``paraclear.api.follower``): the reads it answers equal the
core's at the same height, method by method, and a follower that misses a block, or starts
while blocks flow, catches up from a snapshot to the core's very state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import msgspec
import pytest

from paraclear.api import link
from paraclear.api.follower import FOLLOWED, Follower, FollowerState, MissedBlock, NoTree
from paraclear.api.frontend import CoreClient
from paraclear.api.rpc import Context, RpcError
from paraclear.chain.snapshot import encode_entries
from paraclear.clearing.transactions import ListInstrument, OrderType
from paraclear.client.envelope import sign
from tests.clearing.harness import CALL
from tests.node.test_api import CHAIN, Venue
from tests.node.test_deribit_streams import publish_index
from tests.node.test_frontend import EMPTY

WIDE = {"start_timestamp": 0, "end_timestamp": 2**62}
PERP_NAME = {"instrument_name": "BTC-PERP"}
PUBLIC: list[tuple[str, dict[str, Any]]] = [
    ("public/get_volatility_surface", {"currency": "BTC"}),
    ("public/get_order_book", PERP_NAME),
    ("public/get_order_book", {"instrument_name": CALL.name, "depth": 3}),
    ("public/get_order_book", {"instrument_name": "ETH-PERP"}),  # an error, both ways
    ("public/ticker", PERP_NAME),
    ("public/ticker", {"instrument_name": CALL.name}),
    ("public/hello", {"client_name": "test"}),
    ("public/get_index_price", {"index_name": "btc_usdc"}),
    ("public/get_instruments", {"currency": "BTC"}),
    ("public/get_instruments", {"currency": "BTC", "kind": "option"}),
    ("public/get_currencies", {}),
    ("public/get_instrument", {"instrument_name": CALL.name}),
    ("public/get_contract_size", PERP_NAME),
    ("public/get_index_price_names", {}),
    ("public/get_expirations", {"currency": "BTC"}),
    ("public/get_book_summary_by_instrument", PERP_NAME),
    ("public/get_funding_rate_value", {**PERP_NAME, **WIDE}),
    ("public/get_funding_rate_history", {**PERP_NAME, **WIDE}),
    ("public/get_funding_chart_data", PERP_NAME),
    ("public/get_mark_price_history", {**PERP_NAME, **WIDE}),
    ("public/get_historical_volatility", {"currency": "BTC"}),
    ("public/get_delivery_prices", {"index_name": "btc_usdc"}),
    ("public/get_last_settlements_by_instrument", {"instrument_name": CALL.name}),
    ("public/get_last_settlements_by_currency", {"currency": "BTC"}),
    ("public/get_last_trades_by_instrument", {**PERP_NAME, "count": 5}),
    ("public/get_last_trades_by_instrument_and_time", {**PERP_NAME, **WIDE}),
    ("public/get_last_trades_by_currency", {"currency": "BTC"}),
    ("public/get_last_trades_by_currency_and_time", {"currency": "BTC", **WIDE}),
    ("public/get_tradingview_chart_data", {**PERP_NAME, **WIDE, "resolution": "1"}),
]
PRIVATE: list[tuple[str, dict[str, Any]]] = [
    ("private/get_positions", {}),
    ("private/get_positions", {"kind": "option"}),
    ("private/get_margins", {**PERP_NAME, "amount": 1}),
    ("private/get_margins", {**PERP_NAME, "amount": -1}),  # an error, both ways
    ("private/get_open_orders", {}),
    ("private/get_account_summary", {}),
]


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    """The API test venue through one front-end, with a call listed beside the perpetual."""
    venue = Venue(tmp_path, frontends=1)
    listing = ListInstrument(sender=venue.operator.account, nonce=2, instrument=CALL)
    assert venue.include(sign(venue.operator, CHAIN, listing)).receipt.ok
    yield venue
    venue.close()


def on_core(venue: Venue, method: str, params: dict[str, Any], account: str | None) -> Any:
    """The core's own answer to a request (its dispatcher, in its process), as JSON: the
    result, or the error object."""
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    server = venue.server.server
    try:
        result = venue.server.thread.run(server.dispatcher.call(request, Context(account=account)))
    except RpcError as error:
        return {"error": error.to_object()}
    return msgspec.json.decode(msgspec.json.encode(result))


def on_frontend(client: Any, method: str, params: dict[str, Any]) -> Any:
    try:
        return client.call(method, params)
    except RpcError as error:
        return {"error": {"code": error.code, "message": error.message, "data": error.data}}


def test_every_followed_read_equals_the_cores_at_the_same_height(venue: Venue) -> None:
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, "BTC-PERP", "2", "60000")
    a.buy(maker, CALL.name, "1", "1000")
    b.buy(taker, "BTC-PERP", "0.5", "60010", kind=OrderType.IOC)
    a.sell(maker, "BTC-PERP", "1", "61000")
    a.cancel(maker, "BTC-PERP", 3)
    # the last answer came once the front-end's follower had its block: nothing is pending
    assert b.call("public/get_order_book", PERP_NAME)["change_id"] == venue.node.height
    covered = {method for method, _ in PUBLIC + PRIVATE}
    assert covered == set(FOLLOWED) - {"public/get_time"} | {"private/get_account_summary"}
    for method, params in PUBLIC:
        assert on_frontend(b, method, params) == on_core(venue, method, params, None), method
    for keypair, client in ((maker, a), (taker, b)):
        for method, params in PRIVATE:
            mine = on_core(venue, method, params, keypair.account)
            assert on_frontend(client, method, params) == mine, (method, params)
    assert venue.node.height == b.call("public/status")["height"]  # still nothing new


class LossyClient(CoreClient):
    """A front-end's link that drops the first block after its snapshot, as if the core
    had not sent it."""

    dropped: int | None = None

    def _handle(self, message: link.Message) -> None:
        if (
            isinstance(message, link.Committed)
            and self.dropped is None
            and self.follower.loaded.is_set()
            and message.height > self.follower.height
        ):
            self.dropped = message.height
            return
        super()._handle(message)


def same_as_core(follower: Follower, venue: Venue) -> bool:
    node = venue.node
    return (
        follower.height == node.height
        and follower.state.data == node.state.data
        and follower.depth == node.depth
        and follower.tape.seq == node.tape.seq
        and follower.tape.recent("BTC-PERP") == node.tape.recent("BTC-PERP")
        and follower.tape.oracles == node.tape.oracles
        and follower.tape.index_history == node.tape.index_history
        and follower.state.root() == node.state.root()
    )


def test_a_follower_that_misses_a_block_or_starts_midway_catches_up_from_a_snapshot(
    venue: Venue,
) -> None:
    maker, taker, _ = venue.traders
    link_path = venue.server.link
    assert link_path is not None

    async def scenario() -> tuple[LossyClient, CoreClient]:
        lossy = LossyClient(str(link_path.path))
        await lossy.connect()
        first = lossy.follower.snapshots
        a, b = venue.client(maker), venue.client(taker)
        late: CoreClient | None = None
        for n in range(6):
            await asyncio.to_thread(a.sell, maker, "BTC-PERP", "0.1", "60000")
            await asyncio.to_thread(b.buy, taker, "BTC-PERP", "0.1", "60000")
            if n == 2:  # while blocks flow
                late = CoreClient(str(link_path.path))
                await late.connect()
            if n == 4:  # an oracle update followed, and fills after it that keep it
                await asyncio.to_thread(publish_index, venue, 3, 61_000)
        assert late is not None
        deadline = asyncio.get_running_loop().time() + 60
        while not (same_as_core(lossy.follower, venue) and same_as_core(late.follower, venue)):
            assert asyncio.get_running_loop().time() < deadline, "the followers never caught up"
            await asyncio.sleep(0.05)
        assert lossy.dropped is not None and lossy.follower.snapshots == first + 1
        lossy.close()
        late.close()
        return lossy, late

    asyncio.run(scenario())


class Recorder:
    """A subscriber of the core's own hub, in its process: what the core would send."""

    def __init__(self, account: str) -> None:
        self.account: str | None = account
        self.messages: list[tuple[str, Any]] = []

    def deliver(self, frame: bytes) -> bool:
        params = msgspec.json.decode(frame)["params"]
        self.messages.append((params["channel"], params["data"]))
        return True


INDEX = "deribit_price_index.btc_usdc"
CHANNELS = [
    "book.BTC-PERP",
    "trades.BTC-PERP",
    "ticker.BTC-PERP",
    "book.BTC-PERP.raw",
    "book.BTC-PERP.none.10.100ms",
    "trades.future.BTC.raw",
    "incremental_ticker.BTC-PERP",
    "quote.BTC-PERP",
    "chart.trades.BTC-PERP.1",
    INDEX,
    "user.orders",
    "user.portfolio",
    "blocks",
    "totals",
]


def test_subscriptions_a_frontend_serves_equal_the_cores(venue: Venue) -> None:
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    core = Recorder(maker.account)
    hub = venue.server.server.hub

    async def on_core() -> None:
        hub.subscribe(core, CHANNELS, private=True)

    venue.server.thread.run(on_core())
    subscription = a.subscribe(CHANNELS, private=True)
    a.sell(maker, "BTC-PERP", "2", "60000")
    b.buy(taker, "BTC-PERP", "0.5", "60010", kind=OrderType.IOC)
    a.edit(maker, 1, "1", "60500")
    b.buy(taker, "BTC-PERP", "0.25", "60600", kind=OrderType.IOC)
    # The core's hub may still be publishing (later blocks' index and ticker) while the
    # front-end catches up: compare each channel up to what the core had sent once the
    # last trade's block reached it.
    deadline = monotonic() + 30
    while len(by_channel(core.messages)["trades.BTC-PERP"]) < 2:
        assert monotonic() < deadline, "the core never published the second trade"
        sleep(0.01)
    expected = by_channel(list(core.messages))
    seen: list[tuple[str, Any]] = []
    while any(len(mine) < len(expected[name]) for name, mine in by_channel(seen).items()):
        seen.append(subscription.get(timeout=30))
    got = by_channel(seen)
    assert {name for name in CHANNELS if got[name]} >= set(CHANNELS) - {INDEX}
    for channel in CHANNELS:  # each channel's messages in order; blocks: the core's own
        assert got[channel][: len(expected[channel])] == expected[channel], channel


def by_channel(messages: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    """The data of ``messages`` by channel (every one of ``CHANNELS``), in order."""
    grouped: dict[str, list[Any]] = {channel: [] for channel in CHANNELS}
    for channel, data in messages:
        grouped[channel].append(data)
    return grouped


def test_a_follower_refuses_a_gap_and_waits_for_a_snapshot_and_its_state_commits_nothing() -> None:
    follower = Follower(CHAIN)

    async def load() -> None:  # its ``loaded`` event belongs to a loop
        follower.load(EMPTY)

    asyncio.run(load())
    ahead = link.Committed(2, 0, b"", b"", b"", encode_entries({}), [], {}, [])
    with pytest.raises(MissedBlock) as missed:
        follower.follow(ahead)
    assert (missed.value.height, missed.value.got) == (0, 2) and follower.resyncing
    assert follower.follow(msgspec.structs.replace(ahead, height=1)) is None  # until a snapshot
    assert follower.height == 0
    state = follower.state
    assert isinstance(state, FollowerState)
    state.follow({("acct", "a", "nonce"): 3}, [], b"root")
    state.follow({}, [("acct", "a", "nonce")], b"root2")
    assert state.data == {} and state.root() == b"root2"
    with pytest.raises(NoTree):
        state.apply({("acct", "a", "nonce"): 4})
    with pytest.raises(NoTree):
        state.prove(("acct", "a", "nonce"))


def test_unsubscribe_all_on_a_front_end_keeps_the_connections_heartbeats(venue: Venue) -> None:
    """``public/unsubscribe_all`` on a front-end drops the connection's channels, not its
    context on the core, which sends its heartbeats: they keep coming."""
    client = venue.client()
    assert client.call("public/set_heartbeat", {"interval": 10}) == "ok"
    client.subscribe(["quote.BTC-PERP"])
    assert client.call("public/unsubscribe_all") == "ok"
    message = client.next_stray(timeout=30)
    assert message["method"] == "heartbeat"
    assert message["params"] == {"type": "test_request"}
    assert client.call("public/test") == {"version": "2.1.1"}
