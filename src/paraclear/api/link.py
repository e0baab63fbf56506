"""The link between API front-end processes and the node core: its messages and framing.

A front-end (``paraclear.api.frontend``) holds the clients' connections and sends the core
(``paraclear.api.core_link``) only what needs it, over a unix socket:

* ``Submit``: transactions whose envelopes and signatures the front-end checked, as bytes,
  in batches; the core answers each with an ``Outcome`` (in ``Done`` batches) once its
  block is durable, or with the typed error that refused it;
* ``Call``: any other request, forwarded whole (the core checks its parameters and runs
  the one implementation of the method); ``Answer`` carries its JSON result or error and
  the account the connection is bound to after it (``public/auth`` binds one);
* ``Header``: an HTTP request's ``Authorization`` header, checked by the core's
  authenticator (one challenge and one memory of used grants for every front-end);
* ``Notify``: subscription frames for the front-end's connections (``conn`` numbers them);
  ``Close``: the core closes a connection (an unanswered heartbeat); ``Closed``: a client
  went away;
* ``Snapshot`` and ``Committed``: what a front-end's follower copy of the state needs
  (``paraclear.api.follower``): the core sends a snapshot right after its ``Hello``, then
  every committed block in order once it is durable; a front-end that finds a height
  missing sends ``Resync`` and gets a snapshot again. ``Published``: the core's ``blocks``
  and ``totals`` messages of a block, after its ``Committed``.

Each message is msgpack, tagged, preceded by its length (4 bytes, big-endian). The socket
lives in a directory only the node's user can enter: the core trusts its front-ends.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Final

import msgspec

from paraclear.api.desk import Included
from paraclear.state import Key

HEADER: Final = struct.Struct("!I")
MAX_MESSAGE_BYTES: Final = 256 * 1024 * 1024
"""A longer length prefix is a broken link, not a message."""


class Hello(msgspec.Struct, frozen=True, array_like=True, tag="hello"):
    """The core's first message: the methods it serves and the chain it runs."""

    chain_id: str
    methods: list[str]


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """One checked transaction: the front-end's request number and its encoded envelope."""

    rid: int
    raw: bytes


class Submit(msgspec.Struct, frozen=True, array_like=True, tag="submit"):
    envelopes: list[Envelope]


class Outcome(msgspec.Struct, frozen=True, array_like=True):
    """A submitted transaction's end: included, or the JSON-RPC error object refusing it."""

    rid: int
    included: Included | None
    error: dict[str, Any] | None


class Done(msgspec.Struct, frozen=True, array_like=True, tag="done"):
    outcomes: list[Outcome]


class Call(msgspec.Struct, frozen=True, array_like=True, tag="call"):
    """A request forwarded whole; ``conn`` 0 for HTTP (no session); ``peer`` the client's
    address (per-peer limits over HTTP)."""

    rid: int
    conn: int
    account: str | None
    lax: bool
    transport: str
    peer: str
    request: dict[str, Any]


class Header(msgspec.Struct, frozen=True, array_like=True, tag="header"):
    rid: int
    header: str
    data: str


class Answer(msgspec.Struct, frozen=True, array_like=True, tag="answer"):
    """A ``Call``'s or ``Header``'s answer: ``result`` is JSON."""

    rid: int
    result: bytes | None
    error: dict[str, Any] | None
    account: str | None


class Notify(msgspec.Struct, frozen=True, array_like=True, tag="notify"):
    """Subscription frames, each with the connections it goes to."""

    frames: list[tuple[list[int], bytes]]


class Close(msgspec.Struct, frozen=True, array_like=True, tag="close"):
    conn: int
    reason: str


class Closed(msgspec.Struct, frozen=True, array_like=True, tag="closed"):
    conn: int


Levels = list[tuple[int, int]]
Depth = dict[str, tuple[Levels, Levels]]


class Snapshot(msgspec.Struct, frozen=True, array_like=True, tag="snapshot"):
    """The state after block ``height`` (``paraclear.chain.snapshot``'s encoding of its
    entries), the books' best levels, and the tape (pickled: the link is trusted)."""

    height: int
    time: int
    root: bytes
    margin_model: str
    entries: bytes
    depth: Depth
    tape: bytes


class Committed(msgspec.Struct, frozen=True, array_like=True, tag="committed"):
    """One durable block: its transactions and receipts as the block log stores them, its
    write set (the entries it set, encoded as a snapshot's, and the keys it deleted), and
    the best levels of the books it changed or delisted."""

    height: int
    time: int
    root: bytes
    block: bytes
    receipts: bytes
    writes: bytes
    deleted: list[Key]
    books: Depth
    delisted: list[str]


class Published(msgspec.Struct, frozen=True, array_like=True, tag="published"):
    """The core's ``blocks`` and ``totals`` messages of block ``height`` (JSON; empty if it
    made none), sent once its publisher made them (after the block's ``Committed``)."""

    height: int
    stats: bytes
    totals: bytes


class Resync(msgspec.Struct, frozen=True, array_like=True, tag="resync"):
    """A front-end's follower missed a block: the core sends a ``Snapshot``."""


Message = (
    Hello | Submit | Done | Call | Header | Answer | Notify | Close | Closed
    | Snapshot | Committed | Published | Resync
)  # fmt: skip

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    """A message with its length prefix."""
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


async def read(reader: asyncio.StreamReader) -> Message:
    """The next message. Raises ``asyncio.IncompleteReadError`` at the end of the stream,
    ``ConnectionError`` on a broken one."""
    (length,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if length > MAX_MESSAGE_BYTES:
        raise ConnectionError(f"link message of {length} bytes")
    try:
        return _decoder.decode(await reader.readexactly(length))
    except msgspec.DecodeError as error:
        raise ConnectionError(f"undecodable link message: {error}") from None


class Writer:
    """Messages queued during one turn of the event loop leave in one write."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def send(self, message: Message) -> None:
        if self.writer.is_closing():
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(encode(message))

    def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        if not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        self.writer.close()
