"""Order books and the matching engine: one limit order book per instrument.

Knows ``paraclear.numbers`` and clearing's instrument types only; it holds no clearing
state (the caller passes what it needs, such as an account's position for reduce-only).

* ``book``: ``OrderBook``, price-time priority, every order type, cancel, amend,
  self-trade prevention, good-til-block expiry, a per-account open-order limit.
* ``errors``: the typed refusals (``MarketError`` tree).
* ``matching``: operations as compact tuples, ``apply_ops``, and the serial and parallel
  (worker-process) matchers that return the same fills for the books of a block.
* ``reference``: a list-scan book that is obviously correct, for property tests.
* ``bench``: ``paraclear bench book``.
"""

from paraclear.market.book import NEVER, Fill, OrderBook, OrderId, OrderKind, RestingOrder
from paraclear.market.errors import MarketError
from paraclear.market.matching import (
    AMEND,
    CANCEL,
    GOOD_TIL,
    PLACE,
    Block,
    BookResult,
    BookSpec,
    Columns,
    Op,
    ParallelMatcher,
    SerialMatcher,
    amend_op,
    apply_columns,
    apply_ops,
    cancel_op,
    encode_columns,
    place_op,
    to_columns,
)

__all__ = [
    "AMEND",
    "CANCEL",
    "GOOD_TIL",
    "NEVER",
    "PLACE",
    "Block",
    "BookResult",
    "BookSpec",
    "Columns",
    "Fill",
    "MarketError",
    "Op",
    "OrderBook",
    "OrderId",
    "OrderKind",
    "ParallelMatcher",
    "RestingOrder",
    "SerialMatcher",
    "amend_op",
    "apply_columns",
    "apply_ops",
    "cancel_op",
    "encode_columns",
    "place_op",
    "to_columns",
]
