"""Whether the tables a compiled engine carries from block to block still mirror the state.

The engine keeps its tables between blocks instead of loading them from the state at every
block (``CompiledEngine``: it trusts them after a block it ran, and routes into them what
others commit). The key-value state stays the committed one; the tables are derived from it.
So the tables the engine carries must equal the tables a fresh ``Tables.load`` of the same
state gives, as far as anything the kernels read goes: ``differences`` compares the two in
a form that does not depend on which rows a name was given (``canonical``).

Left out of the comparison, because they legitimately differ: an account's memo of its
positions' terms (a cache the kernels check against the marks' epoch, ``H_EPOCH``, which
counts every change of an instrument and so differs too), rows of names that hold nothing
any more, the stale values of an instrument row that is not usable (``I_OK`` 0) and the
fields of an account the carried tables hand to the handlers (``A_WIDE``: the tables only
say it does not fit; a fresh load that finds a value too wide must find it wide in the
carried tables too, the other way is only slower). At a block's boundary nothing may be
left touched, held or counted as a delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from paraclear.clearing.kernels.layout import (
    A_BANK,
    A_COLL,
    A_NONCE,
    A_NORD,
    A_NPOS,
    A_RESV,
    A_TOUCH,
    A_WIDE,
    H_DEPOSITS_DELTA,
    H_DEPOSITS_TOUCH,
    H_EPOCH,
    H_FEE_DELTA,
    H_FEE_TOUCH,
    H_OK,
    H_ORACLE,
    I_FIELDS,
    I_OK,
    I_PNL_OK,
    O_ACCT,
    O_INST,
    O_LIVE,
    O_NONCE,
    O_TOUCH,
    P_ACCT,
    P_INST,
    P_SIZE,
    P_TOUCH,
)
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.margin import MarginModel
from paraclear.state import Key

SHOWN: Final = 10
"""Differences ``TablesDiverged`` names (it counts the rest)."""


class TablesDiverged(RuntimeError):
    """The tables a compiled engine carried differ from those its state loads into: a bug
    in keeping them in step (a fork waiting to happen, found before it happens)."""

    def __init__(self, differences: list[str]) -> None:
        shown = "; ".join(differences[:SHOWN])
        more = len(differences) - SHOWN
        super().__init__(
            f"{len(differences)} difference(s) between the carried tables and the state: "
            + shown
            + (f"; and {more} more" if more > 0 else "")
        )
        self.differences = differences


Canonical = dict[tuple[str, object], object]
"""What the kernels read of a table, by what it stands for (names, not rows)."""


def differences(tables: Tables, data: Mapping[Key, object], model: MarginModel) -> list[str]:
    """Where ``tables`` (carried, at a block's boundary) differ from the tables ``data``
    loads into under ``model``, in words; empty if they mirror it."""
    fresh = Tables(model)
    fresh.load(data)
    carried, loaded = canonical(tables), canonical(fresh)
    differ = []
    for key in carried.keys() | loaded.keys():
        mine, theirs = carried.get(key), loaded.get(key)
        if key[0] == "wide" and mine is not None and theirs is None:
            continue  # carried tables that hand an account to the handlers: only slower
        if mine != theirs and not _wide(carried, key):
            differ.append(key)
    differ.sort(key=repr)  # the differences in a stable order, not every key
    found = _leftovers(tables)
    for kind, name in differ:
        mine, theirs = carried.get((kind, name)), loaded.get((kind, name))
        found.append(f"{kind} {name!r}: carried {mine!r}, state {theirs!r}")
    return found


def canonical(tables: Tables) -> Canonical:
    """What the kernels read of ``tables``, keyed by kind and name; empty rows left out."""
    out: Canonical = {}
    _accounts(tables, out)
    _positions(tables, out)
    _orders(tables, out)
    _instruments(tables, out)
    house = tables.house
    if house[H_OK]:
        rates = house.tolist()
        oracle = int(rates[H_ORACLE])
        rates[H_EPOCH] = rates[H_ORACLE] = 0
        out[("house", "")] = (tuple(rates), tables.account_names[oracle])
    return out


def _accounts(tables: Tables, out: Canonical) -> None:
    accounts, names = tables.accounts.tolist(), tables.instrument_names
    listed, instrument = tables.account_positions.tolist(), tables.positions[:, P_INST].tolist()
    for name, row in tables.account_row.items():
        a = accounts[row]
        if a[A_WIDE]:
            out[("wide", name)] = True
            continue
        portfolio = sorted(names[instrument[at]] for at in listed[row][: a[A_NPOS]])
        fields = (a[A_COLL], a[A_NONCE], a[A_RESV], a[A_BANK], a[A_NORD], a[A_NPOS])
        orders = tuple(tables.open_orders[row])
        if any(fields) or orders:
            out[("account", name)] = (fields, orders, tuple(portfolio))


def _positions(tables: Tables, out: Canonical) -> None:
    accounts, instruments = tables.account_names, tables.instrument_names
    positions = tables.positions.tolist()
    for (account, instrument), row in tables.position_row.items():
        p = positions[row]
        if p[P_SIZE]:
            named = (accounts[account], instruments[instrument])
            mine = (p[P_ACCT], p[P_INST]) == (account, instrument)
            out[("position", named)] = (mine, *p[P_SIZE:])


def _orders(tables: Tables, out: Canonical) -> None:
    accounts, instruments = tables.account_names, tables.instrument_names
    orders, listed, order_row = tables.orders.tolist(), tables.listed.tolist(), tables.order_row
    for row, o in enumerate(orders):
        if o[O_LIVE]:
            pair = (o[O_ACCT], o[O_NONCE])
            values = (instruments[o[O_INST]], *o[O_INST + 1 :])
            found = order_row.get(pair) == row
            named = ("order", (accounts[pair[0]], pair[1]))
            if named in out:  # two live rows for one order
                out[("order twice", named[1])] = True
            out[named] = (values, listed[row], found)


def _instruments(tables: Tables, out: Canonical) -> None:
    instruments = tables.instruments.tolist()
    for name, row in tables.instrument_row.items():
        i = instruments[row]
        if i[I_OK]:
            risk = tuple(i[I_FIELDS:]) if i[I_PNL_OK] else ()
            out[("instrument", name)] = (tuple(i[:I_FIELDS]), risk)
        market = tables.market(row)
        if market != (None, None):
            out[("market", name)] = market


def _leftovers(tables: Tables) -> list[str]:
    """What a block left touched, held or counted in ``tables`` after its end."""
    found = []
    lists = {
        "touched accounts": tables.touched_accounts,
        "touched positions": tables.touched_positions,
        "touched orders": tables.touched_orders,
        "touched instruments": tables.touched_instruments,
        "held rows": [*tables.held.orders, *tables.held.positions, *tables.held.accounts],
    }
    for what, rows in lists.items():
        if len(rows):
            found.append(f"{len(rows)} {what} left after the block")
    flags = {
        "accounts": tables.accounts[:, A_TOUCH],
        "positions": tables.positions[:, P_TOUCH],
        "orders": tables.orders[:, O_TOUCH],
    }
    for what, column in flags.items():
        if column.any():
            found.append(f"{int((column != 0).sum())} {what} still marked touched")
    house = tables.house
    if house[[H_FEE_TOUCH, H_FEE_DELTA, H_DEPOSITS_TOUCH, H_DEPOSITS_DELTA]].any():
        found.append("the house's fee or deposit delta left unfolded")
    return found


def _wide(carried: Canonical, key: tuple[str, object]) -> bool:
    """Whether ``key`` belongs to an account the carried tables hand to the handlers."""
    kind, name = key
    if kind == "account":
        return ("wide", name) in carried
    if kind in ("position", "order") and isinstance(name, tuple):
        return ("wide", name[0]) in carried
    return False
