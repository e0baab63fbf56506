"""``listed_instruments``: kept beside each state from the write sets it commits, equal at
every step to a scan of all its keys, whichever way the state changed."""

from __future__ import annotations

from paraclear.api.follower import FollowerState
from paraclear.bench.load import listed_instruments as listed_options_and_perp
from paraclear.chain.lookups import listed_instruments, listed_names
from paraclear.clearing.instruments import Instrument, Perpetual
from paraclear.state import Key, State
from paraclear.state import keys as k

BTC, ETH, SOL = Perpetual("BTC"), Perpetual("ETH"), Perpetual("SOL")


def listed_options(count: int) -> list[Instrument]:
    """``count`` distinct BTC options."""
    return listed_options_and_perp(count + 1)[1:]


def _name(instrument: Instrument) -> str:
    return instrument.name


def _scanned(state: State) -> list[Instrument]:
    """The listed instruments by a scan of every key (what the listing must equal)."""
    found = [
        value
        for key, value in state.data.items()
        if key[:2] == k.INSTRUMENTS_LOCK and len(key) == 3 and isinstance(value, Perpetual)
    ]
    return sorted(found, key=lambda instrument: instrument.name)


def test_the_listing_follows_commits_without_scanning() -> None:
    state = State({k.instrument(BTC.name): BTC, ("acct", "a", "collateral"): 5})
    assert listed_instruments(state) == [BTC] == _scanned(state)
    state.apply({k.instrument(ETH.name): ETH, ("acct", "b", "collateral"): 7})
    state.data[k.instrument(SOL.name)] = SOL  # behind the listing's back: not seen ...
    assert listed_instruments(state) == [BTC, ETH]  # ... so this came from the commit alone
    del state.data[k.instrument(SOL.name)]
    state.apply({k.instrument(BTC.name): None})  # delisted
    assert listed_instruments(state) == [ETH] == _scanned(state)


def test_a_change_the_listing_did_not_see_is_caught_by_a_scan() -> None:
    state = State({k.instrument(BTC.name): BTC})
    assert listed_instruments(state) == [BTC]
    copy = state.copy()  # a copy has no watchers: its listing starts from a scan
    copy.apply({k.instrument(ETH.name): ETH})
    assert listed_instruments(copy) == [BTC, ETH] and listed_instruments(state) == [BTC]
    state.data[k.instrument(SOL.name)] = SOL
    state.version += 1  # a commit the listing was not told of
    assert listed_instruments(state) == [BTC, SOL] == _scanned(state)


def test_a_followers_state_keeps_its_listing_from_the_blocks_it_follows() -> None:
    entries: dict[Key, object] = {k.instrument(BTC.name): BTC}
    state = FollowerState(entries, bytes(32))
    assert listed_instruments(state) == [BTC]
    state.follow({k.instrument(ETH.name): ETH}, [k.instrument(BTC.name)], bytes(32))
    assert listed_instruments(state) == [ETH] == _scanned(state)


def test_the_listed_names_are_the_instruments_names_in_the_same_order() -> None:
    options = listed_options(30)
    state = State({k.instrument(BTC.name): BTC})
    state.apply({k.instrument(option.name): option for option in options[:20]})
    state.apply({k.instrument(options[3].name): None, k.instrument(options[25].name): options[25]})
    listed = listed_instruments(state)
    assert listed_names(state) == [instrument.name for instrument in listed]
    assert listed == sorted([BTC, *options[:3], *options[4:20], options[25]], key=_name)
