"""``flush_tables``: what the kernels changed in the tables since the last flush, written into a
block's pending writes with the values the reference handlers would have written
(``Tables.flush``).

Each touched row becomes the values of its keys: an order row its ``OpenOrder`` (None once
closed, and its row is freed), a position row its ``Position``, an account row the fields
its touch bits (``T_*``) name, an instrument row its counters and the house row the fee
pool and net deposits, folded into the block's totals. An account's list of open orders is
``Tables.open_orders``, kept here: an order the kernels opened is put in its account's list
(sorted, as ``apply_place_order`` keeps it), one they closed taken out. An account's
portfolio is the sorted names of the instruments of its listed positions.

A shard worker of the parallel executor needs mid-block only the locks it sends that round:
it flushes their accounts' rows alone and the rest once, at the block's end (``accounts``),
so an account touched in several rounds is flushed once.

``Tables.block_rows`` records which keys' latest write in the block was a flush: those are
committed from the rows (``kernels.hashed``).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from paraclear.clearing.kernels.layout import (
    A_COLL,
    A_NONCE,
    A_NPOS,
    A_RESV,
    A_TOUCH,
    H_DEPOSITS_DELTA,
    H_DEPOSITS_TOUCH,
    H_FEE_DELTA,
    H_FEE_TOUCH,
    I_OC_DELTA,
    I_OC_TOUCH,
    I_OI_DELTA,
    I_OI_TOUCH,
    O_ACCT,
    O_BUY,
    O_FILLED,
    O_GTB,
    O_INST,
    O_KIND,
    O_LIVE,
    O_NONCE,
    O_PRICE,
    O_REDUCE,
    O_REM,
    O_RESV,
    O_TOUCH,
    ORDER_KINDS,
    P_ACCT,
    P_FIDX,
    P_INST,
    P_QUOTE,
    P_SIZE,
    P_TOUCH,
    T_BANK,
    T_COLL,
    T_NONCE,
    T_ORDERS,
    T_PORTFOLIO,
    T_RESV,
    Int64Array,
)
from paraclear.clearing.records import OpenOrder, Position
from paraclear.execution.block_run import fold_delta
from paraclear.state import Key
from paraclear.state import keys as k

if TYPE_CHECKING:
    from paraclear.clearing.kernels.tables import Tables


class AccountKeys(NamedTuple):
    """The keys of one account's fields that the kernels change."""

    collateral: Key
    nonce: Key
    reserved: Key
    bankruptcy: Key
    portfolio: Key
    open_orders: Key

    @classmethod
    def of(cls, account: str) -> AccountKeys:
        return cls(
            k.collateral(account),
            k.nonce(account),
            k.reserved(account),
            k.bankruptcy(account),
            k.portfolio(account),
            k.open_orders(account),
        )


ACCOUNT_KEYS: Final = len(AccountKeys._fields)
"""Keys of one account row in ``Tables.account_keys``."""

BoolArray = npt.NDArray[np.bool_]


class HeldRows:
    """Touched rows a partial flush left for later, each with its account row, as arrays:
    every partial flush picks from them with one vectorised lookup (converting a growing
    list of them in every round of a block would cost as much as the flushes saved)."""

    def __init__(self) -> None:
        self.orders = self.order_accounts = _NONE
        self.positions = self.position_accounts = _NONE
        self.accounts = _NONE

    def take(self) -> tuple[list[int], list[int], list[int]]:
        """All held rows (orders, positions, accounts); none is held after."""
        rows = self.orders.tolist(), self.positions.tolist(), self.accounts.tolist()
        self.orders = self.order_accounts = _NONE
        self.positions = self.position_accounts = _NONE
        self.accounts = _NONE
        return rows


SMALL: Final = 64
"""Rows below which a batch's rows are handled in Python one at a time, not by array calls
(sorts, uniques, masks, fancy indexing), whose fixed cost is most of the work of a node's
few-order blocks. Both ways write the same values through the same per-row functions."""
_NONE: Final[Int64Array] = np.zeros(0, dtype=np.int64)


def flush_tables(
    tables: Tables,
    pending: dict[Key, object],
    data: Mapping[Key, object],
    accounts: Sequence[int] | None = None,
) -> None:
    """Write every key the kernels changed since the last flush into ``pending``, as the
    reference handlers would have (absolute values; counters folded), and clear the marks
    of what changed. Order rows closed since then become free.

    ``accounts``: flush only the rows of these account rows (the account, its orders and
    its positions); the others are held (``Tables.held``), counters too, for a later
    flush."""
    if accounts is not None:
        _flush_accounts_of(tables, pending, accounts)
        return
    orders, positions, held_accounts = tables.held.take()
    orders += tables.touched_orders
    positions += tables.touched_positions
    held_accounts += tables.touched_accounts
    if orders:
        _flush_orders(tables, pending, orders)
    if positions:
        _flush_positions(tables, pending, positions)
    if held_accounts:
        _flush_accounts(tables, pending, held_accounts)
    _flush_counters(tables, pending, data)
    tables.touched_accounts, tables.touched_positions = [], []
    tables.touched_orders, tables.touched_instruments = [], []


def _flush_accounts_of(tables: Tables, pending: dict[Key, object], accounts: Sequence[int]) -> None:
    """Flush the touched rows of ``accounts`` alone (held or touched since the last flush);
    hold the others."""
    chosen = np.zeros(len(tables.accounts), dtype=np.bool_)
    chosen[np.asarray(accounts, dtype=np.int64)] = True
    held = tables.held
    now, held.orders, held.order_accounts = _pick(
        chosen, held.orders, held.order_accounts, tables.touched_orders,
        lambda rows: tables.orders[rows, O_ACCT],
    )  # fmt: skip
    if now:
        _flush_orders(tables, pending, now)
    now, held.positions, held.position_accounts = _pick(
        chosen, held.positions, held.position_accounts, tables.touched_positions,
        lambda rows: tables.positions[rows, P_ACCT],
    )  # fmt: skip
    if now:
        _flush_positions(tables, pending, now)
    now, held.accounts, _ = _pick(
        chosen, held.accounts, held.accounts, tables.touched_accounts, lambda rows: rows
    )
    if now:
        _flush_accounts(tables, pending, now)
    tables.touched_orders, tables.touched_positions, tables.touched_accounts = [], [], []


def _pick(
    chosen: BoolArray,
    held: Int64Array,
    owners: Int64Array,
    touched: list[int],
    owner_of: Callable[[Int64Array], Int64Array],
) -> tuple[list[int], Int64Array, Int64Array]:
    """Of the ``held`` rows (accounts ``owners``) and those ``touched`` since the last flush
    (accounts by ``owner_of``): the rows of ``chosen`` accounts, and the others with their
    accounts, held on."""
    if touched:
        fresh = np.asarray(touched, dtype=np.int64)
        held = np.concatenate((held, fresh))
        owners = np.concatenate((owners, owner_of(fresh)))
    now = chosen[owners]
    return held[now].tolist(), held[~now], owners[~now]


def _flush_orders(tables: Tables, pending: dict[Key, object], touched: list[int]) -> None:
    """Write the ``touched`` orders (None: closed) and keep their accounts' lists of open
    orders."""
    if len(touched) < SMALL:
        _flush_few_orders(tables, pending, touched)
        return
    rows = np.array(touched, dtype=np.int64)
    o = tables.orders[rows]
    tables.orders[rows, O_TOUCH] = 0
    live = o[:, O_LIVE] == 1
    owners = o[:, [O_ACCT, O_NONCE]]
    keys = _order_keys(tables, touched, rows, owners)
    opened = iter(_open_orders(tables.instrument_names, o[live]))
    values = [next(opened) if is_live else None for is_live in live.tolist()]
    tables.block_rows.mark_orders(rows, np.column_stack((rows, live, owners)), keys)
    pending.update(zip(keys, values, strict=True))
    _relist(tables, rows, live, owners)


def _open_orders(names: list[str], o: Int64Array) -> list[OpenOrder]:
    """The ``OpenOrder`` of each order row of ``o`` (live rows' values; ``names``: the
    instruments'), built column by column: the same values as ``open_order`` row by row."""
    columns = o.T.tolist()
    return list(
        map(
            OpenOrder,
            map(names.__getitem__, columns[O_INST]),
            map(bool, columns[O_BUY]),
            map(ORDER_KINDS.__getitem__, columns[O_KIND]),
            columns[O_PRICE],
            columns[O_REM],
            columns[O_FILLED],
            columns[O_RESV],
            map(bool, columns[O_REDUCE]),
            columns[O_GTB],
        )
    )


def _flush_few_orders(tables: Tables, pending: dict[Key, object], touched: list[int]) -> None:
    """``_flush_orders`` one row at a time (fewer than ``SMALL``)."""
    orders, names, block = tables.orders, tables.instrument_names, tables.block_rows
    closed: tuple[list[int], list[int], list[int]] = ([], [], [])
    for row, o in zip(touched, orders[touched].tolist(), strict=True):
        orders[row, O_TOUCH] = 0
        live, account, nonce = o[O_LIVE] == 1, o[O_ACCT], o[O_NONCE]
        key = _order_key(tables, row, account, nonce)
        block.mark_order(row, (row, int(live), account, nonce), key)
        pending[key] = open_order(names, o) if live else None
        if live != (tables.listed[row] == 1):
            _relist_one(tables.open_orders[account], nonce, live)
        tables.listed[row] = live
        if not live:
            for column, value in zip(closed, (row, account, nonce), strict=True):
                column.append(value)
    tables.free_order_rows(*closed)


def position_value(size: int, quote: int, index: int) -> Position | None:
    """A position row's value as its key holds it (None: flat)."""
    return Position(size, quote, index) if size else None


def open_order(names: list[str], o: list[int]) -> OpenOrder:
    """The ``OpenOrder`` of an order row's values ``o`` (``names``: the instruments')."""
    return OpenOrder(
        names[o[O_INST]],
        bool(o[O_BUY]),
        ORDER_KINDS[o[O_KIND]],
        o[O_PRICE],
        o[O_REM],
        o[O_FILLED],
        o[O_RESV],
        bool(o[O_REDUCE]),
        o[O_GTB],
    )


def _order_keys(
    tables: Tables, touched: list[int], rows: Int64Array, owners: Int64Array
) -> list[Key]:
    """The keys of the orders of ``rows`` (``touched``; ``owners``: their account rows and
    nonces), each made once (``Tables.order_keys``): the rows not keyed yet all at once."""
    fresh = np.flatnonzero(tables.keyed[rows] == 0)
    order_keys = tables.order_keys
    if len(fresh):
        names = tables.account_names
        made = rows[fresh]
        for row, account, nonce in zip(made.tolist(), *owners[fresh].T.tolist(), strict=True):
            order_keys[row] = k.order(names[account], nonce)
        tables.keyed[made] = 1
    return list(map(order_keys.__getitem__, touched))


def _order_key(tables: Tables, row: int, account: int, nonce: int) -> Key:
    """The key of the order at ``row`` (of ``account``'s order ``nonce``), made once."""
    if tables.keyed[row]:
        return tables.order_keys[row]
    key = tables.order_keys[row] = k.order(tables.account_names[account], nonce)
    tables.keyed[row] = 1
    return key


def _relist(tables: Tables, rows: Int64Array, live: BoolArray, owners: Int64Array) -> None:
    """Put the orders opened since the last flush in their accounts' lists and take the
    closed ones out (``Tables.listed`` says which were listed); free the closed orders'
    rows. (``_relist_one`` inlined: it runs for most orders of a block.)"""
    listed = tables.open_orders
    changed = np.flatnonzero(live != (tables.listed[rows] == 1))
    opens = live[changed].tolist()
    accounts, nonces = owners[changed].T.tolist()
    for account, nonce, opened in zip(accounts, nonces, opens, strict=True):
        held = listed[account]
        if opened:
            if nonce not in held:
                insort(held, nonce)
        elif nonce in held:
            held.remove(nonce)
    tables.listed[rows] = live
    closed = np.flatnonzero(~live)
    accounts, nonces = owners[closed].T.tolist()
    tables.free_order_rows(rows[closed].tolist(), accounts, nonces)


def _relist_one(held: list[int], nonce: int, opened: bool) -> None:
    """Put order ``nonce`` in its account's list ``held`` (sorted) if ``opened``, else take
    it out."""
    if opened and nonce not in held:
        insort(held, nonce)
    elif not opened and nonce in held:
        held.remove(nonce)


def _flush_positions(tables: Tables, pending: dict[Key, object], rows: list[int]) -> None:
    p = tables.positions[rows]
    tables.positions[rows, P_TOUCH] = 0
    tables.block_rows.positions.update(rows)
    sizes, quotes, indices = p[:, P_SIZE].tolist(), p[:, P_QUOTE].tolist(), p[:, P_FIDX].tolist()
    values = list(map(position_value, sizes, quotes, indices))
    pending.update(zip(map(tables.position_keys.__getitem__, rows), values, strict=True))


def _flush_accounts(tables: Tables, pending: dict[Key, object], flushed: list[int]) -> None:
    """Write the ``flushed`` accounts' fields, one field at a time over all of them."""
    if len(flushed) < SMALL:
        _flush_few_accounts(tables, pending, flushed)
        return
    rows = np.array(flushed, dtype=np.int64)
    a = tables.accounts[rows]
    tables.accounts[rows, A_TOUCH] = 0
    touched = a[:, A_TOUCH]
    tables.block_rows.mark_accounts(rows, touched)
    keys, listed = tables.account_keys, tables.open_orders

    def write(at: BoolArray, field: str, values: Iterable[object]) -> None:
        slots = rows[at] * ACCOUNT_KEYS + _SLOT[field]
        of = map(keys.__getitem__, slots.tolist())
        pending.update(zip(of, values, strict=False))  # repeat(None) has no end

    at = (touched & T_COLL) != 0
    write(at, "collateral", a[at, A_COLL].tolist())
    at = (touched & T_NONCE) != 0
    write(at, "nonce", a[at, A_NONCE].tolist())
    at = (touched & T_RESV) != 0
    write(at, "reserved", [value or None for value in a[at, A_RESV].tolist()])  # _reserved
    write((touched & T_BANK) != 0, "bankruptcy", repeat(None))
    at = (touched & T_PORTFOLIO) != 0
    write(at, "portfolio", _portfolios(tables, rows[at], a[at, A_NPOS]))
    at = (touched & T_ORDERS) != 0
    opens = map(listed.__getitem__, rows[at].tolist())
    write(at, "open_orders", [tuple(nonces) or None for nonces in opens])  # _listed


def _flush_few_accounts(tables: Tables, pending: dict[Key, object], flushed: list[int]) -> None:
    """``_flush_accounts`` one row at a time (fewer than ``SMALL``), the same values."""
    accounts, keys, names = tables.accounts, tables.account_keys, tables.instrument_names
    for row, a in zip(flushed, accounts[flushed].tolist(), strict=True):
        accounts[row, A_TOUCH] = 0
        touched = a[A_TOUCH]
        tables.block_rows.mark_account(row, touched)
        slot = row * ACCOUNT_KEYS
        if touched & T_COLL:
            pending[keys[slot + _SLOT["collateral"]]] = a[A_COLL]
        if touched & T_NONCE:
            pending[keys[slot + _SLOT["nonce"]]] = a[A_NONCE]
        if touched & T_RESV:
            pending[keys[slot + _SLOT["reserved"]]] = _reserved(a[A_RESV])
        if touched & T_BANK:
            pending[keys[slot + _SLOT["bankruptcy"]]] = None
        if touched & T_PORTFOLIO:
            held = tables.account_positions[row, : a[A_NPOS]]
            instruments = tables.positions[held, P_INST].tolist()
            pending[keys[slot + _SLOT["portfolio"]]] = _portfolio(names, instruments)
        if touched & T_ORDERS:
            pending[keys[slot + _SLOT["open_orders"]]] = _listed(tables.open_orders[row])


_SLOT: Final = {field: at for at, field in enumerate(AccountKeys._fields)}
"""Each account field's slot among its row's keys (``Tables.account_keys``)."""


def _reserved(value: int) -> int | None:
    """An account's reserved margin as its key holds it (None: nothing reserved)."""
    return value or None


def _listed(nonces: list[int]) -> tuple[int, ...] | None:
    """An account's list of open orders as its key holds it (None: none)."""
    return tuple(nonces) or None


def _portfolios(tables: Tables, rows: Int64Array, counts: Int64Array) -> list[object]:
    """The portfolio of each account of ``rows`` (``counts``: how many positions each
    lists): each account's instruments ranked by name and sorted as arrays, so that each
    portfolio is read off in order (``_portfolio``'s values)."""
    if not len(rows):
        return []
    names = tables.instrument_names
    by_name = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), dtype=np.int64)
    rank[by_name] = np.arange(len(names))
    held = tables.account_positions[rows]
    slots = np.arange(held.shape[1])[None, :] < counts[:, None]
    ranks = np.where(slots, rank[tables.positions[held, P_INST]], len(names))
    ranks.sort(axis=1)
    ranked = [names[at] for at in by_name]
    return [
        tuple(map(ranked.__getitem__, row[:count])) or None
        for row, count in zip(ranks.tolist(), counts.tolist(), strict=True)
    ]


def _portfolio(names: list[str], instruments: list[int]) -> tuple[str, ...] | None:
    """The sorted names of the ``instruments`` an account holds (None: none)."""
    return tuple(sorted([names[at] for at in instruments])) or None


def _flush_counters(tables: Tables, pending: dict[Key, object], data: Mapping[Key, object]) -> None:
    """Fold the instruments' and the house's counters into the block's totals."""
    counters = tables.block_rows.counters
    names = tables.instrument_names
    for row in tables.touched_instruments:
        i = tables.instruments[row]
        if i[I_OI_TOUCH]:
            _fold(pending, data, k.open_interest(names[row]), int(i[I_OI_DELTA]), counters)
        if i[I_OC_TOUCH]:
            _fold(pending, data, k.order_count(names[row]), int(i[I_OC_DELTA]), counters)
        i[I_OI_TOUCH] = i[I_OI_DELTA] = i[I_OC_TOUCH] = i[I_OC_DELTA] = 0
    house = tables.house
    if house[H_FEE_TOUCH]:
        _fold(pending, data, k.FEE_POOL, int(house[H_FEE_DELTA]), counters)
        house[H_FEE_TOUCH] = house[H_FEE_DELTA] = 0
    if house[H_DEPOSITS_TOUCH]:
        _fold(pending, data, k.NET_DEPOSITS, int(house[H_DEPOSITS_DELTA]), counters)
        house[H_DEPOSITS_TOUCH] = house[H_DEPOSITS_DELTA] = 0


def _fold(
    pending: dict[Key, object], data: Mapping[Key, object], key: Key, amount: int, flushed: set[Key]
) -> None:
    fold_delta(pending, data, key, amount)
    flushed.add(key)
