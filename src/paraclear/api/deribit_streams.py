"""Deribit's public streams of each committed block (``paraclear.api.channels`` names
them): incremental and grouped books, trades by instrument and by currency, candles,
quotes, incremental tickers, perpetuals' interest, the index and option marks.

``DeribitStreams`` runs on the event loop, called by ``api.Publisher`` for each block; it
builds a message only for a stream someone listens to, except the books' levels and
change ids, which it always records so that a later subscriber's snapshot and the changes
after it chain (``book_stream``). The hub sends each new subscriber of a book or an
incremental ticker its snapshot first (``initial``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from paraclear.api import deribit_views, views
from paraclear.api.book_stream import BookStream, Level
from paraclear.api.channels import BOOK_DEPTHS
from paraclear.api.deribit_trades import period_candle
from paraclear.api.deribit_views import MarketNode
from paraclear.api.hub import Hub
from paraclear.api.option_views import mark_iv_percent
from paraclear.chain.tape import MINUTE, RESOLUTIONS
from paraclear.clearing.instruments import Option, Perpetual
from paraclear.state import keys as k

Publish = Callable[[str, Callable[[], Any]], None]
"""Publish a stream's message, built by the callable only if someone listens."""


class DeribitStreams:
    """See the module docstring."""

    def __init__(self, node: MarketNode, hub: Hub, publish: Publish) -> None:
        self.node = node
        self.hub = hub
        self.publish = publish
        self.books = BookStream()
        for name, (bids, asks) in list(node.depth.items()):
            self.books.seed(name, bids, asks, node.height)
        hub.initial = self.initial

    def initial(self, stream: str) -> Any:
        """The first message of a book or incremental ticker stream for a new subscriber."""
        kind, _, rest = stream.partition(".")
        time = self.node.block_time
        if kind == "book" and rest.endswith(".raw"):
            return self.books.snapshot(rest.removesuffix(".raw"), time)
        if kind == "book" and ".none." in rest:
            name, _, depth = rest.partition(".none.")
            return self.books.grouped(name, int(depth), time)
        if kind == "incremental_ticker":
            return {**deribit_views.ticker(self.node, rest), "type": "snapshot"}
        return None

    def book(
        self, name: str, bids: Sequence[Level], asks: Sequence[Level], height: int, time: int
    ) -> int | None:
        """Record a book after block ``height`` and publish what changed; returns the
        previous ``change_id`` if the block changed the book, else None."""
        old = self.books.books.get(name)
        previous = self.books.update(name, bids, asks, height)
        if previous is None:
            return None
        old_bids, old_asks = (old[0], old[1]) if old is not None else ([], [])
        self.publish(
            f"book.{name}.raw",
            lambda: self.books.change(name, old_bids, old_asks, previous, time),
        )
        for depth in BOOK_DEPTHS:
            self.publish(f"book.{name}.none.{depth}", self._grouped(name, int(depth), time))
        return previous

    def _grouped(self, name: str, depth: int, time: int) -> Callable[[], Any]:
        return lambda: self.books.grouped(name, depth, time)

    def trades(self, name: str, height: int, time: int) -> None:
        """The block's trades of an instrument, as Deribit's lists, and the candles of the
        periods they fell in."""
        underlying = name.partition("-")[0]
        kind = "option" if isinstance(self._instrument(name), Option) else "future"
        streams = (
            f"trades.{name}.raw",
            f"trades.{kind}.{underlying}.raw",
            f"trades.any.{underlying}.raw",
        )
        if any(self.hub.listening(stream) for stream in streams):
            trades = deribit_views.trade_views(self.node.tape.block_trades(name, height))
            for stream in streams:
                self.publish(stream, lambda: trades)
        for resolution, minutes in RESOLUTIONS.items():
            self.publish(f"chart.trades.{name}.{resolution}", self._candle(name, minutes, time))

    def _candle(self, name: str, minutes: int, time: int) -> Callable[[], Any]:
        def build() -> Any:
            start = time - minutes * MINUTE
            return period_candle(self.node.tape.candles_between(name, start, time), minutes, time)

        return build

    def instrument(self, name: str, time: int) -> None:
        """An instrument whose book or trades the block changed: quote, incremental ticker."""

        def quote() -> dict[str, Any]:
            bids, asks = self.node.depth.get(name, ([], []))
            best = {
                key: value
                for key, value in views.book_view(
                    name, bids, asks, depth=1, height=self.node.height, time=time
                ).items()
                if key.startswith("best_")
            }
            return {"timestamp": views.ms(time), "instrument_name": name, **best}

        self.publish(f"quote.{name}", quote)
        self.publish(
            f"incremental_ticker.{name}",
            lambda: {**deribit_views.ticker(self.node, name), "type": "change"},
        )

    def oracle(self, underlying: str, time: int) -> None:
        """An oracle update: the index, the options' marks and the perpetual's interest."""
        index = f"{underlying.lower()}_usdc"
        oracle = views.oracle_of(self.node.state, underlying)
        if oracle is None:
            return
        self.publish(
            f"deribit_price_index.{index}",
            lambda: {
                "index_name": index,
                "price": views.price(oracle.index),
                "timestamp": views.ms(time),
            },
        )
        self.publish(f"markprice.options.{index}", lambda: self._option_marks(underlying, time))
        perpetual = f"{underlying}-PERP"
        if isinstance(self._instrument(perpetual), Perpetual):
            self.publish(
                f"perpetual.{perpetual}",
                lambda: {
                    "index_price": views.price(oracle.index),
                    "interest": deribit_views.funding_fields(self.node.state, perpetual)[
                        "current_funding"
                    ],
                    "timestamp": views.ms(time),
                },
            )

    def _option_marks(self, underlying: str, time: int) -> list[dict[str, Any]]:
        names = self.node.state.get(k.series(underlying)) or ()
        oracle = views.oracle_of(self.node.state, underlying)
        rows = []
        for name in names if isinstance(names, tuple) else ():
            mark = deribit_views.mark_of(self.node.state, name)
            if mark is None or not isinstance(mark.instrument, Option):
                continue
            rows.append(
                {
                    "instrument_name": name,
                    "mark_price": views.price(mark.price),
                    "iv": mark_iv_percent(mark.instrument, oracle),
                    "timestamp": views.ms(time),
                }
            )
        return rows

    def _instrument(self, name: str) -> object:
        return self.node.state.get(k.instrument(name))
