"""Channel names: the ones a client subscribes to, and the stream each one reads.

A publisher publishes each stream once, under its *stream* name; every name a client
subscribed to that reads the stream gets the message under the name it gave. So
``book.BTC-PERP.100ms``, ``book.BTC-PERP.raw`` and ``book.BTC_USDC-PERPETUAL.agg2`` all read
the stream ``book.BTC-PERP.raw``.

This node's own channels (each is its own stream):

* ``book.{instrument}``: the book's best levels after each block that changed it;
* ``trades.{instrument}``: ``{"trades": [...], "block": height}``;
* ``ticker.{instrument}``; ``blocks``; ``totals`` (the house's totals per block,
  ``paraclear.api.totals``); private ``user.orders`` and ``user.portfolio``.

Deribit's public channels, with its interval suffixes (``100ms``, ``raw``, ``agg2``: one
stream here, published once per block, the venue's only interval):

* ``book.{instrument}.{interval}`` → ``book.{instrument}.raw``: a ``snapshot`` on
  subscription, then ``change`` messages whose ``prev_change_id`` is the previous one's
  ``change_id`` (``paraclear.api.book_stream``);
* ``book.{instrument}.none.{1|10|20}.{interval}`` → ``book.{instrument}.none.{depth}``;
* ``ticker.{instrument}.{interval}`` → ``ticker.{instrument}``;
* ``trades.{instrument}.{interval}`` → ``trades.{instrument}.raw`` (a list of trades);
* ``trades.{kind}.{currency}.{interval}`` → ``trades.{kind}.{currency}.raw`` (``future``,
  ``option`` or ``any``);
* ``perpetual.{instrument}.{interval}`` → ``perpetual.{instrument}``;
* ``incremental_ticker.{instrument}``, ``quote.{instrument}``: their own streams;
* ``deribit_price_index.{index}`` and ``markprice.options.{index}`` → the ``_usdc`` index;
* ``chart.trades.{instrument}.{resolution}``: the candle of the period each block traded
  in (resolutions ``1`` to ``720`` minutes and ``1D``);
* ``platform_state``: accepted; the platform is never locked, so nothing is published.

Instrument names may be Deribit's (``paraclear.client.names``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from paraclear.chain.tape import RESOLUTIONS
from paraclear.client.names import canonical

INTERVALS: Final = ("100ms", "raw", "agg2")
BOOK_DEPTHS: Final = ("1", "10", "20")
TRADE_KINDS: Final = ("future", "option", "any")
PLAIN_KINDS: Final = ("book", "trades", "ticker", "incremental_ticker", "quote")
"""Per-instrument channels without an interval."""
GLOBAL: Final = ("blocks", "totals", "platform_state")

IsInstrument = Callable[[str], bool]


def stream_of(name: str, is_instrument: IsInstrument) -> str | None:
    """The stream a public channel ``name`` reads, or None if there is no such channel."""
    if name in GLOBAL:
        return name
    parts = name.split(".")
    kind = parts[0]
    if kind in ("deribit_price_index", "markprice"):
        return _index_stream(parts)
    if kind == "chart" and len(parts) == 4 and parts[1] == "trades":
        instrument = canonical(parts[2])
        if parts[3] in RESOLUTIONS and is_instrument(instrument):
            return f"chart.trades.{instrument}.{parts[3]}"
        return None
    if kind == "trades" and len(parts) == 4 and parts[1] in TRADE_KINDS:
        currency, interval = parts[2], parts[3]
        return f"trades.{parts[1]}.{currency.upper()}.raw" if interval in INTERVALS else None
    if len(parts) < 2:
        return None
    instrument = canonical(parts[1])
    if not is_instrument(instrument):
        return None
    rest = parts[2:]
    if not rest:
        return f"{kind}.{instrument}" if kind in PLAIN_KINDS else None
    if rest[-1] not in INTERVALS:
        return None
    if kind == "book" and len(rest) == 3 and rest[0] == "none" and rest[1] in BOOK_DEPTHS:
        return f"book.{instrument}.none.{rest[1]}"
    if len(rest) != 1:
        return None
    if kind in ("book", "trades"):
        return f"{kind}.{instrument}.raw"
    if kind in ("ticker", "perpetual"):
        return f"{kind}.{instrument}"
    return None


def _index_stream(parts: list[str]) -> str | None:
    if parts[0] == "markprice":
        if len(parts) != 3 or parts[1] != "options":
            return None
        parts = ["markprice.options", parts[2]]
    if len(parts) != 2:
        return None
    underlying, _, quote = parts[1].partition("_")
    if quote not in ("usd", "usdc") or not underlying.isalnum():
        return None
    return f"{parts[0]}.{underlying.lower()}_usdc"
