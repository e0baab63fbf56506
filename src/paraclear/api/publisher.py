"""Channel messages from committed blocks: ``Publisher``.

``Publisher`` turns each committed block into channel messages. On the node core, the node
calls it on the producer thread; it only hands the block report to the event loop
(``call_soon_threadsafe``) and returns, so publishing never holds up the producer. On the
loop, it publishes only to channels someone listens to:

* ``book.{instrument}``: the book's best levels after a block that changed it
  (``views.book_view``), ``change_id`` its height and ``prev_change_id`` that of the
  block that changed the book before;
* ``ticker.{instrument}``: for every instrument whose book or trades changed (Deribit's
  ticker: ``deribit_views.ticker``);
* ``trades.{instrument}``: ``{"trades": [...]}``, the block's fills in order, each with
  its chain-long ``trade_seq``;
* Deribit's streams (``deribit_streams``: books as snapshot and changes, trades by
  currency, quotes, incremental tickers, index, option marks, perpetual interest);
* ``user.orders``: ``{"orders": [...]}``, the account's orders the block touched, as the
  block left them (``order_state`` open, filled or cancelled);
* ``user.portfolio``: the account summary and positions of every account the block touched;
* ``blocks``: every block's statistics (``block_stats``: size, stage times, throughput,
  DAG shape, hot keys, speedup), also kept for ``public/get_block_stats``;
* ``totals``: every block's totals of the house (``totals``: net deposits, fees, insurance
  fund, collateral, open interest) with its root and block hash, recorded on the producer
  thread before the next block, also kept for ``public/get_totals_history``.

Views read the node's state when the loop gets to them, which may already be a later block
than the report's; every message says which block it comes from.

An API front-end publishes the same way from its follower copy (``paraclear.api.
follower``): ``publish_market`` for each block it follows, and the ``blocks`` and
``totals`` messages the core built (``on_published`` hands them to the core's link).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from paraclear.api import account_views, deribit_views, views
from paraclear.api.account_risk import AccountRisk
from paraclear.api.block_stats import BlockStats
from paraclear.api.deribit_streams import DeribitStreams
from paraclear.api.hub import Hub
from paraclear.api.reads import PositionsParams, ReadMethods, ReadNode, SummaryParams, open_order
from paraclear.api.rpc import Context
from paraclear.api.totals import HouseTotals
from paraclear.chain.core import BlockReport, Node
from paraclear.chain.tape import oracle_updates
from paraclear.clearing.events import OrderAmended, OrderClosed, OrderFilled, OrderPlaced
from paraclear.clearing.records import MarkData
from paraclear.clearing.transactions import OracleUpdate
from paraclear.execution import Receipt
from paraclear.state import keys as k

log = logging.getLogger(__name__)

BOOK_DEPTH: Final = 10
"""Levels per side in ``book.*`` messages."""
ORDER_EVENTS: Final = (OrderPlaced, OrderAmended, OrderClosed)
"""Events that change one order (a fill changes two)."""

Levels = Sequence[tuple[int, int]]
Published = Callable[[BlockReport, Any, Any], None]
"""Told of each block once published: its report, its ``blocks`` and ``totals`` messages."""


class Publisher:
    """Channel messages from committed blocks; see the module docstring."""

    def __init__(
        self,
        node: ReadNode,
        hub: Hub,
        risk: AccountRisk | None = None,
        stats: BlockStats | None = None,
        totals: HouseTotals | None = None,
    ) -> None:
        self.node = node
        self.hub = hub
        self.risk = risk
        self.stats = stats
        self.totals = totals
        self.last_seconds = 0.0
        self.last_txs = 0
        self.height = node.height
        """The latest block published (on the loop): the node's views include it."""
        self.on_published: list[Published] = []
        """Told of each block once its messages are out (the core's link to its front-ends)."""
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._detach: Callable[[], None] | None = None
        self.streams = DeribitStreams(node, hub, self._publish)

    def attach(self, node: Node) -> None:
        """Publish every block ``node`` commits from now on."""
        self._detach = node.subscribe(self.on_block)

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None

    def reload(self) -> None:
        """The node's views were replaced (a front-end's follower loaded a snapshot): book
        streams start again from its books."""
        self.height = self.node.height
        self.streams = DeribitStreams(self.node, self.hub, self._publish)

    def on_block(self, report: BlockReport) -> None:
        """Called by the producer thread: hand over to the event loop and return."""
        self.last_seconds = report.seconds.get("total", 0.0)
        self.last_txs = len(report.block.txs)
        totals = None
        if self.totals is not None:
            block = report.block
            totals = self.totals.on_block(block.height, block.time, report.result.write_set)
        loop = self.hub.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to tell
                loop.call_soon_threadsafe(self.publish_block, report, totals)

    async def caught_up(self, height: int) -> None:
        """Wait until block ``height`` is published: the node resolves a submission's
        future before it updates its books and recent trades, and calls its listeners
        after, so from then on the node's views include the block."""
        if self.height >= height:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((height, waiter))
        await waiter

    def publish_block(self, report: BlockReport, totals: dict[str, Any] | None = None) -> None:
        """On the loop: publish what the block changed to the channels that listen. The
        core's front-ends are told first (they answer orders once their followers have the
        block); whoever waits here for the block wakes once this returns."""
        books = {name: (book.bids, book.asks) for name, book in report.books.items()}
        if self.risk is not None:
            self.risk.on_block(report.result.write_set)
        stats = None
        if self.stats is not None:
            try:
                stats = self.stats.record(report)
            except Exception:  # a view that cannot be built must not stop the rest
                log.exception("cannot build a message for blocks")
        for published in self.on_published:
            published(report, stats, totals)
        block = report.block
        receipts = report.result.receipts
        self.publish_market(block.height, block.time, receipts, oracle_updates(block.txs), books)
        if stats is not None:
            self._publish("blocks", lambda: stats, always=True)
        if totals is not None:
            self._publish("totals", lambda: totals)

    def publish_market(
        self,
        height: int,
        time: int,
        receipts: Sequence[Receipt],
        updates: Mapping[int, OracleUpdate],
        books: Mapping[str, tuple[Levels, Levels]],
    ) -> None:
        """On the loop: publish block ``height``'s market data and account changes (every
        channel but ``blocks`` and ``totals``) from its receipts, its oracle updates by
        index and the books it changed, and wake whoever waits for the block."""
        self.height = max(self.height, height)
        ready = [waiter for at, waiter in self._waiters if at <= self.height]
        self._waiters = [(at, waiter) for at, waiter in self._waiters if at > self.height]
        for waiter in ready:
            if not waiter.done():
                waiter.set_result(None)
        fills: dict[str, None] = {}
        touched: dict[str, dict[int, None]] = {}
        for receipt in receipts:
            for event in receipt.events:
                if isinstance(event, OrderFilled):
                    fills[event.instrument] = None
                    touched.setdefault(event.taker, {})[event.taker_order] = None
                    touched.setdefault(event.maker, {})[event.maker_order] = None
                elif isinstance(event, ORDER_EVENTS):
                    touched.setdefault(event.account, {})[event.order] = None
        for index, update in sorted(updates.items()):
            if receipts[index].ok:
                self.streams.oracle(update.underlying, time)
        for name, (bids, asks) in books.items():
            self._publish_book(name, bids, asks, height, time)
        for name in fills:
            self._publish_trades(name, height)
            self.streams.trades(name, height, time)
        for name in sorted(books.keys() | fills.keys()):
            self._publish_ticker(name, time)
            self.streams.instrument(name, time)
        for account, orders in touched.items():
            self._publish_account(account, list(orders), height)

    def _publish(
        self,
        channel: str,
        build: Callable[[], Any],
        account: str | None = None,
        *,
        always: bool = False,
    ) -> Any:
        """Build and publish a message if someone listens (``always``: build it anyway);
        returns it (None if not built)."""
        if not always and not self.hub.listening(channel, account):
            return None
        try:
            data = build()
        except Exception:  # a view that cannot be built (no mark yet) must not stop the rest
            log.exception("cannot build a message for %s", channel)
            return None
        if data is not None:  # nothing to say (a candle of a period without trades)
            self.hub.publish_now(channel, data, account)
        return data

    def _mark(self, name: str) -> MarkData | None:
        mark = self.node.state.get(k.mark(name))
        return mark if isinstance(mark, MarkData) else None

    def _publish_book(self, name: str, bids: Levels, asks: Levels, height: int, time: int) -> None:
        """A book the block touched, if it changed it: its ``change_id`` is the block's
        height, its ``prev_change_id`` that of the block that changed it before."""
        previous = self.streams.book(name, bids, asks, height, time)
        if previous is None:
            return
        self._publish(
            f"book.{name}",
            lambda: {
                **views.book_view(
                    name,
                    bids,
                    asks,
                    depth=BOOK_DEPTH,
                    height=height,
                    time=time,
                    mark=self._mark(name),
                ),
                "prev_change_id": previous,
            },
        )

    def _publish_trades(self, name: str, height: int) -> None:
        def build() -> dict[str, Any]:
            trades = deribit_views.trade_views(self.node.tape.block_trades(name, height))
            return {"trades": trades, "block": height}

        self._publish(f"trades.{name}", build)

    def _publish_ticker(self, name: str, time: int) -> None:
        self._publish(f"ticker.{name}", lambda: deribit_views.ticker(self.node, name))

    def _publish_account(self, account: str, orders: list[int], height: int) -> None:
        def order_views() -> dict[str, Any]:
            shown = []
            for nonce in orders:
                order = open_order(self.node.state, account, nonce)
                if order is not None:
                    shown.append(account_views.order_view(account, nonce, order))
                else:
                    order_id = views.order_id(account, nonce)
                    shown.append({"order_id": order_id, "id": order_id, "order_state": "closed"})
            return {"orders": shown, "block": height}

        def portfolio() -> dict[str, Any]:
            reads = ReadMethods(self.node)
            context = Context(account=account)
            summary = reads.get_account_summary(context, SummaryParams())
            positions = reads.get_positions(context, PositionsParams())
            return {"summary": summary, "positions": positions, "block": height}

        self._publish("user.orders", order_views, account)
        self._publish("user.portfolio", portfolio, account)
