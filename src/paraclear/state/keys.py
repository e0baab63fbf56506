"""Typed state keys.

A key is a tuple of strings. Its first two parts are its **lock**: the unit in which a
transaction declares what it reads and writes, in which the execution engine finds
conflicts, and by which state is partitioned among workers. Everything a margin check needs
of one account lives under that account's lock, so a trade names two accounts, not every
instrument each one holds. Market data (config, instruments, oracles, marks, funding) lives
under a few ``market`` locks that only admin and oracle transactions write.

The execution engine only knows ``lock_of``; the constructors below are the clearing house's
vocabulary, and ``parse_key`` reads any key they make back into a typed form: the one codec
of keys, so that nothing outside this module reads a key by position.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple

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


# --- decoding: the one place that reads a key's parts by position ---------------------------
#
# The constructors above encode; ``parse_key`` decodes any key they make into one of the
# typed forms below, and each form's ``key()`` makes the same key again. Code outside this
# module reads keys through these, never by tuple position.


class Field(StrEnum):
    """The fields an account holds under its lock, one key each (``AccountField``)."""

    COLLATERAL = "collateral"
    NONCE = "nonce"
    PORTFOLIO = "portfolio"
    BANKRUPTCY = "bankruptcy"
    OPEN_ORDERS = "orders"
    RESERVED = "reserved"
    POOL_SHARES = "pool_shares"
    TOTAL_SHARES = "total_shares"
    """Of the options pool's account only (``POOL_TOTAL_SHARES``)."""


_FIELDS: Final = {field.value: field for field in Field}
_POSITION: Final = "pos"
_ORDER: Final = "order"


class AccountField(NamedTuple):
    """``("acct", account, field)``: one of ``Field`` (collateral, nonce, …)."""

    account: str
    field: Field

    def key(self) -> Key:
        return ("acct", self.account, self.field.value)


class PositionKey(NamedTuple):
    """``position(account, instrument)``."""

    account: str
    instrument: str

    def key(self) -> Key:
        return position(self.account, self.instrument)


class OrderKey(NamedTuple):
    """``order(account, nonce)``: an open order by the nonce of the PlaceOrder that opened
    it."""

    account: str
    nonce: int

    def key(self) -> Key:
        return order(self.account, self.nonce)


class Counter(StrEnum):
    """Per-instrument commutative counters (``CounterKey``)."""

    OPEN_INTEREST = "oi"
    ORDER_COUNT = "orders"


class CounterKey(NamedTuple):
    """``open_interest(instrument)`` or ``order_count(instrument)``."""

    counter: Counter
    instrument: str

    def key(self) -> Key:
        return (self.counter.value, self.instrument)


class HouseKey(NamedTuple):
    """A house-wide total under its own lock: ``INSURANCE_FUND``, ``FEE_POOL``,
    ``NET_DEPOSITS``, ``POOL_VOLUME`` or ``POOL_SPREAD``."""

    group: str
    """``fund`` or ``poolstat``."""
    name: str

    def key(self) -> Key:
        return (self.group, self.name)


class MarketKey(NamedTuple):
    """Market data, written only by admin and oracle transactions: ``("market", table)``
    (``CONFIG``, ``POOL_CONFIG``), ``("market", table, name)`` (an instrument, series,
    oracle, mark, surface or quote) or ``("market", table, name, detail)`` (an oracle's
    index history or settlements, a mark's premium). Absent parts are ``""``."""

    table: str
    name: str = ""
    detail: str = ""

    def key(self) -> Key:
        if not self.name:
            return ("market", self.table)
        if not self.detail:
            return ("market", self.table, self.name)
        return ("market", self.table, self.name, self.detail)


ParsedKey = AccountField | PositionKey | OrderKey | CounterKey | HouseKey | MarketKey

_HOUSE_GROUPS: Final = frozenset(("fund", "poolstat"))
_COUNTERS: Final = {counter.value: counter for counter in Counter}


class UnknownKey(ValueError):
    """A tuple that none of the key constructors makes."""


PARSED_KEPT: Final = 1 << 17
"""Typed forms ``parse_key`` keeps, by key, before it starts again: making one costs ~0.25
µs, finding it ~0.08 µs (the compiled engine's tables route every key they load or a peer
sends through it), keeping it ~116 bytes (~15 MB in all: the fields and positions of about
20,000 accounts). An order's is not kept: orders come and go."""
_parsed: dict[Key, ParsedKey] = {}


def parse_key(key: Key) -> ParsedKey:
    """The typed form of ``key`` (``parsed.key() == key``); raises ``UnknownKey`` for a
    tuple no constructor of this module makes."""
    parsed = _parsed.get(key)
    if parsed is None:
        parsed = _parse(key)
        if type(parsed) is not OrderKey:
            if len(_parsed) >= PARSED_KEPT:
                _parsed.clear()
            _parsed[key] = parsed
    return parsed


def _parse(key: Key) -> ParsedKey:
    size = len(key)
    head = key[0] if size else None
    if head == "acct":
        if size == 3:
            field = _FIELDS.get(key[2])
            if field is not None:
                return AccountField(key[1], field)
        elif size == 4:
            if key[2] == _POSITION:
                return PositionKey(key[1], key[3])
            if key[2] == _ORDER:
                digits = key[3]
                if digits.isdigit() and digits == str(int(digits)):
                    return OrderKey(key[1], int(digits))
    elif head == "market":
        if 2 <= size <= 4 and all(key[1:]):
            return MarketKey(*key[1:])
    elif size == 2:
        counter = _COUNTERS.get(key[0])
        if counter is not None:
            return CounterKey(counter, key[1])
        if key[0] in _HOUSE_GROUPS:
            return HouseKey(key[0], key[1])
    raise UnknownKey(f"not a state key: {key!r}")


def account_of(key: Key) -> str | None:
    """The account whose lock holds ``key`` (its fields, positions and orders), else
    None."""
    return key[1] if key[0] == "acct" and len(key) >= 3 else None


def account_field_of(key: Key, field: Field) -> str | None:
    """The account if ``key`` is its ``field`` (``AccountField``), else None: a test per key
    that makes nothing, for scans of a whole state."""
    return key[1] if len(key) == 3 and key[0] == "acct" and key[2] == field else None


def position_of(key: Key) -> PositionKey | None:
    """``key`` as a ``PositionKey`` if it is one, else None (a test per key, for scans)."""
    if len(key) == 4 and key[0] == "acct" and key[2] == _POSITION:
        return PositionKey(key[1], key[3])
    return None
