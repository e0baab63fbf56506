"""Python clients of the node's WebSocket API: ``AsyncClient`` (asyncio) and ``Client`` (sync).

    with Client.connect(url, chain_id=chain) as client:
        client.auth(keypair)
        subscription = client.subscribe(["trades.BTC-PERP"])
        placed = client.buy(keypair, "BTC-PERP", "0.5", "60000")  # signed here, not there
        client.call("public/get_instruments", {"currency": "BTC"})
        channel, data = subscription.get(timeout=5)

Calls may run concurrently (each has its own id). A JSON-RPC error raises ``RpcError`` with
its code, message and data; a call that outlives ``timeout`` raises ``TimeoutError``; a
closed connection fails every call in flight with ``ConnectionClosed``. The clients do not
reconnect: a caller that wants to goes on with a new one.

Orders (``buy``, ``sell``, ``edit``, ``cancel``) are transactions the client builds, numbers
(``next_nonce``) and signs with the account's ``Keypair``; the node never holds a key.

This module holds the synchronous ``Client`` (an ``AsyncClient`` on a thread of its own) and
is where users import both clients from. ``AsyncClient`` and ``Stamps`` are
``paraclear.client.async_client``'s; ``Subscription`` and ``ConnectionClosed``
``paraclear.client.subscription``'s.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from paraclear.clearing.transactions import Transaction
from paraclear.client.async_client import DEFAULT_CHAIN_ID, AsyncClient, Decimal
from paraclear.client.block_check import verify_block, verify_header
from paraclear.client.envelope import Keypair
from paraclear.client.grants import DEFAULT_WINDOW_MS, Signer
from paraclear.client.proof_check import verify_account_proof
from paraclear.client.rpc_errors import RpcError
from paraclear.client.subscription import (
    DEFAULT_TIMEOUT,
    Callback,
    ConnectionClosed,
    Notification,
    Subscription,
)

T = TypeVar("T")

__all__ = [
    "DEFAULT_WINDOW_MS",
    "AsyncClient",
    "Client",
    "ConnectionClosed",
    "ProofRejected",
    "RpcError",
    "Subscription",
]


class ProofRejected(Exception):
    """A proof from the node does not lead to the root it published."""


class SyncSubscription:
    """A ``Subscription`` read from a synchronous caller."""

    def __init__(self, client: Client, subscription: Subscription) -> None:
        self._client = client
        self.subscription = subscription
        self.channels = subscription.channels

    def get(self, timeout: float | None = DEFAULT_TIMEOUT) -> Notification:
        return self._client._run(self.subscription.get(timeout))


class Client:
    """A synchronous client: an ``AsyncClient`` on a private event loop thread.

    Subscription callbacks run on that thread.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, thread: threading.Thread, inner: AsyncClient
    ) -> None:
        self._loop = loop
        self._thread = thread
        self.inner = inner

    @classmethod
    def connect(
        cls, url: str, timeout: float = DEFAULT_TIMEOUT, chain_id: str = DEFAULT_CHAIN_ID
    ) -> Client:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="paraclear-client", daemon=True)
        thread.start()
        try:
            inner = asyncio.run_coroutine_threadsafe(
                AsyncClient.connect(url, timeout, chain_id), loop
            ).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            raise
        return cls(loop, thread, inner)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        return self._run(self.inner.call(method, params, timeout))

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self._run(self.inner.notify(method, params))

    def send_raw(self, frame: bytes | str) -> None:
        self._run(self.inner.send_raw(frame))

    def next_stray(self, timeout: float | None = None) -> dict[str, Any]:
        return self._run(self.inner.next_stray(timeout))

    def wait_closed(self, timeout: float | None = None) -> ConnectionClosed:
        return self._run(self.inner.wait_closed(timeout))

    def auth(self, signer: Signer) -> dict[str, Any]:
        return self._run(self.inner.auth(signer))

    def buy(
        self, keypair: Keypair, instrument: str, amount: Decimal, price: Decimal, **order: Any
    ) -> Any:
        return self._run(self.inner.buy(keypair, instrument, amount, price, **order))

    def sell(
        self, keypair: Keypair, instrument: str, amount: Decimal, price: Decimal, **order: Any
    ) -> Any:
        return self._run(self.inner.sell(keypair, instrument, amount, price, **order))

    def edit(self, keypair: Keypair, order: int, amount: Decimal, price: Decimal) -> Any:
        return self._run(self.inner.edit(keypair, order, amount, price))

    def cancel(self, keypair: Keypair, instrument: str, order: int) -> Any:
        return self._run(self.inner.cancel(keypair, instrument, order))

    def next_nonce(self, account: str) -> int:
        return self._run(self.inner.next_nonce(account))

    def send_transaction(self, keypair: Keypair, tx: Transaction) -> Any:
        return self._run(self.inner.send_transaction(keypair, tx))

    def get_proof(self, account: str) -> dict[str, Any]:
        """The account's records with their proofs, checked here against the root of the
        block header of the same height (``paraclear.client.proof_check``), and the header
        against its block hash when it is version 2; the answer gains ``header``. Raises
        ``ProofRejected`` if any record fails."""
        answer: dict[str, Any] = self.call("public/get_proof", {"account": account})
        header = self.call("public/get_block_header", {"height": answer["height"]})
        if header.get("version", 1) >= 2 and not verify_header(header):
            raise ProofRejected(f"the node's header of {answer['height']} does not hash right")
        if not verify_account_proof(header, answer):
            raise ProofRejected(f"the node's proof of {account} at {answer['height']} fails")
        return {**answer, "header": header}

    def get_block(self, height: int, offset: int = 0, count: int = 100) -> dict[str, Any]:
        """``public/get_block``, checked here (``paraclear.client.block_check.verify_block``,
        envelopes included): its header hashes to its block hash, its transactions to its
        transaction root. Raises ``ProofRejected`` if not (a block written before block
        hash version 2 cannot be checked, and is refused too)."""
        params = {"height": height, "offset": offset, "count": count}
        answer: dict[str, Any] = self.call("public/get_block", params)
        if not verify_block(answer["header"], answer, chain_id=self.inner.chain_id):
            raise ProofRejected(f"the node's block {height} does not verify")
        return answer

    def subscribe(
        self, channels: list[str], callback: Callback | None = None, *, private: bool | None = None
    ) -> SyncSubscription:
        return SyncSubscription(
            self, self._run(self.inner.subscribe(channels, callback, private=private))
        )

    def unsubscribe(self, subscription: SyncSubscription) -> list[str]:
        return self._run(self.inner.unsubscribe(subscription.subscription))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self.inner.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
