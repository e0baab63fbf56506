"""What a connection's subscriptions receive: ``Subscription``, the messages of some
channels, handed to a callback or queued for ``get`` and ``async for``; and
``ConnectionClosed``, which ends a subscription, as it fails every call in flight, when
the connection closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds a call, or a subscription's ``get``, waits for its answer."""
Notification = tuple[str, Any]
"""A subscription message: its channel and its data."""
Callback = Callable[[str, Any], None]


class ConnectionClosed(ConnectionError):
    """The connection closed; ``code`` and ``reason`` as the server sent them."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed ({code}): {reason}")
        self.code = code
        self.reason = reason


class Subscription:
    """Messages of some channels, by callback or as an async iterator."""

    def __init__(self, channels: list[str], callback: Callback | None) -> None:
        self.channels = channels
        self.callback = callback
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()
        self.closed: ConnectionClosed | None = None

    def _push(self, item: Notification | None) -> None:
        if item is not None and self.callback is not None:
            self.callback(*item)
        else:
            self._queue.put_nowait(item)

    async def get(self, timeout: float | None = DEFAULT_TIMEOUT) -> Notification:
        """The next message. Raises TimeoutError, ConnectionClosed."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            self._queue.put_nowait(None)
            raise self.closed or ConnectionClosed(None, "closed")
        return item

    def pending(self) -> int:
        """Messages received and not yet taken."""
        return self._queue.qsize()

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Notification]:
        while True:
            try:
                yield await self.get(timeout=None)
            except ConnectionClosed:
                return
