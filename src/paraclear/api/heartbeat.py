"""Deribit's heartbeats: ``public/set_heartbeat`` and ``public/disable_heartbeat``.

After ``set_heartbeat`` with ``interval`` (seconds, at least ``MIN_INTERVAL`` as on
Deribit), the server sends the WebSocket connection, every ``interval``, the notification::

    {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}

and the client must answer it with ``public/test`` before the next one; a connection that
does not is closed (``heartbeat not answered``), as Deribit closes it. A second
``set_heartbeat`` replaces the first; ``disable_heartbeat`` stops them. Heartbeats stop when
the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import msgspec

from paraclear.api.methods import Params
from paraclear.api.rpc import APPLICATION_ERROR, Context, Registry, RpcError

MIN_INTERVAL: Final = 10.0
"""Shortest heartbeat interval, seconds (Deribit's)."""
TEST_REQUEST: Final = msgspec.json.encode(
    {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
)
ANSWERED: Final = "heartbeat_answered"
TASK: Final = "heartbeat_task"


class HeartbeatParams(Params, frozen=True):
    interval: float


class NoParams(Params, frozen=True):
    pass


class Heartbeats:
    """The heartbeat methods; ``public/test`` is wrapped to count as the answer."""

    def __init__(self, min_interval: float = MIN_INTERVAL) -> None:
        self.min_interval = min_interval

    def register(self, registry: Registry) -> None:
        """Add the methods; call after ``public/test`` is registered."""
        registry.add("public/set_heartbeat", HeartbeatParams, self.set_heartbeat)
        registry.add("public/disable_heartbeat", NoParams, self.disable_heartbeat)
        test = registry.get("public/test")
        if test is None:
            raise ValueError("register public/test before the heartbeats")
        handler = test.handler

        def answer(context: Context, params: Any) -> Any:
            context.extra[ANSWERED] = True
            return handler(context, params)

        registry.add("public/test", test.params, answer)

    def set_heartbeat(self, context: Context, params: HeartbeatParams) -> str:
        session = context.session
        if session is None:
            raise RpcError(
                APPLICATION_ERROR,
                "heartbeats need a WebSocket connection",
                {"error": "WebSocketOnly"},
            )
        if not params.interval >= self.min_interval:
            raise RpcError.invalid_params("interval", f"must be at least {self.min_interval:g}")
        self._stop(context)
        context.extra[TASK] = asyncio.get_running_loop().create_task(
            _beat(context, session, params.interval)
        )
        return "ok"

    def disable_heartbeat(self, context: Context, params: NoParams) -> str:
        self._stop(context)
        return "ok"

    @staticmethod
    def _stop(context: Context) -> None:
        task = context.extra.pop(TASK, None)
        if task is not None:
            task.cancel()


async def _beat(context: Context, session: Any, interval: float) -> None:
    """Send a test request every ``interval``; close the session if one went unanswered."""
    waiting = False
    closed: asyncio.Event = session.closed
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed.wait(), interval)
            return
        if waiting and not context.extra.get(ANSWERED):
            session.close("heartbeat not answered")
            return
        context.extra[ANSWERED] = False
        waiting = True
        if not session.deliver(TEST_REQUEST):
            return
