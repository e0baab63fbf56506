"""Typed state keys.

A key is a tuple of strings. Its first two parts are its **lock**: the unit in which a
transaction declares what it reads and writes, in which the execution engine finds
conflicts, and by which state is partitioned among workers. Everything a margin check needs
of one account lives under that account's lock, so a trade names two accounts, not every
instrument each one holds. Market data (config, instruments, oracles, marks, funding) lives
under a few ``market`` locks that only admin and oracle transactions write.

The execution engine only knows ``lock_of``; the constructors below are the clearing house's
vocabulary.
"""

from __future__ import annotations

from typing import Final

Key = tuple[str, ...]
Lock = tuple[str, ...]


def lock_of(key: Key) -> Lock:
    """The lock that covers ``key``: its first two parts."""
    return key[:2]


# --- per account: lock ("acct", account) -------------------------------------------------


def account_lock(account: str) -> Lock:
    return ("acct", account)


def collateral(account: str) -> Key:
    """USDC balance of an account, micro-USDC (int, may be negative only if bankrupt)."""
    return ("acct", account, "collateral")


def nonce(account: str) -> Key:
    """Next expected transaction nonce of an account (int)."""
    return ("acct", account, "nonce")


def position(account: str, instrument: str) -> Key:
    """An account's position in one instrument (``Position``)."""
    return ("acct", account, "pos", instrument)


def portfolio(account: str) -> Key:
    """Sorted tuple of the instrument names in which the account holds a position."""
    return ("acct", account, "portfolio")


def bankruptcy(account: str) -> Key:
    """Record of an account left with negative collateral (``Bankruptcy``)."""
    return ("acct", account, "bankruptcy")


def order(account: str, order_nonce: int) -> Key:
    """An open order of the account, by the nonce of the PlaceOrder that opened it
    (``OpenOrder``)."""
    return ("acct", account, "order", str(order_nonce))


def open_orders(account: str) -> Key:
    """Sorted tuple of the nonces of the account's open orders."""
    return ("acct", account, "orders")


def reserved(account: str) -> Key:
    """Initial margin reserved for the account's open orders: Σ of their ``reserved``."""
    return ("acct", account, "reserved")


def pool_shares(account: str) -> Key:
    """Options-pool shares an LP holds (int, raw share units)."""
    return ("acct", account, "pool_shares")


# --- the options pool: an account under its own lock ---------------------------------------

POOL_ACCOUNT: Final = "options pool"
"""The pool's account name. It has a space, which no transaction's ``Name`` may hold, so no
one can sign as the pool or transfer to it: its cash moves only through pool transactions."""
POOL_LOCK: Final[Lock] = ("acct", POOL_ACCOUNT)
POOL_TOTAL_SHARES: Final[Key] = ("acct", POOL_ACCOUNT, "total_shares")
"""Σ of every LP's ``pool_shares`` (int, raw share units)."""


# --- commutative counters: each its own lock, written by deltas ----------------------------


def open_interest(instrument: str) -> Key:
    """Σ long positions in an instrument, raw size units."""
    return ("oi", instrument)


def order_count(instrument: str) -> Key:
    """Number of open orders in an instrument (int); expiry checks it reaches zero."""
    return ("orders", instrument)


INSURANCE_FUND: Final[Key] = ("fund", "insurance")
"""Insurance fund balance, micro-USDC."""
FEE_POOL: Final[Key] = ("fund", "fees")
"""Collected fees, micro-USDC."""
NET_DEPOSITS: Final[Key] = ("fund", "deposits")
"""Deposits minus withdrawals since genesis, micro-USDC."""
POOL_VOLUME: Final[Key] = ("poolstat", "volume")
"""Premium traded against the options pool since genesis, micro-USDC (statistics only)."""
POOL_SPREAD: Final[Key] = ("poolstat", "spread")
"""Spread the options pool has earned since genesis, micro-USDC (statistics only)."""

# --- market data: written only by admin and oracle transactions -----------------------------

CONFIG: Final[Key] = ("market", "config")
"""The house configuration (``HouseConfig``)."""
INSTRUMENTS_LOCK: Final[Lock] = ("market", "instrument")
SERIES_LOCK: Final[Lock] = ("market", "series")
ORACLE_LOCK: Final[Lock] = ("market", "oracle")
MARK_LOCK: Final[Lock] = ("market", "mark")
MARKET_LOCKS: Final[tuple[Lock, ...]] = (
    CONFIG,
    INSTRUMENTS_LOCK,
    SERIES_LOCK,
    ORACLE_LOCK,
    MARK_LOCK,
)


POOL_CONFIG: Final[Key] = ("market", "pool")
"""The options pool's parameters (``PoolConfig``); absent until the admin opens the pool."""
SURFACE_LOCK: Final[Lock] = ("market", "surface")
QUOTE_LOCK: Final[Lock] = ("market", "quote")


def surface(underlying: str) -> Key:
    """The oracle's SVI surface of an underlying (tuple of ``SviSlice``)."""
    return ("market", "surface", underlying)


def quote(instrument_name: str) -> Key:
    """The pool's theoretical value and Greeks of an option series (``PoolQuote``)."""
    return ("market", "quote", instrument_name)


def instrument(name: str) -> Key:
    """The specification of a listed instrument (``Option`` or ``Perpetual``)."""
    return ("market", "instrument", name)


def series(underlying: str) -> Key:
    """Sorted tuple of the names of listed instruments on an underlying."""
    return ("market", "series", underlying)


def oracle(underlying: str) -> Key:
    """Latest oracle data of an underlying (``OracleData``)."""
    return ("market", "oracle", underlying)


def mark(instrument_name: str) -> Key:
    """Mark, index and funding index of a listed instrument (``MarkData``)."""
    return ("market", "mark", instrument_name)


def index_history(underlying: str) -> Key:
    """Per-minute index buckets of the last 30 minutes (``IndexHistory``), for settlement."""
    return ("market", "oracle", underlying, "history")


def settlement_prices(underlying: str) -> Key:
    """Settlement prices of an underlying's past expiries (``SettlementPrices``)."""
    return ("market", "oracle", underlying, "settlements")


def premium(instrument_name: str) -> Key:
    """A perpetual's premium integrated since its last funding (``PremiumAccumulator``)."""
    return ("market", "mark", instrument_name, "premium")
