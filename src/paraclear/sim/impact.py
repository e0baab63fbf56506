"""Impact prices of a perpetual's book: what the block producer puts in the oracle update.

The impact bid (ask) is the average price at which ``notional`` micro-USDC of the perpetual
would sell into the bids (buy from the asks), walking the levels best first, as Hyperliquid
samples its book for the funding premium. ``paraclear.clearing.perpetuals`` turns the two
into the mark. Off chain: consensus only sees the two integers.
"""

from __future__ import annotations

from collections.abc import Sequence

from paraclear.market import OrderBook
from paraclear.numbers import SIZE_SCALE


def impact_price(levels: Sequence[tuple[int, int]], notional: int, *, is_bid: bool) -> int:
    """Average price (micro-USDC per contract) of filling ``notional`` against ``levels``
    ((price, raw size) best first), rounded against the taker; 0 if they hold less."""
    value = size = 0
    for price, available in levels:
        level_value = price * available // SIZE_SCALE
        if value + level_value >= notional:
            take = -(-(notional - value) * SIZE_SCALE // price)  # raw size, rounded up
            value += price * take // SIZE_SCALE
            size += take
            return value * SIZE_SCALE // size if is_bid else -(-value * SIZE_SCALE // size)
        value += level_value
        size += available
    return 0


def impact_prices(book: OrderBook, notional: int) -> tuple[int, int]:
    """(impact bid, impact ask) of ``book``, or (0, 0) when either side is too thin."""
    bid = impact_price(book.depth(True), notional, is_bid=True)
    ask = impact_price(book.depth(False), notional, is_bid=False)
    return (bid, ask) if bid and ask and bid <= ask else (0, 0)
