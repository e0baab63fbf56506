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

``Tables.block_rows`` records which keys' latest write in the block was a flush: those are
committed from the rows (``kernels.hashed``).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Mapping
from typing import TYPE_CHECKING

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
)
from paraclear.clearing.records import OpenOrder, Position
from paraclear.execution.block_run import fold_delta
from paraclear.state import Key
from paraclear.state import keys as k

if TYPE_CHECKING:
    from paraclear.clearing.kernels.tables import Tables


def flush_tables(tables: Tables, pending: dict[Key, object], data: Mapping[Key, object]) -> None:
    """Write every key the kernels changed since the last flush into ``pending``, as the
    reference handlers would have (absolute values; counters folded), and clear the marks
    of what changed. Order rows closed since then become free."""
    _flush_orders(tables, pending)
    _flush_positions(tables, pending)
    _flush_accounts(tables, pending)
    _flush_counters(tables, pending, data)
    tables.touched_accounts, tables.touched_positions = [], []
    tables.touched_orders, tables.touched_instruments = [], []


def _flush_orders(tables: Tables, pending: dict[Key, object]) -> None:
    """Write the touched orders and keep their accounts' lists of open orders."""
    rows = tables.touched_orders
    values = tables.orders[rows].tolist()
    tables.orders[rows, O_TOUCH] = 0
    names, instruments = tables.account_names, tables.instrument_names
    order_row, listed = tables.order_row, tables.open_orders
    flushed = tables.block_rows.orders
    for row, o in zip(rows, values, strict=True):
        account, nonce = o[O_ACCT], o[O_NONCE]
        key = k.order(names[account], nonce)
        nonces = listed[account]
        if o[O_LIVE]:
            flushed[key] = (row, account, nonce)
            pending[key] = OpenOrder(
                instruments[o[O_INST]], o[O_BUY] == 1, ORDER_KINDS[o[O_KIND]],
                o[O_PRICE], o[O_REM], o[O_FILLED], o[O_RESV], o[O_REDUCE] == 1, o[O_GTB],
            )  # fmt: skip
            if nonce not in nonces:
                insort(nonces, nonce)
            continue
        flushed[key] = (-1, account, nonce)
        pending[key] = None
        if nonce in nonces:
            nonces.remove(nonce)
        if order_row.get((account, nonce)) == row:
            del order_row[(account, nonce)]
        tables.free_orders.append(row)


def _flush_positions(tables: Tables, pending: dict[Key, object]) -> None:
    rows = tables.touched_positions
    values = tables.positions[rows].tolist()
    tables.positions[rows, P_TOUCH] = 0
    tables.block_rows.positions.update(rows)
    keys = tables.position_keys
    for row, p in zip(rows, values, strict=True):
        size = p[P_SIZE]
        pending[keys[row]] = Position(size, p[P_QUOTE], p[P_FIDX]) if size else None


def _flush_accounts(tables: Tables, pending: dict[Key, object]) -> None:
    rows = tables.touched_accounts
    values = tables.accounts[rows].tolist()
    tables.accounts[rows, A_TOUCH] = 0
    flushed = tables.block_rows.accounts
    all_keys, listed = tables.account_keys, tables.open_orders
    for account, a in zip(rows, values, strict=True):
        keys, touched = all_keys[account], a[A_TOUCH]
        flushed[account] = flushed.get(account, 0) | touched
        if touched & T_COLL:
            pending[keys.collateral] = a[A_COLL]
        if touched & T_NONCE:
            pending[keys.nonce] = a[A_NONCE]
        if touched & T_RESV:
            pending[keys.reserved] = a[A_RESV] or None
        if touched & T_BANK:
            pending[keys.bankruptcy] = None
        if touched & T_PORTFOLIO:
            pending[keys.portfolio] = _portfolio(tables, account, a[A_NPOS])
        if touched & T_ORDERS:
            nonces = listed[account]
            pending[keys.open_orders] = tuple(nonces) if nonces else None


def _portfolio(tables: Tables, account: int, count: int) -> tuple[str, ...] | None:
    """The sorted names of the instruments account ``account`` holds (None: none)."""
    if not count:
        return None
    held = tables.account_positions[account, :count].tolist()
    instruments = tables.positions[held, P_INST].tolist()
    names = tables.instrument_names
    return tuple(sorted([names[at] for at in instruments]))


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
