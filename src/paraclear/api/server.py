"""The API server: JSON-RPC over WebSocket and HTTP, Prometheus metrics, the dashboard.

Routes (aiohttp):

* ``/ws/api/v2``: JSON-RPC over WebSocket; requests of one connection start in order and
  may finish out of order (ids match them); subscriptions deliver on the same connection.
* ``POST /api/v2``: one JSON-RPC request or batch per body.
* ``GET /api/v2/{public|private}/{method}?name=value``: Deribit's query-string form.
* ``/metrics``: Prometheus text format.
* ``/``: ``index.html`` of the static directory, if there is one (under ``/static/``).

Each WebSocket connection has a ``Session``: its outgoing frames (responses and
notifications) are written without ever waiting on the client. A connection that lets
``max_pending_frames`` pile up is a slow consumer and is closed (1008); so is one that
floods past its rate limit. Frames beyond
``hard_frame_bytes`` close the connection unread (1009); smaller oversized frames only get
an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from paraclear.api.auth import Authenticator
from paraclear.api.hub import Hub
from paraclear.api.limits import Limits, TokenBucket
from paraclear.api.metrics import CONTENT_TYPE, ApiMetrics
from paraclear.api.rpc import Context, Dispatcher, Registry, RpcError
from paraclear.client.grants import http_data

log = logging.getLogger(__name__)
T = TypeVar("T")

WS_PATH: Final = "/ws/api/v2"
HTTP_PATH: Final = "/api/v2"
MAX_HTTP_PEERS: Final = 10_000
DEFAULT_CHAIN_ID: Final = "paraclear-local"
DASHBOARD_DIR: Final = Path(__file__).parent / "dashboard"
MAX_BUFFER_BYTES: Final = 16 * 1024 * 1024
"""Bytes written to a WebSocket and not yet taken by the client before it is cut off."""


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame header (RFC 6455 §5.2), as a server
    sends it."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length))
    if length < 65_536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


class Session:
    """One WebSocket connection's outgoing frames; a ``hub.Subscriber``.

    Frames queued during one turn of the event loop (a burst of notifications, the answers
    to a pipelined batch) leave in one write to the socket: one system call instead of one
    per frame. Nothing here waits for the client: the socket's buffer takes what the client
    has not read, and a client that lets more than ``max_pending`` frames or
    ``max_buffer_bytes`` pile up is a slow consumer and is closed.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        max_pending: int,
        max_buffer_bytes: int = MAX_BUFFER_BYTES,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.account: str | None = None
        self.max_pending = max_pending
        self.max_buffer_bytes = max_buffer_bytes
        self.close_reason: str | None = None
        self.closed = asyncio.Event()
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._flush_scheduled = False

    def deliver(self, frame: bytes) -> bool:
        """Queue a frame; False (and the connection closes) if the client is too slow."""
        if self.close_reason is not None:
            return False
        if len(self._pending) >= self.max_pending:
            self.close("slow consumer")
            return False
        self._pending.append(text_frame(frame))
        self._pending.append(frame)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return True

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending or self.close_reason == "slow consumer":
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if self.transport.is_closing():
            self.close("client closed")
            return
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > self.max_buffer_bytes:
            self.close("slow consumer")

    def close(self, reason: str) -> None:
        """Close after what is queued has been written (at most once)."""
        if self.close_reason is None:
            self.close_reason = reason
            self._loop.create_task(self._close())

    async def _close(self) -> None:
        self._flush()
        self._pending.clear()
        code = (
            WSCloseCode.OK if self.close_reason == "client closed" else WSCloseCode.POLICY_VIOLATION
        )
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=(self.close_reason or "").encode())
        self.closed.set()


class ApiServer:
    """The API server around a method registry; see the module docstring."""

    def __init__(
        self,
        registry: Registry,
        *,
        hub: Hub | None = None,
        authenticator: Authenticator | None = None,
        limits: Limits | None = None,
        metrics: ApiMetrics | None = None,
        testnet: bool = True,
        static_dir: Path | None = DASHBOARD_DIR,
        header_check: Callable[[str, str], Awaitable[str]] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.header_check = header_check
        """Checks an HTTP ``Authorization`` header elsewhere (a front-end asks its core);
        by default the authenticator here does."""
        self.hub = hub or Hub()
        self.authenticator = authenticator or Authenticator(DEFAULT_CHAIN_ID)
        self.metrics = metrics or ApiMetrics()
        self.registry = registry
        if "public/subscribe" not in registry:
            self.hub.register(registry)
        if "public/auth" not in registry:
            self.authenticator.register(registry)
        self.dispatcher = Dispatcher(registry, self.limits, testnet=testnet, observer=self.metrics)
        self.static_dir = static_dir
        self._http_buckets: dict[str, TokenBucket] = {}
        self._sessions: set[Session] = set()
        self._runner: web.AppRunner | None = None
        self.metrics.gauge(
            "subscriptions_total", "Channel subscriptions", lambda: self.hub.subscription_count()
        )
        self.app = self._make_app()

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.hard_frame_bytes)
        app.router.add_get(WS_PATH, self._websocket)
        app.router.add_post(HTTP_PATH, self._post)
        app.router.add_get(HTTP_PATH + "/{scope:public|private}/{name}", self._get)
        app.router.add_get("/metrics", self._metrics)
        if self.static_dir is not None and (self.static_dir / "index.html").is_file():
            app.router.add_get("/", self._index)
            app.router.add_static("/static", self.static_dir)
        return app

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False
    ) -> int:
        """Listen; returns the bound port (``port=0`` picks a free one). ``reuse_port``:
        share the port with other processes (``SO_REUSEPORT``: the kernel spreads the
        connections over them; the API's front-ends)."""
        self.hub.bind(asyncio.get_running_loop())
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, reuse_port=reuse_port or None).start()
        bound: int = self._runner.addresses[0][1]
        return bound

    async def stop(self) -> None:
        for session in list(self._sessions):
            session.close("server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- WebSocket ----------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            max_msg_size=self.limits.hard_frame_bytes, compress=False, decode_text=False
        )
        await ws.prepare(request)
        transport = request.transport
        assert transport is not None
        session = Session(ws, transport, self.limits.max_pending_frames)
        context = Context("ws", session=session, peer=request.remote or "")
        bucket = TokenBucket.from_limits(self.limits)
        self._sessions.add(session)
        self.metrics.connections.inc()
        try:
            await self._serve_session(ws, session, context, bucket)
        finally:
            self.hub.drop(session)
            session.close("client closed")
            await session.closed.wait()
            self._sessions.discard(session)
            self.metrics.connections.dec()
            self.metrics.disconnects.labels(session.close_reason or "").inc()
        return ws

    async def _serve_session(
        self, ws: web.WebSocketResponse, session: Session, context: Context, bucket: TokenBucket
    ) -> None:
        """Read frames and answer each in a task of its own, so that a call that waits (an
        order waiting for its block) does not hold up the next; tasks start in arrival
        order, so whatever a handler does before its first ``await`` happens in that order.
        At most ``max_in_flight`` frames are being answered at once; then reading waits."""
        in_flight: set[asyncio.Task[None]] = set()
        room = asyncio.Semaphore(self.limits.max_in_flight)

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            room.release()

        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                data = message.data if isinstance(message.data, bytes) else message.data.encode()
                await room.acquire()
                task = asyncio.ensure_future(self._answer(data, session, context, bucket))
                in_flight.add(task)
                task.add_done_callback(finished)
                if session.close_reason is not None:
                    break
        finally:
            for task in list(in_flight):
                task.cancel()

    async def _answer(
        self, frame: bytes, session: Session, context: Context, bucket: TokenBucket
    ) -> None:
        response = await self.dispatcher.handle(frame, context, bucket)
        if response is not None:
            session.deliver(response)
        if bucket.flooding(self.limits.flood_strikes):
            session.close("flood")

    # --- HTTP ---------------------------------------------------------------------------

    async def _post(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._http_error(413, RpcError(-32600, "request body too large"))
        return await self._http(request, body, lax=False)

    async def _get(self, request: web.Request) -> web.Response:
        method = f"{request.match_info['scope']}/{request.match_info['name']}"
        call = {"jsonrpc": "2.0", "id": None, "method": method, "params": dict(request.query)}
        return await self._http(request, msgspec.json.encode(call), lax=True)

    async def _http(self, request: web.Request, body: bytes, *, lax: bool) -> web.Response:
        context = Context("http", peer=request.remote or "", lax=lax)
        header = request.headers.get("Authorization")
        if header is not None:
            data = http_data(request.method, request.path_qs, body)
            try:
                if self.header_check is not None:
                    context.account = await self.header_check(header, data)
                else:
                    context.account = self.authenticator.verify_header(header, data)
            except RpcError as error:
                return self._http_error(401, error)
        response = await self.dispatcher.handle(body, context, self._http_bucket(context.peer))
        if response is None:
            return web.Response(status=204)
        return web.Response(body=response, content_type="application/json")

    def _http_bucket(self, peer: str) -> TokenBucket:
        bucket = self._http_buckets.get(peer)
        if bucket is None:
            if len(self._http_buckets) >= MAX_HTTP_PEERS:
                del self._http_buckets[next(iter(self._http_buckets))]
            bucket = self._http_buckets[peer] = TokenBucket.from_limits(self.limits)
        return bucket

    @staticmethod
    def _http_error(status: int, error: RpcError) -> web.Response:
        body = msgspec.json.encode({"jsonrpc": "2.0", "id": None, "error": error.to_object()})
        return web.Response(status=status, body=body, content_type="application/json")

    # --- metrics and dashboard ----------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        self.metrics.subscriptions.set(self.hub.subscription_count())
        response = web.Response(body=self.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def _index(self, request: web.Request) -> web.FileResponse:
        assert self.static_dir is not None
        return web.FileResponse(self.static_dir / "index.html")


class ServerThread:
    """An ``ApiServer`` on its own event loop in a background thread.

    For the node (whose block producer runs on another thread and publishes to the hub) and
    for tests that drive the server with the synchronous client.
    """

    def __init__(self, server: ApiServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = server
        self.host = host
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="api-server", daemon=True
        )
        self._requested_port = port
        self.port = 0

    def start(self, *, listen: bool = True) -> int:
        """Start serving; returns the port. ``listen=False`` runs the loop and the hub
        without a listening socket (the API's front-ends listen instead; port 0)."""
        self._thread.start()
        if not listen:
            self.loop.call_soon_threadsafe(self.server.hub.bind, self.loop)
            return 0
        self.port = self.run(self.server.start(self.host, self._requested_port))
        return self.port

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop; wait for and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def call_soon(self, function: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(function, *args)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()

    async def _shutdown(self) -> None:
        await self.server.stop()
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
