"""The node core's end of its front-ends' links (messages: ``paraclear.api.link``).

``CoreLink`` listens on a unix socket, on the API server's event loop of the core, and
serves every front-end that connects:

* ``Submit``: each envelope is decoded and handed to the node as checked, with its bytes
  (``decode_trusted``, ``Node.submit_checked``: the front-end checked its fields and its
  signature), each with a ``Ticket`` as its waiter. A ticket queues its transaction's
  outcome where the node settles it: a refusal wakes the loop at once; the inclusions of a
  durable block wake it once for the whole block, from the block's listener, which hands
  the loop the block's ``Committed`` in the same call, so the loop answers the burst in one
  ``Done``, each ``Included`` built by ``LocalDesk`` (the node's tape and state hold the
  block by then), and sends the block right after it. It does not wait for this process's views to
  include the block: the front-end answers once its own follower has it.
* ``Call``: the request runs through the core's own dispatcher (one implementation of every
  method), in a ``Context`` kept per front-end connection (its account, its heartbeat), whose
  session is a ``RemoteSession``: heartbeats deliver through the link (subscriptions are
  the front-ends' own, fed by the blocks below).
* ``Header``: the core's authenticator checks an HTTP request's ``Authorization`` header,
  so that one challenge and one memory of used grants serve every front-end.

Each front-end also follows the chain (``paraclear.api.follower``): it gets a ``Snapshot``
after the ``Hello`` (and again when it asks, ``Resync``), then every durable block as a
``Committed``, in order, encoded once for every front-end on the loop: the link is the
node's first listener, so a block leaves before the API's own listeners and publisher run
(the front-ends answer its orders once their followers have it). The API's publisher
hands the block's ``blocks`` and ``totals`` messages to ``broadcast`` once it made them,
which sends them as a ``Published``. A snapshot is taken on the loop holding
``Node.state_lock`` once the link's listener of the node's height has run (``_listened``),
or, if a block is on its way (the lock is the producer's), by that block's listener:
either way state, books and tape are of one height, and the blocks sent after it are the
ones after that height.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

from paraclear.api import feed, link
from paraclear.api.desk import LocalDesk
from paraclear.api.rpc import Context, to_rpc_error
from paraclear.api.server import ApiServer
from paraclear.chain.core import BlockReport, Inclusion, Node, Pending
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import Transaction
from paraclear.client.envelope import decode_trusted
from paraclear.client.errors import NodeError

log = logging.getLogger(__name__)

_json = msgspec.json.Encoder()


class Ticket:
    """A forwarded transaction's ``Waiter`` (``Node.submit_checked``): holds its outcome and
    queues itself for the loop to answer (see the module docstring)."""

    __slots__ = ("before", "core", "outcome", "peer", "rid", "tx")

    def __init__(
        self, core: CoreLink, peer: Peer, rid: int, tx: Transaction, before: OpenOrder | None
    ) -> None:
        self.core = core
        self.peer = peer
        self.rid = rid
        self.tx = tx
        self.before = before
        """A cancel's order before it was submitted (``LocalDesk.before``)."""
        self.outcome: Inclusion | BaseException | None = None

    def set_result(self, result: Inclusion, /) -> None:
        """Its block is durable: queued; the block's listener wakes the loop."""
        self.outcome = result
        self.core.resolved.append(self)

    def set_exception(self, exception: BaseException, /) -> None:
        """Refused or dropped: queued, and the loop woken."""
        self.outcome = exception
        self.core.resolved.append(self)
        self.core.wake()

    def done(self) -> bool:
        return self.outcome is not None


class RemoteSession:
    """A front-end's client connection, as the core's hub and heartbeats see it."""

    def __init__(self, peer: Peer, conn: int, account: str | None) -> None:
        self.peer = peer
        self.conn = conn
        self.account = account
        self.closed = asyncio.Event()

    def deliver(self, frame: bytes) -> bool:
        """Queue a notification for the connection; False once it is gone."""
        return not self.closed.is_set() and self.peer.notify(self.conn, frame)

    def close(self, reason: str) -> None:
        """Ask the front-end to close the connection (it answers ``Closed``)."""
        if not self.closed.is_set():
            self.peer.writer.send(link.Close(self.conn, reason))


class Peer:
    """One front-end: its writer and the contexts of its client connections."""

    def __init__(self, core: CoreLink, writer: link.Writer) -> None:
        self.core = core
        self.writer = writer
        self.contexts: dict[int, Context] = {}
        self._frames: list[tuple[int, bytes]] = []

    def context(self, call: link.Call) -> Context:
        """The context of a forwarded call: kept per WebSocket connection, fresh over HTTP."""
        if call.conn == 0:
            return Context(call.transport, account=call.account, lax=call.lax, peer=call.peer)
        context = self.contexts.get(call.conn)
        if context is None:
            session = RemoteSession(self, call.conn, call.account)
            context = Context(call.transport, account=call.account, session=session, peer=call.peer)
            self.contexts[call.conn] = context
        if call.account is not None:
            context.account = context.session.account = call.account
        return context

    def notify(self, conn: int, frame: bytes) -> bool:
        if self.writer.writer.is_closing():
            return False
        if not self._frames:
            asyncio.get_running_loop().call_soon(self._flush)
        self._frames.append((conn, frame))
        return True

    def _flush(self) -> None:
        """Send the queued notifications, each frame once with every connection it is for
        (the hub encodes a message once for all its subscribers)."""
        frames, self._frames = self._frames, []
        by_frame: dict[int, tuple[list[int], bytes]] = {}
        for conn, frame in frames:
            by_frame.setdefault(id(frame), ([], frame))[0].append(conn)
        self.writer.send(link.Notify(list(by_frame.values())))

    def closed(self, conn: int) -> None:
        """A client connection went away: forget its subscriptions and context."""
        context = self.contexts.pop(conn, None)
        if context is not None:
            context.session.closed.set()
            self.core.server.hub.drop(context.session)

    def gone(self) -> None:
        for conn in list(self.contexts):
            self.closed(conn)


class CoreLink:
    """Serves front-ends on a unix socket at ``path``; see the module docstring."""

    def __init__(self, node: Node, server: ApiServer, desk: LocalDesk, path: Path) -> None:
        self.node = node
        self.server = server
        self.desk = desk
        self.path = path
        self._peers: set[Peer] = set()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.resolved: deque[Ticket] = deque()
        """Tickets settled and not answered yet (appended on the node's threads)."""
        self._lock = threading.Lock()
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._listened = node.height
        """The latest block whose listeners ran (set on the thread that ran them)."""
        self._wanting: set[Peer] = set()
        """Front-ends waiting for a snapshot that the next block's listener takes."""
        self._detach: Any = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        self._detach = self.node.subscribe(self._on_block, first=True)

    async def stop(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None
        if self._server is not None:
            self._server.close()
            for peer in list(self._peers):
                peer.writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self, link.Writer(writer))
        self._peers.add(peer)
        peer.writer.send(link.Hello(self.node.chain_id, self.server.registry.names()))
        self._snapshot(peer)
        try:
            while True:
                self._handle(peer, await link.read(reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            peer.gone()
            self._peers.discard(peer)
            with self._lock:
                self._wanting.discard(peer)
            writer.close()

    def _handle(self, peer: Peer, message: link.Message) -> None:
        if isinstance(message, link.Submit):
            self._submit(peer, message.envelopes)
        elif isinstance(message, link.Call):
            self._spawn(self._call(peer, message))
        elif isinstance(message, link.Header):
            self._header(peer, message)
        elif isinstance(message, link.Closed):
            peer.closed(message.conn)
        elif isinstance(message, link.Resync):
            self._snapshot(peer)
        else:
            log.warning("a front-end sent %s, which only the core sends", type(message).__name__)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the followers -------------------------------------------------------------------

    def _on_block(self, report: BlockReport) -> None:
        """A block's listener (the persister's thread, the first): hand the block to the
        loop for the front-ends, then take the snapshots they wait for."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody to tell
                loop.call_soon_threadsafe(self._send_block, report)
        with self._lock:
            wanting, self._wanting = self._wanting, set()
            self._listened = report.block.height
        if wanting and loop is not None:
            message = feed.snapshot(self.node, report.result.state_root)
            for peer in wanting:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(peer.writer.send, message)

    def _send_block(self, report: BlockReport) -> None:
        """On the loop: send the answers to a durable block's transactions (and whatever
        else was settled meanwhile), then the block to every front-end. Answers first: a
        front-end holds them until its follower has applied the block, and answers them
        right after applying it, before it publishes the block to its subscribers."""
        self._drain()
        self._send_committed(report)

    def _send_committed(self, report: BlockReport) -> None:
        """On the loop: send a durable block to every front-end."""
        if self._peers:
            message = feed.committed(report)
            for peer in self._peers:
                peer.writer.send(message)

    def broadcast(self, report: BlockReport, stats: object, totals: object) -> None:
        """On the loop: send a published block's ``blocks`` and ``totals`` messages to
        every front-end."""
        if self._peers and (stats is not None or totals is not None):
            message = feed.published(report.block.height, stats, totals)
            for peer in self._peers:
                peer.writer.send(message)

    def _snapshot(self, peer: Peer) -> None:
        """Send ``peer`` a snapshot now, if no block is between commit and its listeners;
        else the next block's listener takes it."""
        lock = self.node.state_lock
        if lock.acquire(blocking=False):
            try:
                with self._lock:
                    ready = self._listened == self.node.height
                    if not ready:
                        self._wanting.add(peer)
                if ready:
                    peer.writer.send(feed.snapshot(self.node, self.node.store.last_root))
            finally:
                lock.release()
        else:
            with self._lock:
                self._wanting.add(peer)

    # --- calls ---------------------------------------------------------------------------

    async def _call(self, peer: Peer, call: link.Call) -> None:
        context = peer.context(call)
        try:
            result = await self.server.dispatcher.call(call.request, context)
            answer = link.Answer(call.rid, _json.encode(result), None, context.account)
        except Exception as error:
            answer = link.Answer(call.rid, None, to_rpc_error(error).to_object(), context.account)
        peer.writer.send(answer)

    def _header(self, peer: Peer, message: link.Header) -> None:
        try:
            account = self.server.authenticator.verify_header(message.header, message.data)
            answer = link.Answer(message.rid, _json.encode(account), None, account)
        except Exception as error:
            answer = link.Answer(message.rid, None, to_rpc_error(error).to_object(), None)
        peer.writer.send(answer)

    # --- submissions ---------------------------------------------------------------------

    def _submit(self, peer: Peer, envelopes: list[link.Envelope]) -> None:
        batch: list[Pending] = []
        refused = []
        for envelope in envelopes:
            try:
                signed = decode_trusted(envelope.raw)
            except NodeError as error:
                refused.append(link.Outcome(envelope.rid, None, to_rpc_error(error).to_object()))
                continue
            tx = signed.tx
            ticket = Ticket(self, peer, envelope.rid, tx, self.desk.before(tx))
            batch.append((signed, envelope.raw, ticket))
        if refused:
            peer.writer.send(link.Done(refused))
        self.node.submit_checked(batch)

    def wake(self) -> None:
        """Have the loop answer the settled tickets soon (thread-safe; once per burst)."""
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody to answer
                self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """On the loop: answer every settled ticket, one ``Done`` per front-end."""
        with self._lock:
            self._scheduled = False
        resolved = self.resolved
        outcomes: dict[Peer, list[link.Outcome]] = {}
        while resolved:
            ticket = resolved.popleft()
            outcome = ticket.outcome
            if isinstance(outcome, Inclusion):
                included = self.desk.included(outcome, ticket.tx, ticket.before)
                answer = link.Outcome(ticket.rid, included, None)
            else:
                assert outcome is not None
                answer = link.Outcome(ticket.rid, None, to_rpc_error(outcome).to_object())
            outcomes.setdefault(ticket.peer, []).append(answer)
        for peer, done in outcomes.items():
            peer.writer.send(link.Done(done))
