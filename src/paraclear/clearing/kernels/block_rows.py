"""``BlockRows``: which keys' latest write in the current block was a flush of the tables
(``Tables.flush``). Those are committed from the rows (``kernels.hashed``); a key that
anything else writes later in the block (a reference handler's write routed into the tables,
a peer's) is forgotten here (``Tables.route``), so its hash is never taken from a stale row.

Orders are entries in arrays, appended in the order a flush first writes them: the order's
key, its row, whether the flush left it open (else it is deleted), its account row and
nonce. Each order row names its order's entry of the block (``order_entry``), so a later
flush of the same order overwrites that entry instead of looking its key up. A row given to
another order stops naming the entry (``new_orders``), which stays as the old order's last
write (a closed order's row is freed by the same flush that writes its deletion). An order a
reference handler writes is forgotten by its account row and nonce with the number of
entries at that moment (``forgotten``): its entries before that are stale, and its next
flush appends a fresh one.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from paraclear.clearing.kernels.layout import (
    T_BANK,
    T_COLL,
    T_NONCE,
    T_ORDERS,
    T_PORTFOLIO,
    T_RESV,
    Int64Array,
    grown,
)
from paraclear.state import Key
from paraclear.state.keys import Field

FIELD_BITS: Final = {
    Field.COLLATERAL: T_COLL,
    Field.NONCE: T_NONCE,
    Field.RESERVED: T_RESV,
    Field.BANKRUPTCY: T_BANK,
    Field.PORTFOLIO: T_PORTFOLIO,
    Field.OPEN_ORDERS: T_ORDERS,
}
"""The touch bit of each account field the kernels write."""
E_ROW, E_LIVE, E_ACCT, E_NONCE = range(4)
"""The columns of ``BlockRows.orders``: the order's row, 1 if the flush left it open (0:
closed, its key deleted), its account row and its nonce."""


class BlockRows:
    """The rows of the keys whose latest write in the current block came from a flush."""

    __slots__ = (
        "accounts",
        "counters",
        "forgotten",
        "order_entry",
        "order_keys",
        "orders",
        "positions",
    )

    def __init__(self) -> None:
        self.accounts = np.zeros(0, dtype=np.int64)
        """Each account row's ``T_*`` bits of its keys last written by a flush."""
        self.positions: set[int] = set()
        self.order_keys: list[Key] = []
        """The key of each order entry, in the order they were first written."""
        self.orders = np.zeros((0, 4), dtype=np.int64)
        """Each order entry (``E_*`` columns); the first ``len(order_keys)`` rows are the
        block's."""
        self.order_entry = np.zeros(0, dtype=np.int64)
        """Each order row's entry in this block plus one (0: none)."""
        self.forgotten: dict[tuple[int, int], int] = {}
        """``(account row, nonce)`` of an order someone else wrote → how many entries there
        were then (the order's entries before are stale)."""
        self.counters: set[Key] = set()
        """Counters' keys (open interest, order counts, fee pool, net deposits)."""

    def clear(self) -> None:
        """A new block: nothing written yet."""
        self.accounts.fill(0)
        self.positions.clear()
        count = len(self.order_keys)
        self.order_entry[self.orders[:count, E_ROW]] = 0
        self.order_keys = []
        self.forgotten.clear()
        self.counters.clear()

    def mark_accounts(self, rows: Int64Array, bits: Int64Array) -> None:
        """A flush wrote the keys ``bits`` name of each account of ``rows`` (no row twice)."""
        if len(rows):
            self.accounts = grown(self.accounts, int(rows.max()) + 1)
            self.accounts[rows] |= bits

    def mark_account(self, row: int, bits: int) -> None:
        """``mark_accounts`` for one row."""
        self.accounts = grown(self.accounts, row + 1)
        self.accounts[row] |= bits

    def forget_account(self, row: int, field: Field) -> None:
        """The account key ``field`` of ``row`` was written by someone else."""
        accounts = self.accounts
        if row < len(accounts) and accounts[row]:
            accounts[row] &= ~FIELD_BITS.get(field, 0)

    def mark_orders(self, rows: Int64Array, entries: Int64Array, keys: list[Key]) -> None:
        """A flush wrote the orders of ``rows`` (no row twice; ``entries``: their ``E_*``
        columns, ``keys``: their keys): each overwrites its row's entry of the block, or is
        appended as a new one."""
        self.order_entry = grown(self.order_entry, int(rows.max()) + 1)
        at = self.order_entry[rows] - 1
        fresh = np.flatnonzero(at < 0)
        if len(fresh):
            count = len(self.order_keys)
            at[fresh] = np.arange(count, count + len(fresh))
            self.order_keys += map(keys.__getitem__, fresh.tolist())
            self.orders = grown(self.orders, count + len(fresh))
            self.order_entry[rows[fresh]] = at[fresh] + 1
        self.orders[at] = entries

    def mark_order(self, row: int, entry: tuple[int, int, int, int], key: Key) -> None:
        """``mark_orders`` for one row."""
        self.order_entry = grown(self.order_entry, row + 1)
        at = int(self.order_entry[row]) - 1
        if at < 0:
            at = len(self.order_keys)
            self.order_keys.append(key)
            self.orders = grown(self.orders, at + 1)
            self.order_entry[row] = at + 1
        self.orders[at] = entry

    def new_orders(self, rows: Int64Array) -> None:
        """Order ``rows`` were given to other orders: their entries are no longer theirs."""
        self.order_entry[rows[rows < len(self.order_entry)]] = 0

    def new_order(self, row: int) -> None:
        """``new_orders`` of one row."""
        if row < len(self.order_entry):
            self.order_entry[row] = 0

    def forget_order(self, account: int, nonce: int, row: int) -> None:
        """Order ``nonce`` of ``account`` (at order ``row``, -1: none) was written by someone
        else."""
        if self.order_keys:
            self.forgotten[(account, nonce)] = len(self.order_keys)
        if 0 <= row < len(self.order_entry):
            self.order_entry[row] = 0

    def current_orders(self) -> Int64Array:
        """The order entries still to commit from the rows (all but the forgotten)."""
        count = len(self.order_keys)
        if not self.forgotten:
            return np.arange(count, dtype=np.int64)
        current = np.ones(count, dtype=np.bool_)
        forgotten = self.forgotten
        accounts = np.array([account for account, _ in forgotten], dtype=np.int64)
        maybe = np.flatnonzero(np.isin(self.orders[:count, E_ACCT], accounts)).tolist()
        pairs = self.orders[maybe][:, [E_ACCT, E_NONCE]].tolist()
        for at, (account, nonce) in zip(maybe, pairs, strict=True):
            current[at] = at >= forgotten.get((account, nonce), 0)
        return np.flatnonzero(current)
