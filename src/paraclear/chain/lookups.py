"""Lookups in the clearing state that the chain and the API share: the listed instruments,
an underlying's oracle record, and order ids (an order's account and the nonce of the
``PlaceOrder`` that opened it). ``StateReads`` answers the first two, and the chain's time,
for whatever holds a state (the node, a front-end's follower copy).

The listed instruments are kept per state (``_Listing``), from the write sets it commits:
finding them meant scanning every key, 35 ms at 43,000 keys (10,000 accounts), and the API
asked for them twice after every block and in every instruments read.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Final

from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.records import OracleData
from paraclear.state import Key, State, lock_of
from paraclear.state import keys as k
from paraclear.state.keys import MarketKey, parse_key


class _Listing:
    """The listed instruments of one state, by name, as of ``version``. A commit the state
    reports (``State.watch``) updates it; any other change shows as a newer version, which
    a full scan catches up with."""

    def __init__(self, state: State) -> None:
        self.by_name: dict[str, Instrument] = {}
        """By name, in name order (an option's name is computed, ~1 µs: taken from the keys
        and kept, not computed per read)."""
        self.version = -1
        self.state = weakref.ref(state)
        state.watch(self._on_commit)

    def current(self, state: State) -> dict[str, Instrument]:
        if self.version != state.version:
            version = state.version  # read first: a commit during the scan rescans later
            listed: dict[str, Instrument] = {}
            for key, value in list(state.data.items()):  # one step under the GIL
                name = _listed_name(key)
                if name is not None and isinstance(value, Option | Perpetual):
                    listed[name] = value
            self.by_name = _by_name(listed)
            self.version = version
        return self.by_name

    def _on_commit(self, writes: Mapping[Key, object]) -> None:
        state = self.state()
        if state is None or self.version != state.version - 1:
            return  # behind already: the next read scans
        changed = [(name, key) for key in writes if (name := _listed_name(key)) is not None]
        if changed:
            by_name = dict(self.by_name)
            for name, key in changed:
                value = writes[key]
                if isinstance(value, Option | Perpetual):
                    by_name[name] = value
                else:
                    by_name.pop(name, None)
            self.by_name = _by_name(by_name)  # replaced whole: a reader may hold the old
        self.version = state.version


_listings: Final[weakref.WeakKeyDictionary[State, _Listing]] = weakref.WeakKeyDictionary()


def _by_name(by_name: dict[str, Instrument]) -> dict[str, Instrument]:
    return {name: by_name[name] for name in sorted(by_name)}


def _listed_name(key: Key) -> str | None:
    """The instrument's name if ``key`` is its listing (``keys.instrument``), else None."""
    if lock_of(key) != k.INSTRUMENTS_LOCK:
        return None
    match parse_key(key):
        case MarketKey(_, name, ""):
            return name
    return None


def listed_instruments(state: State) -> list[Instrument]:
    """Every listed instrument, by name (kept beside ``state``: see the module)."""
    return list(_listing(state).current(state).values())


def listed_names(state: State) -> list[str]:
    """The names of ``listed_instruments``, in the same order, without computing them."""
    return list(_listing(state).current(state))


def _listing(state: State) -> _Listing:
    listing = _listings.get(state)
    if listing is None:
        listing = _listings[state] = _Listing(state)
    return listing


def oracle_of(state: State, underlying: str) -> OracleData | None:
    value = state.data.get(k.oracle(underlying))
    return value if isinstance(value, OracleData) else None


class StateReads:
    """The reads the API asks of a node that its state answers: the node's own, or a
    follower copy's (``paraclear.api.follower``)."""

    state: State
    height: int
    block_time: int

    def instruments(self) -> list[Instrument]:
        return listed_instruments(self.state)

    def oracle(self, underlying: str) -> OracleData | None:
        return oracle_of(self.state, underlying)

    def time(self) -> int | None:
        return self.block_time if self.height else None


def order_id(account: str, nonce: int) -> str:
    """An order's id, in the API and in the books: its account and the nonce of the
    ``PlaceOrder`` that opened it."""
    return f"{account}-{nonce}"


def parse_order_id(text: str) -> tuple[str, int]:
    """(account, nonce) of an ``order_id``; raises ValueError if it is not one."""
    account, _, nonce = text.rpartition("-")
    if not account or not nonce.isdigit():
        raise ValueError(f"not an order id: {text!r}")
    return account, int(nonce)
