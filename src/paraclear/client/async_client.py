"""``AsyncClient``: a JSON-RPC client of the node over one WebSocket connection, on asyncio.

Calls made in the same turn of the event loop leave together, as one JSON-RPC batch frame;
each has its own id, so they may run concurrently. A JSON-RPC error raises ``RpcError``; a
call that outlives its timeout raises ``TimeoutError``; a closed connection fails every call
in flight, and ends every subscription, with ``ConnectionClosed``. ``call_stamped`` also
says when a call went and came back (``Stamps``, microseconds of the wall clock).

Orders (``buy``, ``sell``, ``edit``, ``cancel``) are transactions the client builds, numbers
(``next_nonce``) and signs with the account's ``Keypair``. The synchronous ``Client`` wraps
this one (``paraclear.client.connection``).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from typing import Any, Final, NamedTuple

import aiohttp
import msgspec

from paraclear.clearing.transactions import AmendOrder, CancelOrder, PlaceOrder, Side, Transaction
from paraclear.client.envelope import Keypair, encode_signed, sign
from paraclear.client.grants import Signer, sign_auth
from paraclear.client.names import canonical
from paraclear.client.rpc_errors import RpcError
from paraclear.client.subscription import (
    DEFAULT_TIMEOUT,
    Callback,
    ConnectionClosed,
    Subscription,
)
from paraclear.numbers import parse_price, parse_size

DEFAULT_CHAIN_ID: Final = "paraclear-local"
DEFAULT_BATCH_LIMIT: Final = 100
Decimal = str | int
"""A decimal number as the user writes it: ``"0.1"``, ``60000`` (never a float)."""


def wall_us() -> int:
    """Microseconds of the wall clock, as the server stamps ``usIn`` and ``usOut``."""
    return time.time_ns() // 1000


class Stamps(NamedTuple):
    """One call's way, in microseconds of the wall clock (``call_stamped``): when it was
    made here, when the server received it and answered it (its ``usIn``, ``usOut``), and
    when the answer was read here. On one machine the differences are the time to the
    server, in it and back."""

    sent: int
    server_in: int
    server_out: int
    received: int


class AsyncClient:
    """A JSON-RPC client over one WebSocket connection."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, chain_id: str = DEFAULT_CHAIN_ID) -> None:
        self.timeout = timeout
        self.chain_id = chain_id
        self.account: str | None = None
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._stamps: dict[int, list[int]] = {}
        """The stamps of the stamped calls in flight: sent, then the answer's three."""
        self._subscriptions: dict[str, list[Subscription]] = {}
        self.stray: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        """Responses that answer no call in flight (e.g. errors with ``id: null``)."""
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed: ConnectionClosed | None = None
        self._decoder = msgspec.json.Decoder()
        self._encoder = msgspec.json.Encoder()
        self._outbox: list[tuple[int, bytes]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._nonces: dict[str, int] = {}
        self.batch_limit = DEFAULT_BATCH_LIMIT
        """Most calls sent in one frame (the server's ``Limits.max_batch``)."""

    @classmethod
    async def connect(
        cls, url: str, timeout: float = DEFAULT_TIMEOUT, chain_id: str = DEFAULT_CHAIN_ID
    ) -> AsyncClient:
        client = cls(timeout, chain_id)
        client._session = aiohttp.ClientSession()
        try:
            client._ws = await client._session.ws_connect(
                url, max_msg_size=0, decode_text=False, autoping=True
            )
        except BaseException:
            await client._session.close()
            raise
        client._reader = asyncio.create_task(client._read())
        return client

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        if self._session is not None:
            await self._session.close()

    # --- calls --------------------------------------------------------------------------

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """The result of one call. Raises RpcError, TimeoutError, ConnectionClosed.

        Calls made in the same turn of the event loop leave together, as one JSON-RPC batch
        frame (at most ``batch_limit`` each): pipelined callers pay one frame, not one each.
        """
        return await self._call(method, params, timeout, None)

    async def call_stamped(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> tuple[Any, Stamps]:
        """``call``, and when it went and came back (``Stamps``). Raises as ``call``."""
        stamps = [wall_us()]
        result = await self._call(method, params, timeout, stamps)
        return result, Stamps(*stamps)

    async def _call(
        self,
        method: str,
        params: dict[str, Any] | None,
        timeout: float | None,
        stamps: list[int] | None,
    ) -> Any:
        if self.closed is not None or self._ws is None:
            raise self.closed or ConnectionClosed(None, "not connected")
        request_id = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._calls[request_id] = future
        if stamps is not None:
            self._stamps[request_id] = stamps
        request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
        self._outbox.append((request_id, self._encoder.encode(request)))
        if len(self._outbox) == 1:
            loop.call_soon(self._flush)
        expiry = loop.call_later(self.timeout if timeout is None else timeout, _expire, future)
        try:
            return await future
        finally:
            expiry.cancel()
            self._calls.pop(request_id, None)
            self._stamps.pop(request_id, None)

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        outbox, self._outbox = self._outbox, []
        for start in range(0, len(outbox), self.batch_limit):
            chunk = outbox[start : start + self.batch_limit]
            frames = [frame for _, frame in chunk]
            frame = frames[0] if len(frames) == 1 else b"[" + b",".join(frames) + b"]"
            sending = self._send_chunk(frame, [rid for rid, _ in chunk])
            self._sending.add(task := loop.create_task(sending))  # a reference until done
            task.add_done_callback(self._sending.discard)

    async def _send_chunk(self, frame: bytes, request_ids: list[int]) -> None:
        try:
            await self.send_raw(frame)
        except ConnectionClosed as error:
            for request_id in request_ids:
                future = self._calls.get(request_id)
                if future is not None and not future.done():
                    future.set_exception(error)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send a notification (no id, so no answer)."""
        await self.send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    async def send(self, message: Any) -> None:
        await self.send_raw(self._encoder.encode(message))

    async def send_raw(self, frame: bytes | str) -> None:
        """Send a frame as it is (tests of malformed input)."""
        if self.closed is not None or self._ws is None:
            raise self.closed or ConnectionClosed(None, "not connected")
        data = frame.encode() if isinstance(frame, str) else frame
        try:
            await self._ws.send_frame(data, aiohttp.WSMsgType.TEXT)
        except (ConnectionError, RuntimeError) as error:
            raise ConnectionClosed(None, str(error)) from None

    async def next_stray(self, timeout: float | None = None) -> dict[str, Any]:
        """The next response that matched no call."""
        return await asyncio.wait_for(
            self.stray.get(), self.timeout if timeout is None else timeout
        )

    async def wait_closed(self, timeout: float | None = None) -> ConnectionClosed:
        """Wait until the server closes the connection; returns why."""
        assert self._reader is not None
        await asyncio.wait_for(
            asyncio.shield(self._reader), self.timeout if timeout is None else timeout
        )
        assert self.closed is not None
        return self.closed

    # --- orders -------------------------------------------------------------------------

    async def next_nonce(self, account: str) -> int:
        """The nonce the account's next transaction takes: the node's answer the first
        time, then counted here."""
        if account not in self._nonces:
            fetched: int = await self.call("public/get_next_nonce", {"account": account})
            self._nonces.setdefault(account, fetched)
        nonce = self._nonces[account]
        self._nonces[account] = nonce + 1
        return nonce

    async def submit(self, method: str, keypair: Keypair, tx: Transaction, **params: Any) -> Any:
        """Sign ``tx`` and send it with Deribit's ``params``; the answer once it is in a
        block. A refusal before any block makes the next call ask the node for the nonce."""
        signed = base64.b64encode(encode_signed(sign(keypair, self.chain_id, tx))).decode()
        try:
            return await self.call(method, {**params, "signed_tx": signed})
        except RpcError as error:
            if not (error.data and "block" in error.data):
                self._nonces.pop(tx.sender, None)
            raise

    async def send_transaction(self, keypair: Keypair, tx: Transaction) -> Any:
        """``public/send_transaction``: sign any transaction (a deposit...) and send it; its
        receipt once its block is durable."""
        signed = base64.b64encode(encode_signed(sign(keypair, self.chain_id, tx))).decode()
        return await self.call("public/send_transaction", {"signed_tx": signed})

    async def buy(
        self, keypair: Keypair, instrument: str, amount: Decimal, price: Decimal, **order: Any
    ) -> Any:
        """``private/buy``: ``amount`` contracts at ``price`` USDC, as decimal strings or
        integers; ``order``: ``PlaceOrder``'s other fields (``kind``, ``reduce_only``,
        ``label``, ``good_til``, ``fee``)."""
        return await self._place(keypair, Side.BUY, instrument, amount, price, order)

    async def sell(
        self, keypair: Keypair, instrument: str, amount: Decimal, price: Decimal, **order: Any
    ) -> Any:
        """``private/sell``; see ``buy``."""
        return await self._place(keypair, Side.SELL, instrument, amount, price, order)

    async def _place(
        self,
        keypair: Keypair,
        side: Side,
        instrument: str,
        amount: Decimal,
        price: Decimal,
        order: dict[str, Any],
    ) -> Any:
        nonce = await self.next_nonce(keypair.account)
        instrument = canonical(instrument)  # the signed order names the listed instrument
        tx = PlaceOrder(
            sender=keypair.account,
            nonce=nonce,
            instrument=instrument,
            side=side,
            size=parse_size(amount),
            price=parse_price(price),
            **order,
        )
        method = f"private/{side.value}"
        return await self.submit(
            method, keypair, tx, instrument_name=instrument, amount=str(amount), price=str(price)
        )

    async def edit(self, keypair: Keypair, order: int, amount: Decimal, price: Decimal) -> Any:
        """``private/edit`` of the keypair's order opened by its transaction of nonce ``order``."""
        nonce = await self.next_nonce(keypair.account)
        tx = AmendOrder(
            sender=keypair.account,
            nonce=nonce,
            order=order,
            size=parse_size(amount),
            price=parse_price(price),
        )
        order_id = f"{keypair.account}-{order}"
        return await self.submit(
            "private/edit", keypair, tx, order_id=order_id, amount=str(amount), price=str(price)
        )

    async def cancel(self, keypair: Keypair, instrument: str, order: int) -> Any:
        """``private/cancel`` of the keypair's order ``order`` in ``instrument``."""
        nonce = await self.next_nonce(keypair.account)
        tx = CancelOrder(
            sender=keypair.account, nonce=nonce, instrument=canonical(instrument), order=order
        )
        return await self.submit(
            "private/cancel", keypair, tx, order_id=f"{keypair.account}-{order}"
        )

    # --- authentication and subscriptions -------------------------------------------------

    async def auth(self, signer: Signer) -> dict[str, Any]:
        """Bind this connection to ``signer``'s account: ``public/get_auth_challenge``, then
        ``public/auth`` with a signature grant over the challenge."""
        challenge = (await self.call("public/get_auth_challenge"))["challenge"]
        grant = sign_auth(signer, self.chain_id, challenge)
        result: dict[str, Any] = await self.call("public/auth", grant)
        self.account = signer.account
        return result

    async def subscribe(
        self, channels: list[str], callback: Callback | None = None, *, private: bool | None = None
    ) -> Subscription:
        """Subscribe; messages go to ``callback`` (on the reader task) or the subscription's
        queue. ``private`` defaults to whether any channel is a ``user.`` one."""
        if private is None:
            private = any(channel.startswith("user.") for channel in channels)
        subscription = Subscription(channels, callback)
        for channel in channels:
            self._subscriptions.setdefault(channel, []).append(subscription)
        try:
            scope = "private" if private else "public"
            subscription.channels = await self.call(f"{scope}/subscribe", {"channels": channels})
        except BaseException:
            self._forget(subscription)
            raise
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> list[str]:
        self._forget(subscription)
        scope = "private" if any(c.startswith("user.") for c in subscription.channels) else "public"
        result: list[str] = await self.call(
            f"{scope}/unsubscribe", {"channels": subscription.channels}
        )
        return result

    def _forget(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            listeners = self._subscriptions.get(channel, [])
            if subscription in listeners:
                listeners.remove(subscription)

    # --- reading ------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        reason = "closed"
        try:
            while True:
                message = await ws.receive()
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._dispatch(message.data)
                    continue
                if message.type == aiohttp.WSMsgType.CLOSE and message.extra:
                    reason = str(message.extra)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    reason = str(message.data)
                break
        finally:
            self.closed = ConnectionClosed(ws.close_code, reason)
            self._fail_all(self.closed)

    def _dispatch(self, data: bytes | str) -> None:
        try:
            body = self._decoder.decode(data)
        except msgspec.DecodeError:
            return
        for item in body if isinstance(body, list) else [body]:
            if isinstance(item, dict):
                self._dispatch_one(item)

    def _dispatch_one(self, item: dict[str, Any]) -> None:
        if item.get("method") == "subscription":
            params = item.get("params") or {}
            channel = params.get("channel", "")
            for subscription in list(self._subscriptions.get(channel, [])):
                subscription._push((channel, params.get("data")))
            return
        request_id = item.get("id")
        future = self._calls.get(request_id) if isinstance(request_id, int) else None
        if future is None or future.done():
            self.stray.put_nowait(item)
            return
        stamps = self._stamps.get(request_id) if isinstance(request_id, int) else None
        if stamps is not None:
            stamps += (item.get("usIn", 0), item.get("usOut", 0), wall_us())
        if "error" in item:
            future.set_exception(RpcError.from_object(item["error"] or {}))
        else:
            future.set_result(item.get("result"))

    def _fail_all(self, error: ConnectionClosed) -> None:
        for future in self._calls.values():
            if not future.done():
                future.set_exception(error)
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.closed = error
                subscription._queue.put_nowait(None)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no answer in time"))
