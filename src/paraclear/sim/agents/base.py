"""What every agent shares: an account, a connection, its own nonces and its requests in flight.

An agent acts as an outside trader does: it reads through the API and sends transactions it
signs itself. ``act`` reads and decides; the orders it sends are *fired*, not awaited: queued,
counted in the shared ``Outbox``, and sent by ``launch`` once every agent has read what it
needs, so that every agent's orders of a tick are in the mempool before the driver makes the
block. ``collect`` then awaits the answers, which arrive once the block is durable, and hands
each to ``on_answer``.

Nonces are counted here, not by the client: every fired transaction takes the next one at
the moment it is fired, so an agent's transactions are numbered in the order it decided
them, whatever order the event loop runs the tasks in.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    Deposit,
    OrderType,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.client.async_client import AsyncClient
from paraclear.client.envelope import Keypair
from paraclear.client.rpc_errors import RpcError
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE

UNDERLYING: Final = "BTC"
INDEX_NAME: Final = "btc_usdc"


@dataclass
class Outbox:
    """How many requests the agents have fired: the driver waits until the node has checked
    as many submissions before it makes a block."""

    sent: int = 0
    lost: int = 0
    """Of those, requests the API refused before they reached the node (an agent's bug)."""


@dataclass(frozen=True)
class Market:
    """The listed instruments, as every agent learns them from ``public/get_instruments``."""

    perpetual: Perpetual
    options: tuple[Option, ...]
    expiries: tuple[int, ...]

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        return (self.perpetual, *self.options)


@dataclass
class Answer:
    """The outcome of one fired request: its result, or the error it raised."""

    kind: str
    tx: Transaction
    result: Any = None
    error: RpcError | None = None

    @property
    def included(self) -> bool:
        """In a block (succeeded, or failed there): not refused at admission."""
        return self.error is None or bool(self.error.data and "block" in self.error.data)


@dataclass
class AgentStats:
    orders: int = 0
    """Order operations fired (place, amend, cancel)."""
    fired: int = 0
    refused: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def raw_price(value: float) -> int:
    return round(value * PRICE_SCALE)


def raw_size(value: float) -> int:
    return round(value * SIZE_SCALE)


def floor_to(raw: int, step: int) -> int:
    return raw // step * step


def ceil_to(raw: int, step: int) -> int:
    return -(-raw // step) * step


class Agent:
    """An account acting through one authenticated WebSocket connection."""

    role: ClassVar[str] = "agent"

    def __init__(self, name: str, keypair: Keypair, rng: random.Random, deposit: int) -> None:
        self.name = name
        self.keypair = keypair
        self.account = keypair.account
        self.rng = rng
        self.deposit = deposit
        """Micro-USDC paid in at setup."""
        self.stats = AgentStats()
        self._client: AsyncClient | None = None
        self._outbox = Outbox()
        self._nonce = 0
        self._resync = False
        self._queued: list[Answer] = []
        self._pending: list[tuple[Answer, asyncio.Future[Any]]] = []
        self.market: Market | None = None

    @property
    def client(self) -> AsyncClient:
        assert self._client is not None, "connect first"
        return self._client

    async def connect(self, url: str, chain_id: str, outbox: Outbox, market: Market) -> None:
        self._client = await AsyncClient.connect(url, timeout=120, chain_id=chain_id)
        self._outbox = outbox
        self.market = market

    def fund(self) -> None:
        """Fire the setup deposit (nonce 0)."""
        self.fire("deposit", Deposit(sender=self.account, nonce=self._next(), amount=self.deposit))

    async def authenticate(self) -> None:
        await self.client.auth(self.keypair)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    # --- acting ----------------------------------------------------------------------------

    async def act(self, tick: int) -> None:
        """Read what the agent needs and fire its orders (see the module docstring)."""

    def on_answer(self, answer: Answer) -> None:
        """Learn from the answer of a fired request (fills, open orders, failures)."""

    async def begin_tick(self, *, force: bool = False) -> None:
        """Read the next nonce from the node: at setup (``force``), and after a refusal
        left a gap last tick."""
        if self._resync or force:
            self._nonce = await self.client.call("public/get_next_nonce", {"account": self.account})
            self._resync = False

    def _next(self) -> int:
        nonce = self._nonce
        self._nonce += 1
        return nonce

    def fire(self, kind: str, tx: Transaction) -> None:
        """Queue ``tx`` to be signed and sent by ``launch``, without waiting for its block."""
        self._queued.append(Answer(kind, tx))
        self._outbox.sent += 1
        self.stats.fired += 1
        if isinstance(tx, PlaceOrder | AmendOrder | CancelOrder):
            self.stats.orders += 1

    def launch(self) -> None:
        """Send everything queued since the last launch. The driver calls it once every
        agent has finished reading: a read sent in the same frame as an order would wait
        for the order's block (a JSON-RPC batch is answered as a whole)."""
        client = self.client
        queued, self._queued = self._queued, []
        for answer in queued:
            tx = answer.tx
            coroutine: Coroutine[Any, Any, Any]
            if isinstance(tx, PlaceOrder):
                coroutine = client.submit(f"private/{tx.side.value}", self.keypair, tx)
            elif isinstance(tx, AmendOrder):
                coroutine = client.submit("private/edit", self.keypair, tx)
            elif isinstance(tx, CancelOrder):
                coroutine = client.submit("private/cancel", self.keypair, tx)
            else:
                coroutine = client.send_transaction(self.keypair, tx)
            self._pending.append((answer, asyncio.ensure_future(coroutine)))

    def place(
        self,
        instrument: Instrument,
        side: Side,
        size: int,
        price: int,
        kind: OrderType = OrderType.LIMIT,
        tag: str = "order",
    ) -> int:
        """Fire an order (raw size and price); returns its nonce, the order's id."""
        nonce = self._next()
        tx = PlaceOrder(
            sender=self.account,
            nonce=nonce,
            instrument=instrument.name,
            side=side,
            kind=kind,
            price=price,
            size=size,
        )
        self.fire(tag, tx)
        return nonce

    def amend(self, order: int, size: int, price: int) -> None:
        tx = AmendOrder(
            sender=self.account, nonce=self._next(), order=order, size=size, price=price
        )
        self.fire("amend", tx)

    def cancel(self, instrument: str, order: int) -> None:
        tx = CancelOrder(
            sender=self.account, nonce=self._next(), instrument=instrument, order=order
        )
        self.fire("cancel", tx)

    def send(self, kind: str, tx_type: type[Transaction], **fields: Any) -> None:
        """Fire any other transaction of the agent's (liquidations, oracle updates)."""
        tx: Transaction = tx_type(sender=self.account, nonce=self._next(), **fields)
        self.fire(kind, tx)

    def answered(self) -> int:
        """How many of the requests in flight have their answer already (before their
        block, only refusals have)."""
        return sum(1 for _, future in self._pending if future.done())

    async def collect(self) -> list[Answer]:
        """Await the answers of everything fired, in the order fired."""
        pending, self._pending = self._pending, []
        results = await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
        answers = []
        for (answer, _), result in zip(pending, results, strict=True):
            if isinstance(result, RpcError):
                answer.error = result
                reason = str((result.data or {}).get("error", result.code))
                self.stats.errors[reason] += 1
                if answer.included:
                    self.stats.failed += 1
                else:
                    self.stats.refused += 1
                    self._resync = True
            elif isinstance(result, BaseException):
                raise result
            else:
                answer.result = result
                if isinstance(result, dict) and result.get("ok") is False:
                    error = result.get("error") or {}
                    self.stats.errors[str(error.get("error", "failed"))] += 1
                    self.stats.failed += 1
            self.on_answer(answer)
            answers.append(answer)
        return answers

    # --- reading ---------------------------------------------------------------------------

    async def read_index(self) -> float:
        result = await self.client.call("public/get_index_price", {"index_name": INDEX_NAME})
        return float(result["index_price"])

    async def ticker(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.call("public/ticker", {"instrument_name": name})
        return result

    async def positions(self) -> dict[str, float]:
        """The account's positions: size in contracts by instrument."""
        rows = await self.client.call("private/get_positions")
        return {row["instrument_name"]: float(row["size"]) for row in rows}

    async def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.call("private/get_account_summary")
        return result
