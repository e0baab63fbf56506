"""An API front-end: a process of its own that holds client connections for the node core.

``paraclear serve --frontends N`` starts N of them (``paraclear.api.frontends``); each
listens on the node's public port beside the others (``SO_REUSEPORT``: the kernel spreads
the connections) and talks to the core over a unix socket (``paraclear.api.link``). A
front-end does the API's per-request work on its own interpreter:

* it reads the WebSocket and HTTP frames, parses JSON-RPC, applies the limits and the
  rate limit, and writes every answer and notification;
* order entry (``private/buy``, ``sell``, ``edit``, ``cancel``, ``public/send_transaction``)
  runs here (``paraclear.api.trading``): parameters checked against the transaction,
  envelope decoded, signature checked (``SigVerifier``, on the event loop by default:
  ``DEFAULT_SIG_THREADS``); the transactions go to the core as bytes, in batches, and each
  answer is built here from the ``Included`` the core sends once the block is durable;
* the reads that need only committed blocks (``follower.FOLLOWED``: positions, orders,
  books, tickers, instruments, trades, ...) are answered here, from a follower copy of the
  core's state, books and tape that every durable block updates
  (``paraclear.api.follower``); an order's answer waits until the follower has its block,
  so a client reads its own writes;
* subscriptions are held here, and fed by the blocks the follower applies (``Publisher``,
  ``follower.publish_followed``);
* every other method is forwarded whole to the core, which runs it (authentication,
  heartbeats, the mempool's nonces, block queries and proofs).

Losing the core (it died, or closed the link) fails whatever waits on it, and every new
request that needs it, with ``CoreUnavailable`` (``data.error: "core_unavailable"``,
retryable elsewhere); ``grace`` seconds later the front-end closes its connections and
exits, freeing the port for the core's next run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import msgspec

from paraclear.api import link
from paraclear.api.desk import Included
from paraclear.api.follower import (
    Follower,
    MissedBlock,
    publish_core_messages,
    publish_followed,
    register_reads,
)
from paraclear.api.hub import Hub, Subscriber
from paraclear.api.node_api import is_listed
from paraclear.api.publisher import Publisher
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.api.server import DASHBOARD_DIR, ApiServer
from paraclear.api.trading import TradingMethods
from paraclear.chain.sigverify import SigVerifier
from paraclear.client.envelope import SignedTx, encode_signed
from paraclear.client.errors import NodeError
from paraclear.execution.gc import paused_gc

READY: Final = "paraclear-frontend: ready"
"""The line a front-end prints on its standard output once it listens."""
DEFAULT_GRACE: Final = 1.0
"""Seconds a front-end that lost its core refuses requests before it exits."""
DEFAULT_SIG_THREADS: Final = 1
"""Threads that check a front-end's signatures: one, its event loop's. The front-ends are
processes side by side, so their checks already run at once; a thread of its own per
front-end only added the hand-offs of the interpreter lock (a futex call per order, and
~5 us of CPU per order at 8,000 orders/s over two front-ends, measured)."""
INLINE_CHECKS: Final = 4
"""With more than one signature thread, a batch of at most this many envelopes is still
checked on the event loop (~50 us each): handing it to a thread and back costs a light
load more than the checks."""


class CoreUnavailable(NodeError):
    """The front-end has no link to the node core (it stopped, or died): nothing was
    submitted; retry on another connection once the node is back."""

    code = "core_unavailable"
    fields = ("reason",)

    def __init__(self, reason: str) -> None:
        super().__init__(f"the node core is unavailable: {reason}")
        self.reason = reason


class CoreClient:
    """A front-end's link to its core: a ``Desk`` for order entry, and the forwarder of
    every other call."""

    def __init__(self, path: str, sig_threads: int = DEFAULT_SIG_THREADS) -> None:
        self.path = path
        self.verifier = SigVerifier(sig_threads)
        self.chain_id = ""
        self.methods: list[str] = []
        self.lost: CoreUnavailable | None = None
        self.on_lost: list[Callable[[], object]] = []
        """Called once the link is lost (the front-end exits after its grace)."""
        self._pool = ThreadPoolExecutor(1, "frontend-sigverify") if sig_threads > 1 else None
        """Where batches are checked with more than one signature thread (None: the loop)."""
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._queue: list[tuple[SignedTx, asyncio.Future[Any]]] = []
        self._pump_task: asyncio.Task[None] | None = None
        self._conns: dict[Subscriber, int] = {}
        self._sessions: dict[int, Any] = {}
        self._writer: link.Writer | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.follower = Follower(self.chain_id)
        self.hub = LinkHub(self)
        self.publisher = Publisher(self.follower, self.hub)
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop it connected on: asking asyncio for it costs a system call (getpid),
        ~5 % of a front-end's CPU when each order asked (py-spy)."""
        self._held: list[tuple[int, asyncio.Future[Any], Included]] = []
        """Inclusions answered by the core whose block the follower does not have yet."""

    async def connect(self) -> None:
        """Connect, read the core's ``Hello`` and wait for the follower's first snapshot.
        Raises ``OSError`` if the core is not there, ``ConnectionError`` if it is not one."""
        self._loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_unix_connection(self.path)
        hello = await link.read(reader)
        if not isinstance(hello, link.Hello):
            raise ConnectionError(f"the core sent {type(hello).__name__} first")
        self.chain_id, self.methods = hello.chain_id, hello.methods
        self.follower.chain_id = hello.chain_id
        self._writer = link.Writer(writer)
        self._reader_task = asyncio.create_task(self._read(reader))
        loaded = asyncio.create_task(self.follower.loaded.wait())
        await asyncio.wait([loaded, self._reader_task], return_when=asyncio.FIRST_COMPLETED)
        if not loaded.done():
            loaded.cancel()
            raise ConnectionError("the core closed the link before its snapshot")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.verifier.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    # --- order entry (a Desk) ------------------------------------------------------------

    async def include(self, signed: SignedTx, *, views: bool) -> Included:
        """Check ``signed``'s envelope and signature (in a batch with the others of this
        moment), send it to the core, and wait for its ``Included``: once the follower has
        its block, whatever ``views`` says (a client reads its own writes here)."""
        self._check_link()
        loop = self._running_loop()
        future: asyncio.Future[Included] = loop.create_future()
        self._queue.append((signed, future))
        if self._pump_task is None:
            self._pump_task = loop.create_task(self._pump())
        return await future

    async def _pump(self) -> None:
        """Check and send the queued envelopes, a batch at a time, in arrival order."""
        loop = self._running_loop()
        try:
            while self._queue and self.lost is None:
                batch, self._queue = self._queue, []
                envelopes = [item[0] for item in batch]
                if self._pool is None or len(batch) <= INLINE_CHECKS:
                    outcomes = self.verifier.verify(envelopes, self.chain_id)
                else:
                    outcomes = await loop.run_in_executor(
                        self._pool, self.verifier.verify, envelopes, self.chain_id
                    )
                checked = []
                for (signed, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its client went away meanwhile: nothing was sent
                        continue
                    if outcome is not None:
                        future.set_exception(outcome)
                        continue
                    rid = next(self._ids)
                    self._pending[rid] = future
                    checked.append(link.Envelope(rid, encode_signed(signed)))
                if checked and self.lost is None:
                    self._send(link.Submit(checked))
        finally:
            self._pump_task = None
            if self.lost is not None:
                self._fail_all()

    # --- forwarding ----------------------------------------------------------------------

    async def forward(self, context: Context, request: dict[str, Any]) -> msgspec.Raw:
        """Run ``request`` on the core; its JSON result. Binds the connection to the
        account the core's answer names (``public/auth``)."""
        session = context.session
        conn = self._conn(session) if session is not None else 0
        call = link.Call(
            0, conn, context.account, context.lax, context.transport, context.peer, request
        )
        answer = await self._ask(call)
        if answer.account is not None and answer.account != context.account:
            context.account = answer.account
            if session is not None:
                session.account = answer.account
        if answer.error is not None:
            raise RpcError.from_object(answer.error)
        assert answer.result is not None
        return msgspec.Raw(answer.result)

    async def next_nonce(self, account: str) -> int:
        """The nonce the account's next transaction should carry, from the core's mempool."""
        params = {"account": account}
        request = {"jsonrpc": "2.0", "method": "public/get_next_nonce", "params": params}
        answer = await self._ask(link.Call(0, 0, None, False, "ws", "", request))
        if answer.error is not None:
            raise RpcError.from_object(answer.error)
        assert answer.result is not None
        return msgspec.json.decode(answer.result, type=int)

    async def verify_header(self, header: str, data: str) -> str:
        """The account an HTTP ``Authorization`` header authenticates (the core checks)."""
        answer = await self._ask(link.Header(0, header, data))
        if answer.error is not None:
            raise RpcError.from_object(answer.error)
        account = answer.account
        assert account is not None
        return account

    async def _ask(self, message: link.Call | link.Header) -> link.Answer:
        self._check_link()
        rid = next(self._ids)
        future: asyncio.Future[link.Answer] = self._running_loop().create_future()
        self._pending[rid] = future
        self._send(msgspec.structs.replace(message, rid=rid))
        return await future

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    def _conn(self, session: Subscriber) -> int:
        conn = self._conns.get(session)
        if conn is None:
            conn = self._conns[session] = next(self._ids)
            self._sessions[conn] = session
        return conn

    def session_closed(self, session: Subscriber) -> None:
        """A client connection went away: the core forgets it (its subscriptions)."""
        conn = self._conns.pop(session, None)
        if conn is not None:
            self._sessions.pop(conn, None)
            if self.lost is None:
                self._send(link.Closed(conn))

    # --- the link ------------------------------------------------------------------------

    def _check_link(self) -> None:
        if self.lost is not None:
            raise self.lost

    def _send(self, message: link.Message) -> None:
        assert self._writer is not None
        self._writer.send(message)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        reason = "the core closed the link"
        try:
            while True:
                self._handle(await link.read(reader))
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            if not isinstance(error, asyncio.IncompleteReadError):
                reason = str(error)
        self.lost = CoreUnavailable(reason)
        self._fail_all()
        for callback in self.on_lost:
            callback()

    def _handle(self, message: link.Message) -> None:
        if isinstance(message, link.Done):
            for outcome in message.outcomes:
                future = self._pending.pop(outcome.rid, None)
                if future is None or future.done():
                    continue
                if outcome.error is not None:
                    future.set_exception(RpcError.from_object(outcome.error))
                elif outcome.included is not None:
                    self._held.append((outcome.included.height, future, outcome.included))
            self._release()
        elif isinstance(message, link.Snapshot):
            with paused_gc():
                self.follower.load(message)
                self.publisher.reload()
            self._release()
        elif isinstance(message, link.Committed):
            self._follow(message)
        elif isinstance(message, link.Published):
            publish_core_messages(self.hub, message)
        elif isinstance(message, link.Answer):
            future = self._pending.pop(message.rid, None)
            if future is not None and not future.done():
                future.set_result(message)
        elif isinstance(message, link.Notify):
            for conns, frame in message.frames:
                for conn in conns:
                    session = self._sessions.get(conn)
                    if session is not None:
                        session.deliver(frame)
        elif isinstance(message, link.Close):
            session = self._sessions.get(message.conn)
            if session is not None:
                session.close(message.reason)

    def _follow(self, block: link.Committed) -> None:
        """Apply a block to the follower, answer the inclusions it held, then publish the
        block (the answers wait for the follower, not for the market data, as the node's
        own API server answers); ask for a snapshot if one is missing before it.

        The cyclic collector is paused meanwhile and what the block left alive is frozen
        (``paraclear.execution.gc``, as the core does around its blocks), as is a snapshot
        once loaded: otherwise the collector walked the follower's whole state over and
        over (~12 us of CPU per order over two front-ends at 8,000 orders/s, measured)."""
        with paused_gc():
            try:
                applied = self.follower.follow(block)
            except MissedBlock:
                self._send(link.Resync())
                return
            if applied is not None:
                self._release()
                publish_followed(self.publisher, block, applied)

    def _release(self) -> None:
        """Answer the held inclusions whose block the follower has."""
        if not self._held:
            return
        height = self.follower.height
        held, self._held = self._held, []
        for at, future, included in held:
            if at > height:
                self._held.append((at, future, included))
            elif not future.done():
                future.set_result(included)

    def _fail_all(self) -> None:
        assert self.lost is not None
        waiting = [*self._pending.values(), *(future for _, future in self._queue)]
        waiting += [future for _, future, _ in self._held]
        self._pending, self._queue, self._held = {}, [], []
        for future in waiting:
            if not future.done():
                future.set_exception(self.lost)


class LinkHub(Hub):
    """The front-end's hub: channels are checked against the follower's instruments, and
    a connection that goes away is reported to the core (its heartbeats)."""

    def __init__(self, core: CoreClient) -> None:
        super().__init__(is_instrument=lambda name: is_listed(core.follower, name))
        self.core = core

    def drop(self, subscriber: Subscriber) -> None:
        super().drop(subscriber)
        self.core.session_closed(subscriber)


def frontend_server(core: CoreClient) -> ApiServer:
    """The API server of a front-end: order entry and the follower's reads here, every
    other method of the core forwarded to it."""
    registry = Registry()
    for name in core.methods:
        registry.forward(name, core.forward)
    TradingMethods(core).register(registry)
    register_reads(core.follower, registry, core.next_nonce)
    core.hub.register(registry)
    return ApiServer(
        registry,
        hub=core.hub,
        static_dir=DASHBOARD_DIR,
        header_check=core.verify_header,
    )


async def serve(socket_path: str, host: str, port: int, sig_threads: int, grace: float) -> int:
    """Run a front-end until SIGTERM, or until ``grace`` seconds after losing the core."""
    core = CoreClient(socket_path, sig_threads)
    await core.connect()
    server = frontend_server(core)
    bound = await server.start(host, port, reuse_port=True)
    print(f"{READY} {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    core.on_lost.append(lambda: loop.call_later(grace, stop.set))
    await stop.wait()
    await server.stop()
    core.close()
    return 0 if core.lost is None else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraclear.api.frontend")
    parser.add_argument("--socket", required=True, help="the core's unix socket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sig-threads", type=int, default=DEFAULT_SIG_THREADS)
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(serve(args.socket, args.host, args.port, args.sig_threads, args.grace))
    except OSError as error:
        print(f"paraclear-frontend: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
