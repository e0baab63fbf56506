"""The hot keys of a block committed from the tables: their tree paths and value hashes,
computed in compiled code from the rows (``encode.encode_rows``, then BLAKE2b eight
values of one length at a time, ``lanes.hash_lanes``; a block's large batch on
``compiled.helper``'s thread in one call, ``encode.encode_and_hash``, while ``State.apply``
sets the dictionary; other large batches in slices on the tree's threads), so that
``State.apply`` does not encode them again (``HashedWrites``). Their keys are handed over
as picks from the tables' lists of keys (``PickedKeys``; a small block's as a list):
``State.apply`` reads only the
deleted ones.

Only the keys whose latest write in the block was a flush of the tables are hashed from the
rows (``block_rows.BlockRows``); the others are committed from their values as before, so
a hash is never stale. An account's list of open orders is encoded from
``Tables.open_orders``; the counters a flush folded (open interest, order counts, the fee
pool, net deposits) from their values in the block's pending writes, in the same compiled
call.

Paths are cached per row: an account row's key paths and a position row's path are
computed in one batch, for the rows committed for the first time; an order row's path
likewise, with the account row and nonce it was computed for (a row freed and given to
another order computes its new order's path at its first commit); a counter's path once
per key. Positions' and orders' keys are encoded and hashed in compiled code
(``encode.encode_rows``) as the values are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from functools import partial
from itertools import chain, pairwise
from threading import Event
from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np

from paraclear.clearing.kernels.block_rows import E_ACCT, E_LIVE, E_NONCE, E_ROW, BlockRows
from paraclear.clearing.kernels.encode import (
    W_COLLATERAL,
    W_DELETE,
    W_INT,
    W_NONCE,
    W_OPEN_ORDERS,
    W_ORDER,
    W_ORDER_KEY,
    W_PORTFOLIO,
    W_POSITION,
    W_POSITION_KEY,
    W_RESERVED,
    bound,
    encode_and_hash,
)
from paraclear.clearing.kernels.flush import ACCOUNT_KEYS, SMALL
from paraclear.clearing.kernels.layout import (
    A_WIDE,
    ORDER_KINDS,
    P_ACCT,
    P_INST,
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
from paraclear.state.blake2b import DIGEST_SIZE
from paraclear.state.codec import key_paths, lock_nibble
from paraclear.state.compiled import PARALLEL_MIN_VALUES, helper, in_slices, threads
from paraclear.state.hashed import Flags, HashedWrites, Rows, picked_keys
from paraclear.state.keys import account_lock

if TYPE_CHECKING:
    from paraclear.clearing.kernels.tables import Tables

ACCOUNT_FIELDS: Final = (
    (T_COLL, W_COLLATERAL),
    (T_NONCE, W_NONCE),
    (T_RESV, W_RESERVED),
    (T_BANK, W_DELETE),
    (T_PORTFOLIO, W_PORTFOLIO),
    (T_ORDERS, W_OPEN_ORDERS),
)
"""The account keys hashed from rows, in ``AccountKeys`` order: the bit a flush marks it
with, and what encodes it."""
LISTS: Final = len(ACCOUNT_FIELDS) - 1
"""The slot of the list of open orders in ``ACCOUNT_FIELDS``."""
INT64: Final = (-(2**63), 2**63 - 1)
"""The values a counter may hold to be encoded from an ``int64`` (``W_INT``)."""
FIELD_MASKS: Final = np.array([bit for bit, _ in ACCOUNT_FIELDS], dtype=np.int64)
FIELD_KINDS: Final = np.array([kind for _, kind in ACCOUNT_FIELDS], dtype=np.int64)
_KIND_BYTES: Final = [kind.encode() for kind in ORDER_KINDS]
KIND_NAMES: Final = np.frombuffer(bytearray(b"".join(_KIND_BYTES)), dtype=np.uint8)
KIND_ENDS: Final = np.cumsum([0, *map(len, _KIND_BYTES)], dtype=np.int64)


def _array(values: Iterable[int], count: int) -> Int64Array:
    return np.fromiter(values, dtype=np.int64, count=count)


class _Entries(NamedTuple):
    """Entries for ``encode_rows`` (what, of which row, the item) with their keys (as
    ``PickedKeys`` takes them: the keys of ``source`` at ``picks``, or all of it) and
    paths."""

    source: Sequence[Key]
    picks: Int64Array | None
    kinds: Int64Array
    rows: Int64Array
    items: Int64Array
    paths: Rows


class _Range(NamedTuple):
    """Entries of a batch ready to be encoded and hashed: ``call`` does it, into ``out``
    (entry ``i`` at ``offsets[i] : offsets[i + 1]``) and the batch's hashes and flags."""

    call: Callable[[], None]
    out: Rows
    offsets: Int64Array


class RowHasher:
    """Paths and names of a ``Tables``' rows as the compiled encoders and the tree take
    them, made once per row."""

    def __init__(self) -> None:
        self.account_paths = np.zeros((0, len(ACCOUNT_FIELDS), DIGEST_SIZE), dtype=np.uint8)
        self.position_paths = np.zeros((0, DIGEST_SIZE), dtype=np.uint8)
        self.account_known = np.zeros(0, dtype=np.bool_)
        self.position_known = np.zeros(0, dtype=np.bool_)
        """Whether the paths of a row were computed (the first time it was committed)."""
        self.order_paths = np.zeros((0, DIGEST_SIZE), dtype=np.uint8)
        self.order_owners = np.zeros((0, 2), dtype=np.int64)
        self.order_known = np.zeros(0, dtype=np.bool_)
        """Each order row's cached path, if known, and the account row and nonce of the
        order it is the path of."""
        self.account_names = np.zeros(1, dtype=np.uint8)
        self.account_ends = np.zeros(1, dtype=np.int64)
        self.nibbles = np.zeros(0, dtype=np.int64)
        self.longest_account = 0
        """Each account row's name in UTF-8 (``account_ends[row]:account_ends[row + 1]``
        of ``account_names``) and its lock's top nibble (``codec.lock_nibble``)."""
        self.names = np.zeros(1, dtype=np.uint8)
        self.name_ends = np.zeros(1, dtype=np.int64)
        self.ranks = np.zeros(0, dtype=np.int64)
        self.longest_name = 0
        self.counter_paths: dict[Key, bytes] = {}

    def hashed(
        self,
        tables: Tables,
        block: BlockRows,
        data: Mapping[Key, object],
        pending: Mapping[Key, object],
        owned: Flags | None = None,
        *,
        aside: bool = False,
    ) -> HashedWrites:
        """The paths and value hashes of the keys ``block`` holds, from the rows and (for
        counters) ``pending`` (accounts that hold a value the tables cannot are left to
        ``State.apply``, and so are counters past 64 bits, and counters absent before the
        block and at its end). ``owned``: only the accounts (their fields, positions and
        orders) whose lock's top nibble it marks (a shard worker's).

        ``aside``: a large batch's values are encoded and hashed on ``compiled.helper``'s
        thread, in one compiled call, while the caller goes on (``HashedWrites.ready``:
        ``State.apply`` sets the dictionary meanwhile); the tables must not change until
        it is done."""
        self._catch_up(tables)
        mine = None if owned is None else owned[self.nibbles]
        accounts, lists = self._accounts(tables, block, mine)
        parts = (
            accounts,
            self._positions(tables, block, mine),
            self._orders(tables, block, mine),
            self._counters(block, data, pending),
        )
        keys = picked_keys([(part.source, part.picks) for part in parts])
        kinds = np.concatenate([part.kinds for part in parts])
        rows = np.concatenate([part.rows for part in parts])
        items = np.concatenate([part.items for part in parts])
        paths = np.concatenate([part.paths for part in parts])
        whole = len(keys) == len(pending)
        # distinct keys, each one the flush wrote into ``pending``: as many are all of them
        if aside and len(kinds) >= PARALLEL_MIN_VALUES and threads() > 1:
            hashes, deleted, ready = self._hash_aside(tables, kinds, rows, items, lists)
            return HashedWrites(keys, paths, hashes, deleted, whole=whole, ready=ready)
        hashes, deleted = self.hash_values(tables, kinds, rows, items, lists)
        return HashedWrites(keys, paths, hashes, deleted, whole=whole)

    def _hash_aside(
        self, tables: Tables, kinds: Int64Array, rows: Int64Array, items: Int64Array,
        lists: Int64Array,
    ) -> tuple[Rows, Flags, Future[None]]:  # fmt: skip
        """``hash_values`` on ``compiled.helper``'s thread, in one compiled call: the
        arrays it fills, and when they are filled. Returns once the thread is in the
        compiled call: it needs the interpreter lock to get there, and a caller going on
        in Python would otherwise hold it off for milliseconds."""
        hashes, deleted, ranged = self._ranges(tables, kinds, rows, items, lists)
        call = ranged(0, len(deleted)).call  # its buffers made here, the call there
        started = Event()

        def job() -> None:
            started.set()  # the caller's wait hands the lock over: the call releases it
            call()

        ready = helper().submit(job)
        started.wait()
        return hashes, deleted, ready

    def _accounts(
        self, tables: Tables, block: BlockRows, mine: Flags | None
    ) -> tuple[_Entries, Int64Array]:
        """The accounts' fields (of ``mine`` alone if given), in ``ACCOUNT_FIELDS`` order, and
        the lists of open orders they name (``encode_rows``' ``lists``)."""
        accounts = np.flatnonzero(block.accounts)
        if mine is not None:
            accounts = accounts[mine[accounts]]
        if len(accounts) < SMALL:
            return self._few_accounts(tables, block, accounts)
        bits = block.accounts[accounts]
        keep = tables.accounts[accounts, A_WIDE] == 0
        at, slots = np.nonzero((bits[keep, None] & FIELD_MASKS[None, :]) != 0)
        accounts = accounts[keep][at]
        at_keys = accounts * ACCOUNT_KEYS + slots
        listed = tables.open_orders
        lists, starts = _flat(list(map(listed.__getitem__, accounts[slots == LISTS].tolist())))
        items = np.zeros(len(accounts), dtype=np.int64)
        items[slots == LISTS] = starts
        paths = self._account_paths(tables, accounts)[accounts, slots]
        entries = _Entries(tables.account_keys, at_keys, FIELD_KINDS[slots], accounts, items, paths)
        return entries, lists

    def _few_accounts(
        self, tables: Tables, block: BlockRows, accounts: Int64Array
    ) -> tuple[_Entries, Int64Array]:
        """``_accounts`` one row at a time (fewer than ``SMALL``), the same entries."""
        rows: list[int] = []
        slots: list[int] = []
        listed: list[list[int]] = []
        for row, bits, wide in zip(
            accounts.tolist(), block.accounts[accounts].tolist(),
            tables.accounts[accounts, A_WIDE].tolist(), strict=True,
        ):  # fmt: skip
            for slot, (bit, _) in enumerate(ACCOUNT_FIELDS):
                if bits & bit and not wide:
                    rows.append(row)
                    slots.append(slot)
            if bits & ACCOUNT_FIELDS[LISTS][0] and not wide:
                listed.append(tables.open_orders[row])
        lists, starts = _flat(listed)
        at, fields = np.array(rows, dtype=np.int64), np.array(slots, dtype=np.int64)
        picks = at * ACCOUNT_KEYS + fields
        items = np.zeros(len(rows), dtype=np.int64)
        items[fields == LISTS] = starts
        paths = self._account_paths(tables, at)[at, fields]
        return _Entries(tables.account_keys, picks, FIELD_KINDS[fields], at, items, paths), lists

    def _positions(self, tables: Tables, block: BlockRows, mine: Flags | None) -> _Entries:
        positions = _array(block.positions, len(block.positions))
        owners = tables.positions[positions, P_ACCT]
        keep = tables.accounts[owners, A_WIDE] == 0
        positions = positions[keep if mine is None else keep & mine[owners]]
        kinds = np.full(len(positions), W_POSITION, dtype=np.int64)
        paths = self._position_paths(tables, positions)[positions]
        zeros = np.zeros_like(positions)
        return _Entries(tables.position_keys, positions, kinds, positions, zeros, paths)

    def _orders(self, tables: Tables, block: BlockRows, mine: Flags | None) -> _Entries:
        """Orders left open (``W_ORDER``) or closed (``W_DELETE``)."""
        current = block.current_orders()
        if mine is not None:
            current = current[mine[block.orders[current, E_ACCT]]]
        entries = block.orders[current]
        rows, owners = entries[:, E_ROW], entries[:, [E_ACCT, E_NONCE]]
        kinds = np.where(entries[:, E_LIVE] == 1, W_ORDER, W_DELETE)
        paths = self._order_paths(tables, rows, owners)
        return _Entries(block.order_keys, current, kinds, rows, np.zeros_like(rows), paths)

    def _counters(
        self, block: BlockRows, data: Mapping[Key, object], pending: Mapping[Key, object]
    ) -> _Entries:
        """Counters, each value its entry's item (it names no row)."""
        keys = _counted(block.counters, data, pending)
        values = np.array([pending[key] for key in keys], dtype=np.int64)
        kinds = np.full(len(keys), W_INT, dtype=np.int64)
        paths = self._counter_paths(keys)
        return _Entries(keys, None, kinds, np.zeros_like(values), values, paths)

    def encodings(
        self,
        tables: Tables,
        kinds: Int64Array,
        rows: Int64Array | list[int],
        items: Int64Array | None = None,
        lists: Int64Array | None = None,
    ) -> list[bytes]:
        """The canonical encoding of each entry (empty: absent), for tests."""
        _, _, ranged = self._ranges(tables, kinds, rows, items, lists)
        done = ranged(0, len(kinds))
        done.call()
        return [done.out[a:b].tobytes() for a, b in pairwise(done.offsets.tolist())]

    def hash_values(
        self,
        tables: Tables,
        kinds: Int64Array,
        rows: Int64Array | list[int],
        items: Int64Array | None = None,
        lists: Int64Array | None = None,
    ) -> tuple[Rows, Flags]:
        """BLAKE2b-256 of each entry's encoding, and whether it is absent (``items`` and
        ``lists`` as ``encode_rows`` takes them); large batches in slices on the tree's
        threads (``compiled.in_slices``), one compiled call a slice."""
        hashes, deleted, ranged = self._ranges(tables, kinds, rows, items, lists)
        in_slices(lambda start, end: ranged(start, end).call(), len(deleted))
        return hashes, deleted

    def _ranges(
        self,
        tables: Tables,
        kinds: Int64Array,
        rows: Int64Array | list[int],
        items: Int64Array | None,
        lists: Int64Array | None,
    ) -> tuple[Rows, Flags, Callable[[int, int], _Range]]:
        """The arrays the entries' hashes and deletion flags go in, and for entries
        ``start:end`` a ``_Range``: the buffer their encodings go in (made in the calling
        thread) and the one compiled call (``encode_and_hash``) that encodes them, hashes
        them and flags the absent ones."""
        self._catch_up(tables)
        kinds = np.ascontiguousarray(kinds)
        entries = np.ascontiguousarray(rows, dtype=np.int64)
        items = np.zeros(len(entries), np.int64) if items is None else np.ascontiguousarray(items)
        lists = np.zeros(0, dtype=np.int64) if lists is None else lists
        hashes = np.empty((len(entries), DIGEST_SIZE), dtype=np.uint8)
        deleted = np.empty(len(entries), dtype=np.bool_)
        longest = self.longest_name, self.longest_account

        def ranged(start: int, end: int) -> _Range:
            size = bound(kinds[start:end], entries[start:end], tables.accounts, *longest, lists)
            out = np.empty(max(size, 1), np.uint8)
            offsets = np.zeros(end - start + 1, dtype=np.int64)
            return _Range(
                partial(
                    encode_and_hash, kinds[start:end], entries[start:end], items[start:end],
                    tables.accounts, tables.account_positions, tables.positions, tables.orders,
                    self.names, self.name_ends, self.ranks, KIND_NAMES, KIND_ENDS,
                    self.account_names, self.account_ends, lists, out, offsets,
                    hashes[start:end], deleted[start:end],
                ),
                out,
                offsets,
            )  # fmt: skip

        return hashes, deleted, ranged

    def _catch_up(self, tables: Tables) -> None:
        """The names of the account and instrument rows made since."""
        if len(self.nibbles) < len(tables.account_names):
            self._account_names(tables.account_names)
        if len(self.ranks) < len(tables.instrument_names):
            self._name_table(tables.instrument_names)

    def _account_paths(self, tables: Tables, rows: Int64Array) -> Rows:
        """The paths of the accounts' keys, those of ``rows`` computed if not yet."""
        count = len(tables.account_keys) // ACCOUNT_KEYS
        self.account_paths = grown(self.account_paths, count)
        self.account_known = grown(self.account_known, count)
        missing = _unknown(self.account_known, rows)
        if len(missing):
            slots = missing[:, None] * ACCOUNT_KEYS + np.arange(len(ACCOUNT_FIELDS))
            keys = list(map(tables.account_keys.__getitem__, slots.ravel().tolist()))
            paths = np.frombuffer(b"".join(key_paths(keys)), dtype=np.uint8)
            self.account_paths[missing] = paths.reshape(-1, len(ACCOUNT_FIELDS), DIGEST_SIZE)
            self.account_known[missing] = True
        return self.account_paths

    def _position_paths(self, tables: Tables, rows: Int64Array) -> Rows:
        """The paths of the positions' keys, those of ``rows`` computed if not yet."""
        self._catch_up(tables)
        count = len(tables.position_keys)
        self.position_paths = grown(self.position_paths, count)
        self.position_known = grown(self.position_known, count)
        missing = _unknown(self.position_known, rows)
        if len(missing):
            owners = tables.positions[missing, P_ACCT]
            held = tables.positions[missing, P_INST]
            self.position_paths[missing] = self._child_paths(tables, owners, held, False)
            self.position_known[missing] = True
        return self.position_paths

    def _order_paths(self, tables: Tables, rows: Int64Array, owners: Int64Array) -> Rows:
        """The paths of the orders of ``rows`` (``owners``: account row and nonce of each),
        from a row's cache if it was computed for the same order (a row closed in the block
        may have been given to another order since)."""
        count = tables.order_count
        self.order_paths = grown(self.order_paths, count)
        self.order_owners = grown(self.order_owners, count)
        self.order_known = grown(self.order_known, count)
        paths = self.order_paths[rows]
        if len(rows) < SMALL:
            missing = np.array(self._stale_orders(rows, owners), dtype=np.int64)
        else:
            same = (self.order_owners[rows] == owners).all(axis=1) & self.order_known[rows]
            missing = np.flatnonzero(~same)
        if len(missing):
            accounts, nonces = owners[missing].T
            paths[missing] = self._child_paths(tables, accounts, nonces, True)
            kept, first = np.unique(rows[missing], return_index=True)
            self.order_paths[kept] = paths[missing[first]]
            self.order_owners[kept] = owners[missing[first]]
            self.order_known[kept] = True
        return paths

    def _stale_orders(self, rows: Int64Array, owners: Int64Array) -> list[int]:
        """Which of the order ``rows`` (``owners``: account row and nonce of each) have no
        cached path for that order, one row at a time."""
        known, cached = self.order_known, self.order_owners
        return [
            at
            for at, (row, owner) in enumerate(zip(rows.tolist(), owners.tolist(), strict=True))
            if not known[row] or cached[row].tolist() != owner
        ]

    def _counter_paths(self, keys: list[Key]) -> Rows:
        """The paths of counters' keys (cached by key)."""
        known = self.counter_paths
        fresh = [key for key in keys if key not in known]
        if fresh:  # ``key_paths`` of nothing still costs its array calls
            known.update(zip(fresh, key_paths(fresh), strict=True))
        joined = b"".join([known[key] for key in keys])
        return np.frombuffer(joined, dtype=np.uint8).reshape(len(keys), DIGEST_SIZE)

    def _child_paths(
        self, tables: Tables, accounts: Int64Array, items: Int64Array, orders: bool
    ) -> Rows:
        """The paths of orders (``items``: nonces) or positions (instrument rows) of
        ``accounts``: their keys encoded in compiled code (``encode_rows``), hashed, and
        the lock's top nibble put on top, as ``codec.key_path`` does."""
        kinds = np.full(len(accounts), W_ORDER_KEY if orders else W_POSITION_KEY, np.int64)
        paths, _ = self.hash_values(tables, kinds, accounts, items)
        paths[:, 0] = (self.nibbles[accounts] << 4).astype(np.uint8) | (paths[:, 0] & 0x0F)
        return paths

    def _account_names(self, names: list[str]) -> None:
        done = len(self.nibbles)
        encoded = [name.encode() for name in names[done:]]
        joined = bytearray(self.account_names[: self.account_ends[-1]].tobytes())
        joined += b"".join(encoded)
        self.account_names = np.frombuffer(joined or bytearray(1), dtype=np.uint8)
        ends = np.cumsum([len(name) for name in encoded], dtype=np.int64) + self.account_ends[-1]
        self.account_ends = np.concatenate((self.account_ends, ends))
        self.longest_account = max([self.longest_account, *map(len, encoded)])
        nibbles = [lock_nibble(account_lock(name)) for name in names[done:]]
        self.nibbles = np.concatenate((self.nibbles, np.array(nibbles, dtype=np.int64)))

    def _name_table(self, names: list[str]) -> None:
        encoded = [name.encode() for name in names]
        self.names = np.frombuffer(bytearray(b"".join(encoded) or b"\0"), dtype=np.uint8)
        self.name_ends = np.cumsum([0, *map(len, encoded)], dtype=np.int64)
        ranks = np.empty(len(names), dtype=np.int64)
        ranks[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
        self.ranks = ranks
        self.longest_name = max(map(len, encoded), default=0)


def _unknown(known: np.ndarray, rows: Int64Array) -> Int64Array:
    """The distinct rows of ``rows`` not ``known``, ascending (one at a time below
    ``SMALL``)."""
    if len(rows) < SMALL:
        return np.array(sorted({row for row in rows.tolist() if not known[row]}), np.int64)
    return np.unique(rows[~known[rows]])


def _flat(lists: Sequence[list[int]]) -> tuple[Int64Array, Int64Array]:
    """``lists`` laid end to end, each its length then its items, and where each starts."""
    if len(lists) < SMALL:
        laid: list[int] = []
        begins = []
        for held in lists:
            begins.append(len(laid))
            laid.append(len(held))
            laid += held
        return np.array(laid, dtype=np.int64), np.array(begins, dtype=np.int64)
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    starts = np.cumsum(lengths + 1) - (lengths + 1)
    flat = np.empty(len(lists) + int(lengths.sum()), dtype=np.int64)
    items = np.ones(len(flat), dtype=np.bool_)
    items[starts] = False
    flat[starts] = lengths
    flat[items] = np.fromiter(
        chain.from_iterable(lists), dtype=np.int64, count=len(flat) - len(lists)
    )
    return flat, starts


def _counted(
    counters: Iterable[Key], data: Mapping[Key, object], pending: Mapping[Key, object]
) -> list[Key]:
    """The counters to commit from their values: 64-bit ones present before the block or
    at its end (sorted, for one order on every node)."""
    low, high = INT64
    return sorted(
        key
        for key in counters
        if type(value := pending[key]) is int and low <= value <= high and (value or key in data)
    )


def warm() -> None:
    """Compile (or load from numba's cache) the encoders, as ``hashed`` calls them."""
    from paraclear.clearing.kernels.tables import Tables
    from paraclear.clearing.margin import StandardMargin

    tables = Tables(StandardMargin())
    tables.hasher.hashed(tables, tables.block_rows, {}, {})  # hash_values: encode_and_hash
