"""Subscriptions: channels, who listens to them, and numbered notifications.

Channels, named as the client subscribes to them (``paraclear.api.channels`` lists them,
Deribit's with their interval suffixes):

* public: ``book.{instrument}``, ``trades.{instrument}``, ``ticker.{instrument}``,
  ``blocks``, and Deribit's (``book.BTC-PERP.100ms``, ``deribit_price_index.btc_usdc``, ...);
* private: ``user.orders`` and ``user.portfolio``, each the authenticated account's own.
  A private channel is a separate stream per account: ``publish(..., account=a)`` reaches
  only the sessions authenticated as ``a``.

A publisher publishes a *stream* once; the hub delivers it under every channel name that
reads it (``channels.stream_of``), each name numbered on its own. A subscription that
names an unknown channel is refused for that channel only: the others are subscribed and
returned, as Deribit does (if none is known, the first error is the answer). A stream may
have an ``initial`` message, delivered to each new subscriber alone before the stream's
next (Deribit's book snapshot).

Every message of a stream carries ``sequence`` (1, 2, 3, ... per stream, over the messages
published to it) and ``prev_sequence``, so a client detects a gap when ``prev_sequence``
is not the last ``sequence`` it saw. Book messages also carry Deribit's ``change_id`` and
``prev_change_id`` (the same numbers, unless the publisher gave its own).

``publish`` may be called from any thread (the block producer's): it hands the message to
the event loop with ``call_soon_threadsafe`` and returns at once. On the loop, each message
is encoded once and queued to every subscriber without waiting; a subscriber whose queue is
full is a slow consumer, and is dropped from every channel (its session disconnects it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

import msgspec

from paraclear.api.channels import stream_of
from paraclear.api.rpc import APPLICATION_ERROR, UNAUTHORIZED, Context, Registry, RpcError
from paraclear.clearing.instruments import InstrumentNameError, parse_instrument

PRIVATE_CHANNELS: Final = ("user.orders", "user.portfolio")
MAX_CHANNELS_PER_SESSION: Final = 1_000

Topic = tuple[str, str]
"""A stream: its channel name and the account it belongs to ("" for public channels)."""


class Subscriber(Protocol):
    """A connection that receives notifications: ``deliver`` queues a frame without waiting,
    or returns False when the connection cannot keep up."""

    account: str | None

    def deliver(self, frame: bytes) -> bool: ...


def is_instrument_name(name: str) -> bool:
    """The default channel check: ``name`` is a well-formed instrument name."""
    try:
        parse_instrument(name)
    except InstrumentNameError:
        return False
    return True


class Channels(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    channels: list[str]


class NoParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class Hub:
    """Channel streams and their subscribers, on one event loop."""

    def __init__(self, is_instrument: Callable[[str], bool] = is_instrument_name) -> None:
        self.is_instrument = is_instrument
        self.initial: Callable[[str], Any] | None = None
        """The message a new subscriber of a stream gets first (None: none)."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._readers: dict[str, dict[str, None]] = {}
        """Public channel names being listened to, by the stream they read."""
        self._streams: dict[str, str] = {}
        """The stream of each public channel name being listened to."""
        self._listeners: dict[Topic, dict[Subscriber, None]] = {}
        self._topics: dict[Subscriber, dict[Topic, None]] = {}
        self._sequence: dict[Topic, int] = {}
        self._encoder = msgspec.json.Encoder()
        self.dropped = 0
        """Subscribers dropped as slow consumers."""

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` (the server's) from now on."""
        self.loop = loop

    # --- publishing ---------------------------------------------------------------------

    def publish(self, channel: str, data: Mapping[str, Any], account: str | None = None) -> None:
        """Queue a message to a channel from any thread; never blocks. Dropped if unbound."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.publish_now, channel, data, account)
        except RuntimeError:  # the loop closed between the check and the call
            return

    def publish_now(self, channel: str, data: Any, account: str | None = None) -> int:
        """Number and deliver a message of stream ``channel`` on the loop's thread, under
        every channel name that reads it; returns the stream's own sequence."""
        names = [channel, *(n for n in self._readers.get(channel, ()) if n != channel)]
        own = 0
        for name in names:
            topic = (name, account or "")
            sequence = self._sequence.get(topic, 0) + 1
            self._sequence[topic] = sequence
            own = own or sequence
            listeners = self._listeners.get(topic)
            if listeners:
                self._deliver(list(listeners), name, _numbered(name, data, sequence))
        return own

    def _deliver(self, listeners: list[Subscriber], channel: str, message: Any) -> None:
        frame = self._encoder.encode(
            {
                "jsonrpc": "2.0",
                "method": "subscription",
                "params": {"channel": channel, "data": message},
            }
        )
        slow = [subscriber for subscriber in listeners if not subscriber.deliver(frame)]
        for subscriber in slow:
            self.dropped += 1
            self.drop(subscriber)

    def listening(self, channel: str, account: str | None = None) -> bool:
        """Whether anyone listens to a stream: publishers skip building messages otherwise
        (the stream's sequence counts published messages only, so it stays gap-free)."""
        names = (channel, *self._readers.get(channel, ()))
        return any(self._listeners.get((name, account or "")) for name in names)

    def sequence(self, channel: str, account: str | None = None) -> int:
        """The sequence of the last message published on a stream (0 if none)."""
        return self._sequence.get((channel, account or ""), 0)

    # --- subscribing --------------------------------------------------------------------

    def subscribe(
        self, subscriber: Subscriber, channels: Iterable[str], private: bool
    ) -> list[str]:
        """Add channels to a subscriber; returns those subscribed, as Deribit does (an
        unknown channel is left out).

        Raises RpcError: no channel known (the first one's error: malformed, or private
        without ``private`` access), or too many channels.
        """
        accepted: list[tuple[Topic, str]] = []
        refused: list[RpcError] = []
        for name in channels:
            try:
                accepted.append(self._topic(subscriber, name, private))
            except RpcError as error:
                refused.append(error)
        if refused and not accepted:
            raise refused[0]
        mine = self._topics.setdefault(subscriber, {})
        if len(mine.keys() | {topic for topic, _ in accepted}) > MAX_CHANNELS_PER_SESSION:
            raise RpcError.invalid_params(
                "channels", f"at most {MAX_CHANNELS_PER_SESSION} channels per connection"
            )
        for topic, stream in accepted:
            if topic in mine:
                continue
            mine[topic] = None
            self._listeners.setdefault(topic, {})[subscriber] = None
            if not topic[1]:
                self._readers.setdefault(stream, {})[topic[0]] = None
                self._streams[topic[0]] = stream
                self._start(subscriber, topic[0], stream)
        return list(dict.fromkeys(topic[0] for topic, _ in accepted))

    def _start(self, subscriber: Subscriber, name: str, stream: str) -> None:
        """Deliver the stream's initial message to a new subscriber, after the answer to
        its subscription (on the loop's next turn; at once without a loop)."""
        initial = self.initial
        if initial is None:
            return

        def send() -> None:
            if subscriber not in self._listeners.get((name, ""), {}):
                return
            message = initial(stream)
            if message is not None:
                self._deliver([subscriber], name, message)

        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon(send)
        else:
            send()

    def unsubscribe(self, subscriber: Subscriber, channels: Iterable[str]) -> list[str]:
        """Remove channels; returns those of them the subscriber was listening to."""
        mine = self._topics.get(subscriber, {})
        removed: dict[str, None] = {}
        for name in channels:
            for topic in [topic for topic in mine if topic[0] == name]:
                del mine[topic]
                self._forget(topic, subscriber)
                removed[name] = None
        return list(removed)

    def drop(self, subscriber: Subscriber) -> None:
        """Forget a subscriber entirely (disconnected or too slow)."""
        self.unsubscribe_all(subscriber)

    def unsubscribe_all(self, subscriber: Subscriber) -> None:
        """Remove every channel of a subscriber (its connection stays)."""
        for topic in self._topics.pop(subscriber, {}):
            self._forget(topic, subscriber)

    def channels_of(self, subscriber: Subscriber) -> list[str]:
        return [channel for channel, _ in self._topics.get(subscriber, {})]

    def subscription_count(self) -> int:
        return sum(len(topics) for topics in self._topics.values())

    def _forget(self, topic: Topic, subscriber: Subscriber) -> None:
        listeners = self._listeners.get(topic)
        if listeners is not None:
            listeners.pop(subscriber, None)
            if not listeners:
                del self._listeners[topic]
                stream = self._streams.pop(topic[0], None) if not topic[1] else None
                readers = self._readers.get(stream or "")
                if stream is not None and readers is not None:
                    readers.pop(topic[0], None)
                    if not readers:
                        del self._readers[stream]

    def _topic(self, subscriber: Subscriber, name: str, private: bool) -> tuple[Topic, str]:
        """The stream (channel name, account) a channel name is, and the stream it reads."""
        if name in PRIVATE_CHANNELS:
            if not private or subscriber.account is None:
                raise RpcError(
                    UNAUTHORIZED,
                    f"channel {name} is private: authenticate, then use private/subscribe",
                    {"channel": name},
                )
            return (name, subscriber.account), name
        stream = stream_of(name, self.is_instrument)
        if stream is None:
            raise RpcError.invalid_params("channels", f"unknown channel {name!r}")
        return (name, ""), stream

    # --- methods ------------------------------------------------------------------------

    def register(self, registry: Registry) -> None:
        """Add ``public|private/subscribe``, ``.../unsubscribe`` and ``public/unsubscribe_all``."""
        registry.add("public/subscribe", Channels, self._subscribe_public)
        registry.add("private/subscribe", Channels, self._subscribe_private)
        registry.add("public/unsubscribe", Channels, self._unsubscribe)
        registry.add("private/unsubscribe", Channels, self._unsubscribe)
        registry.add("public/unsubscribe_all", NoParams, self._unsubscribe_all)

    def _subscribe_public(self, context: Context, params: Channels) -> list[str]:
        return self.subscribe(_session(context), params.channels, private=False)

    def _subscribe_private(self, context: Context, params: Channels) -> list[str]:
        return self.subscribe(_session(context), params.channels, private=True)

    def _unsubscribe(self, context: Context, params: Channels) -> list[str]:
        return self.unsubscribe(_session(context), params.channels)

    def _unsubscribe_all(self, context: Context, params: NoParams) -> str:
        self.unsubscribe_all(_session(context))
        return "ok"


def _numbered(channel: str, data: Any, sequence: int) -> Any:
    """A message with its stream's ``sequence`` and ``prev_sequence`` (a list of
    Deribit's trades goes as it is); a book message's change ids default to them."""
    if not isinstance(data, Mapping):
        return data
    message = {**data, "sequence": sequence, "prev_sequence": sequence - 1}
    if channel.startswith("book."):
        message.setdefault("change_id", sequence)
        message.setdefault("prev_change_id", sequence - 1)
    return message


def _session(context: Context) -> Subscriber:
    session: Subscriber | None = context.session
    if session is None:
        raise RpcError(
            APPLICATION_ERROR,
            "subscriptions need a WebSocket connection",
            {"error": "WebSocketOnly"},
        )
    return session
