"""Events a successful clearing transaction emits into its receipt.

The events of the transactions the compiled kernels run also take their fields by position
(in the order declared here): the kernels' glue builds thousands of them per block, and a
keyword construction costs about twice as much.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class CloseReason(StrEnum):
    """Why an order left open less than it had (``OrderClosed``, ``CloseOrder``): the one
    vocabulary of the handlers, the kernels, the books and the block builder."""

    CANCELLED = "cancelled"
    """Its owner cancelled it (CancelOrder)."""
    UNFILLED = "unfilled"
    """The book dropped what did not fill (immediate-or-cancel, market, fill-or-kill)."""
    REDUCED = "reduced"
    """The book holds less of it than the state (a reduce-only order cut to the position)."""
    REFUSED = "refused"
    """The book refused an order or an amend the state accepted."""
    EXPIRED = "expired"
    """Its good-til block passed."""
    SELF_TRADE = "self_trade"
    """It rested against an order of the same account that crossed it (the book cancels the
    resting one)."""
    DELISTED = "delisted"
    """Its instrument expired and was settled (SettleExpiry)."""


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """Base of every clearing event."""


class Deposited(Event, frozen=True, tag="deposited"):
    account: str
    amount: int


class Withdrawn(Event, frozen=True, tag="withdrawn"):
    account: str
    amount: int


class Transferred(Event, frozen=True, tag="transferred"):
    sender: str
    to: str
    amount: int


class InstrumentListed(Event, frozen=True, kw_only=True, tag="instrument_listed"):
    instrument: str


class OraclePublished(Event, frozen=True, kw_only=True, tag="oracle_published"):
    underlying: str
    index: int
    marks: int


class TradeSettled(Event, frozen=True, tag="trade_settled"):
    instrument: str
    maker: str
    taker: str
    taker_side: str
    size: int
    price: int
    maker_fee: int
    taker_fee: int


class Liquidated(Event, frozen=True, kw_only=True, tag="liquidated"):
    account: str
    liquidator: str
    instrument: str
    size: int
    price: int
    penalty: int


class InsuranceCovered(Event, frozen=True, kw_only=True, tag="insurance_covered"):
    account: str
    amount: int


class BankruptcyRecorded(Event, frozen=True, kw_only=True, tag="bankruptcy_recorded"):
    account: str
    deficit: int


class ExpirySettled(Event, frozen=True, kw_only=True, tag="expiry_settled"):
    instrument: str
    settlement_price: int
    positions: int
    residual: int


class FundingPaid(Event, frozen=True, kw_only=True, tag="funding_paid"):
    instrument: str
    rate_ppm: int
    index_delta: int
    funding_index: int


class PoolConfigured(Event, frozen=True, kw_only=True, tag="pool_configured"):
    pass


class PoolQuoted(Event, frozen=True, kw_only=True, tag="pool_quoted"):
    """The oracle update recomputed the pool's quotes of ``quotes`` series."""

    underlying: str
    quotes: int


class PoolDeposited(Event, frozen=True, kw_only=True, tag="pool_deposited"):
    """``nav`` is the pool's NAV (ceiling) the shares were priced at."""

    account: str
    amount: int
    shares: int
    nav: int
    total_shares: int


class PoolWithdrawn(Event, frozen=True, kw_only=True, tag="pool_withdrawn"):
    """``nav`` is the pool's NAV (floor) the shares were priced at."""

    account: str
    shares: int
    amount: int
    nav: int
    total_shares: int


class PoolTraded(Event, frozen=True, kw_only=True, tag="pool_traded"):
    """A trade against the pool; ``delta``, ``gamma``, ``vega`` are the pool's net Greeks on
    the underlying after it, ``nav`` its NAV (floor)."""

    account: str
    instrument: str
    side: str
    size: int
    price: int
    fee: int
    delta: int
    gamma: int
    vega: int
    nav: int


class PoolHedged(Event, frozen=True, kw_only=True, tag="pool_hedged"):
    """The pool traded ``size`` (its side, signed) of a perpetual with ``counterparty``."""

    counterparty: str
    instrument: str
    size: int
    price: int
    delta_before: int
    delta_after: int


class Deleveraged(Event, frozen=True, kw_only=True, tag="deleveraged"):
    """One ADL fill: ``counterparty`` closed ``size`` against the bankrupt ``account`` at the
    mark, and paid ``loss`` of its deficit on top (the bankruptcy price)."""

    account: str
    counterparty: str
    instrument: str
    size: int
    price: int
    loss: int


class OrderPlaced(Event, frozen=True, tag="order_placed"):
    """An order opened; ``reserved`` is the initial margin it holds."""

    account: str
    order: int
    instrument: str
    side: str
    kind: str
    price: int
    size: int
    reserved: int


class OrderAmended(Event, frozen=True, tag="order_amended"):
    account: str
    order: int
    price: int
    size: int
    reserved: int


class OrderClosed(Event, frozen=True, tag="order_closed"):
    """An order left open with ``remaining`` (0: closed), for ``reason``."""

    account: str
    order: int
    instrument: str
    reason: CloseReason
    remaining: int
    released: int


class OrderFilled(Event, frozen=True, tag="order_filled"):
    """A fill of two orders, settled: the taker's order met the maker's resting order."""

    instrument: str
    taker: str
    taker_order: int
    maker: str
    maker_order: int
    taker_side: str
    size: int
    price: int
    maker_fee: int
    taker_fee: int
