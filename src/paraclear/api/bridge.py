"""Futures completed on other threads, resolved on the event loop in bursts.

``asyncio.wrap_future`` wakes the loop once per future (a ``call_soon_threadsafe``, a write
to the loop's self-pipe). When a block includes thousands of orders, the producer thread
completes thousands of futures at once; ``ThreadBridge`` queues them and wakes the loop once
for the whole burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class ThreadBridge:
    """Turns ``concurrent.futures.Future`` into asyncio futures of one loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._done: deque[tuple[asyncio.Future[Any], Future[Any]]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def wrap(self, future: Future[T]) -> asyncio.Future[T]:
        """An asyncio future (of this bridge's loop) with ``future``'s outcome."""
        mirror: asyncio.Future[T] = self._loop.create_future()
        future.add_done_callback(lambda done: self._completed(mirror, done))
        return mirror

    def _completed(self, mirror: asyncio.Future[Any], future: Future[Any]) -> None:
        self._done.append((mirror, future))
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            self._scheduled = False
        while self._done:
            mirror, future = self._done.popleft()
            if mirror.done():
                continue
            if future.cancelled():
                mirror.cancel()
            elif (error := future.exception()) is not None:
                mirror.set_exception(error)
            else:
                mirror.set_result(future.result())
