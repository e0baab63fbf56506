"""What order entry needs of the node core: take a signed transaction and, once its block
is durable, say what the answer shows.

``Included`` is that: where the transaction landed, its receipt's outcome, its order's
fills with their ``trade_seq``, the order as the state holds it after the block, and, for a
cancel, the order before it. ``LocalDesk`` builds it from a node in this process; a
front-end process gets it from its core over the link (``paraclear.api.frontend``), built
by the same ``LocalDesk`` there, so the answers (``paraclear.api.trading``) are made by one
implementation either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec

from paraclear.api.bridge import ThreadBridge
from paraclear.api.reads import NodeLike, open_order
from paraclear.chain.core import Inclusion, order_key
from paraclear.clearing.events import OrderClosed, OrderFilled
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import CancelOrder, Transaction
from paraclear.client.envelope import SignedTx
from paraclear.execution.result import ErrorInfo


class Included(msgspec.Struct, frozen=True, array_like=True):
    """A transaction in a durable block, as its answer shows it.

    ``fills``: the block's fills of its order, each as (its number among the block's fills
    of the instrument, the fill, its ``trade_seq`` if the tape keeps it). ``order``: the
    order after the block (None once closed, or not an order transaction). ``before``: a
    cancel's order before the cancel was submitted. ``closed``: the receipt's
    ``OrderClosed`` event, if it has one."""

    tx_id: str
    height: int
    index: int
    time: int
    ok: bool
    error: ErrorInfo | None
    fills: tuple[tuple[int, OrderFilled, int | None], ...] = ()
    order: OpenOrder | None = None
    before: OpenOrder | None = None
    closed: OrderClosed | None = None


class Desk(Protocol):
    """Where order entry sends a signed transaction."""

    async def include(self, signed: SignedTx, *, views: bool) -> Included:
        """Submit ``signed``; its ``Included`` once its block is durable (and, with
        ``views``, once the API's views include the block). Raises the typed error that
        refused it."""
        ...


class LocalDesk:
    """A ``Desk`` over a node in this process."""

    def __init__(
        self, node: NodeLike, caught_up: Callable[[int], Awaitable[None]] | None = None
    ) -> None:
        self.node = node
        self.caught_up = caught_up
        """Waits until the API's views include a block (``Publisher.caught_up``)."""
        self._bridges: tuple[asyncio.AbstractEventLoop, ThreadBridge] | None = None

    async def include(self, signed: SignedTx, *, views: bool) -> Included:
        before = self.before(signed.tx)
        inclusion: Inclusion = await self._bridge().wrap(self.node.submit(signed))
        if views and self.caught_up is not None:
            await self.caught_up(inclusion.height)
        return self.included(inclusion, signed.tx, before)

    def before(self, tx: Transaction) -> OpenOrder | None:
        """The order a cancel closes, as it is now (None for other transactions)."""
        if isinstance(tx, CancelOrder):
            return open_order(self.node.state, tx.sender, tx.order)
        return None

    def included(self, inclusion: Inclusion, tx: Transaction, before: OpenOrder | None) -> Included:
        """What the answer to ``tx`` shows, read from the node now (its block is durable)."""
        key = order_key(tx)
        tape = self.node.tape
        height = inclusion.height
        receipt = inclusion.receipt
        return Included(
            inclusion.tx_id,
            height,
            inclusion.index,
            inclusion.time,
            receipt.ok,
            receipt.error,
            tuple(
                (n, fill, tape.seq_of(fill.instrument, height, n)) for n, fill in inclusion.fills
            ),
            open_order(self.node.state, *key) if key is not None else None,
            before,
            next((e for e in receipt.events if isinstance(e, OrderClosed)), None),
        )

    def _bridge(self) -> ThreadBridge:
        loop = asyncio.get_running_loop()
        if self._bridges is None or self._bridges[0] is not loop:
            self._bridges = (loop, ThreadBridge(loop))
        return self._bridges[1]
