"""Subscriptions: channel checks, private streams, gap-free sequences, slow consumers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import msgspec
import pytest

from paraclear.api import rpc
from paraclear.api.hub import Hub
from paraclear.api.rpc import RpcError


class Listener:
    def __init__(self, account: str | None = None, capacity: int = 1_000_000) -> None:
        self.account = account
        self.capacity = capacity
        self.frames: list[dict[str, Any]] = []

    def deliver(self, frame: bytes) -> bool:
        if len(self.frames) >= self.capacity:
            return False
        self.frames.append(msgspec.json.decode(frame))
        return True

    def data(self) -> list[Any]:
        return [frame["params"]["data"] for frame in self.frames]


def test_subscribe_returns_the_channels_and_rejects_unknown_ones() -> None:
    hub, listener = Hub(), Listener()
    channels = ["book.BTC-PERP", "trades.BTC-27JUN26-60000-C", "ticker.BTC-PERP"]
    assert hub.subscribe(listener, channels, private=False) == channels
    for bad in ("book.NOT AN INSTRUMENT", "orders.BTC-PERP", "book"):
        with pytest.raises(RpcError) as raised:
            hub.subscribe(listener, [bad], private=False)
        assert raised.value.code == rpc.INVALID_PARAMS and raised.value.data == {
            "param": "channels",
            "reason": f"unknown channel {bad!r}",
        }
    assert hub.channels_of(listener) == channels


def test_private_channels_need_private_subscribe_and_an_account() -> None:
    hub = Hub()
    with pytest.raises(RpcError) as raised:
        hub.subscribe(Listener(account="alice"), ["user.orders"], private=False)
    assert raised.value.code == rpc.UNAUTHORIZED
    with pytest.raises(RpcError):
        hub.subscribe(Listener(account=None), ["user.orders"], private=True)


def test_private_streams_reach_only_their_account() -> None:
    hub, alice, bob = Hub(), Listener("alice"), Listener("bob")
    hub.subscribe(alice, ["user.orders"], private=True)
    hub.subscribe(bob, ["user.orders"], private=True)
    hub.publish_now("user.orders", {"order_id": "a1"}, account="alice")
    hub.publish_now("user.orders", {"order_id": "b1"}, account="bob")
    hub.publish_now("user.orders", {"order_id": "a2"}, account="alice")
    assert [d["order_id"] for d in alice.data()] == ["a1", "a2"]
    assert [d["order_id"] for d in bob.data()] == ["b1"]
    assert [d["sequence"] for d in alice.data()] == [1, 2]


def test_sequences_are_gap_free_per_channel_and_books_carry_change_ids() -> None:
    hub, listener = Hub(), Listener()
    hub.subscribe(listener, ["book.BTC-PERP", "trades.BTC-PERP"], private=False)
    for n in range(5):
        hub.publish_now("book.BTC-PERP", {"n": n})
        if n % 2:
            hub.publish_now("trades.BTC-PERP", {"n": n})
    books = [
        d
        for f, d in zip(listener.frames, listener.data(), strict=True)
        if f["params"]["channel"].startswith("book")
    ]
    assert [(d["prev_sequence"], d["sequence"]) for d in books] == [(i, i + 1) for i in range(5)]
    assert [(d["prev_change_id"], d["change_id"]) for d in books] == [(i, i + 1) for i in range(5)]
    trades = [d for d in listener.data() if "change_id" not in d]
    assert [d["sequence"] for d in trades] == [1, 2]


def test_messages_nobody_hears_still_advance_the_sequence() -> None:
    hub, listener = Hub(), Listener()
    hub.publish_now("trades.BTC-PERP", {})
    hub.subscribe(listener, ["trades.BTC-PERP"], private=False)
    hub.publish_now("trades.BTC-PERP", {})
    assert [(d["prev_sequence"], d["sequence"]) for d in listener.data()] == [(1, 2)]
    assert hub.sequence("trades.BTC-PERP") == 2


def test_unsubscribe_returns_what_was_removed_and_stops_delivery() -> None:
    hub, listener = Hub(), Listener("alice")
    hub.subscribe(listener, ["trades.BTC-PERP", "user.portfolio"], private=True)
    assert hub.unsubscribe(listener, ["user.portfolio", "book.BTC-PERP"]) == ["user.portfolio"]
    hub.publish_now("user.portfolio", {}, account="alice")
    hub.publish_now("trades.BTC-PERP", {})
    assert len(listener.frames) == 1 and hub.subscription_count() == 1


def test_slow_consumer_is_dropped_without_holding_up_the_others() -> None:
    hub, slow, fast = Hub(), Listener(capacity=2), Listener()
    for listener in (slow, fast):
        hub.subscribe(listener, ["trades.BTC-PERP"], private=False)
    for _ in range(5):
        hub.publish_now("trades.BTC-PERP", {})
    assert len(slow.frames) == 2 and len(fast.frames) == 5
    assert hub.dropped == 1 and hub.channels_of(slow) == []


def test_publish_from_another_thread_delivers_in_order_on_the_loop() -> None:
    hub, listener = Hub(), Listener()

    async def scenario() -> None:
        hub.bind(asyncio.get_running_loop())
        hub.subscribe(listener, ["trades.BTC-PERP"], private=False)
        producer = threading.Thread(
            target=lambda: [hub.publish("trades.BTC-PERP", {"n": n}) for n in range(100)]
        )
        producer.start()
        await asyncio.to_thread(producer.join)
        while len(listener.frames) < 100:
            await asyncio.sleep(0)

    asyncio.run(scenario())
    assert [d["n"] for d in listener.data()] == list(range(100))
    assert [d["sequence"] for d in listener.data()] == list(range(1, 101))


def test_publish_before_binding_or_after_the_loop_closed_is_dropped() -> None:
    hub = Hub()
    hub.publish("trades.BTC-PERP", {})
    loop = asyncio.new_event_loop()
    hub.bind(loop)
    loop.close()
    hub.publish("trades.BTC-PERP", {})
    assert hub.sequence("trades.BTC-PERP") == 0
