"""The hot keys of a block committed from the tables: their tree paths and value hashes,
computed in compiled code from the rows (``encode.encode_rows``, then BLAKE2b), so that
``State.apply`` does not encode them again (``HashedWrites``).

``BlockRows`` follows, over a whole block, which keys were last written by a flush of the
tables (``Tables.flush``): only those are hashed from the rows. A key that anything else
writes later in the block (a reference handler's write routed into the tables, a peer's)
is forgotten here (``Tables.route`` calls ``forget``) and committed from its value as
before, so its hash is never stale. The derived list of open orders and the counters stay
on that path too.

Paths are cached per row: an account row's six key paths and a position row's path are
computed in one batch for the rows made since the last commit; an order's path is cached
by its key while the order is open.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import TYPE_CHECKING, Final

import numpy as np

from paraclear.clearing.kernels.encode import (
    W_COLLATERAL,
    W_DELETE,
    W_NONCE,
    W_ORDER,
    W_PORTFOLIO,
    W_POSITION,
    W_RESERVED,
    bound,
    encode_rows,
)
from paraclear.clearing.kernels.layout import (
    A_WIDE,
    ORDER_KINDS,
    P_ACCT,
    T_BANK,
    T_COLL,
    T_NONCE,
    T_ORDERS,
    T_PORTFOLIO,
    T_RESV,
    Int64Array,
)
from paraclear.state import Key
from paraclear.state.blake2b import DIGEST_SIZE, hash_many
from paraclear.state.codec import key_paths
from paraclear.state.hashed import HashedWrites, Rows

if TYPE_CHECKING:
    from paraclear.clearing.kernels.tables import Tables

ACCOUNT_FIELDS: Final = (
    (T_COLL, W_COLLATERAL),
    (T_NONCE, W_NONCE),
    (T_RESV, W_RESERVED),
    (T_BANK, W_DELETE),
    (T_PORTFOLIO, W_PORTFOLIO),
)
"""The account keys hashed from rows, in ``AccountKeys`` order: the bit a flush marks it
with, and what encodes it. The list of open orders (``T_ORDERS``) is not among them."""
FIELD_BITS: Final = {
    "collateral": T_COLL,
    "nonce": T_NONCE,
    "reserved": T_RESV,
    "bankruptcy": T_BANK,
    "portfolio": T_PORTFOLIO,
    "orders": T_ORDERS,
}
"""The bit of each account field (the third part of its key)."""
FIELD_MASKS: Final = np.array([bit for bit, _ in ACCOUNT_FIELDS], dtype=np.int64)
FIELD_KINDS: Final = np.array([kind for _, kind in ACCOUNT_FIELDS], dtype=np.int64)
MAX_CACHED_ORDERS: Final = 1 << 20
"""Order paths cached at most (an order closed by a reference handler stays cached until
the cache is emptied at this size)."""
_KIND_BYTES: Final = [kind.encode() for kind in ORDER_KINDS]
KIND_NAMES: Final = np.frombuffer(bytearray(b"".join(_KIND_BYTES)), dtype=np.uint8)
KIND_ENDS: Final = np.cumsum([0, *map(len, _KIND_BYTES)], dtype=np.int64)


def _array(values: Iterable[int], count: int) -> Int64Array:
    return np.fromiter(values, dtype=np.int64, count=count)


class BlockRows:
    """The rows of the keys whose latest write in the current block came from a flush."""

    __slots__ = ("accounts", "orders", "positions")

    def __init__(self) -> None:
        self.accounts: dict[int, int] = {}
        """Account row → ``T_*`` bits of its keys last written by a flush."""
        self.positions: set[int] = set()
        self.orders: dict[Key, int] = {}
        """Order key → its row if the flush left it open, -1 if it closed it."""

    def clear(self) -> None:
        """A new block: nothing written yet."""
        self.accounts.clear()
        self.positions.clear()
        self.orders.clear()

    def forget_account(self, row: int, field: str) -> None:
        """The account key ``field`` of ``row`` was written by someone else."""
        bits = self.accounts.get(row)
        if bits is not None:
            self.accounts[row] = bits & ~FIELD_BITS.get(field, 0)


class RowHasher:
    """Paths and names of a ``Tables``' rows as the compiled encoders and the tree take
    them, made once per row."""

    def __init__(self) -> None:
        self.account_paths = np.zeros((0, len(ACCOUNT_FIELDS), DIGEST_SIZE), dtype=np.uint8)
        self.position_paths = np.zeros((0, DIGEST_SIZE), dtype=np.uint8)
        self.order_paths: dict[Key, bytes] = {}
        self.names = np.zeros(1, dtype=np.uint8)
        self.name_ends = np.zeros(1, dtype=np.int64)
        self.ranks = np.zeros(0, dtype=np.int64)
        self.longest_name = 0

    def hashed(self, tables: Tables, block: BlockRows) -> HashedWrites:
        """The paths and value hashes of the keys ``block`` holds, from the rows (accounts
        that hold a value the tables cannot are left to ``State.apply``)."""
        self._catch_up(tables)
        accounts = _array(block.accounts.keys(), len(block.accounts))
        bits = _array(block.accounts.values(), len(block.accounts))
        keep = tables.accounts[accounts, A_WIDE] == 0
        chosen = (bits[keep, None] & FIELD_MASKS[None, :]) != 0
        at, slots = np.nonzero(chosen)  # each account's fields, in ``ACCOUNT_FIELDS`` order
        accounts = accounts[keep][at]
        names = tables.account_keys
        pairs = zip(accounts.tolist(), slots.tolist(), strict=True)
        keys = [names[row][slot] for row, slot in pairs]
        positions = _array(block.positions, len(block.positions))
        owners = tables.positions[positions, P_ACCT]
        positions = positions[tables.accounts[owners, A_WIDE] == 0]
        position_keys = tables.position_keys
        keys += [position_keys[row] for row in positions.tolist()]
        order_keys = list(block.orders)
        orders = _array(block.orders.values(), len(order_keys))
        keys += order_keys
        kinds = np.concatenate(
            (
                FIELD_KINDS[slots],
                np.full(len(positions), W_POSITION, dtype=np.int64),
                np.where(orders >= 0, W_ORDER, W_DELETE),
            )
        )
        rows = np.concatenate((accounts, positions, np.maximum(orders, 0)))
        paths = np.concatenate(
            (
                self.account_paths[accounts, slots],
                self.position_paths[positions],
                self._order_paths(order_keys, orders),
            )
        )
        hashes, deleted = self.hash_values(tables, kinds, rows)
        return HashedWrites(keys, paths, hashes, deleted)

    def encodings(
        self, tables: Tables, kinds: Int64Array, rows: Int64Array | list[int]
    ) -> list[bytes]:
        """The canonical encoding of each entry (empty: absent), for tests."""
        out, ends = self._encode(tables, kinds, rows)
        return [out[a:b].tobytes() for a, b in pairwise([0, *ends.tolist()])]

    def hash_values(
        self, tables: Tables, kinds: Int64Array, rows: Int64Array | list[int]
    ) -> tuple[Rows, np.ndarray]:
        """BLAKE2b-256 of each entry's encoding, and whether it is absent."""
        self._catch_up(tables)
        out, ends = self._encode(tables, kinds, rows)
        offsets = np.zeros(len(ends) + 1, dtype=np.int64)
        offsets[1:] = ends
        hashes = np.empty((len(ends), DIGEST_SIZE), dtype=np.uint8)
        hash_many(out, offsets, hashes)
        return hashes, offsets[1:] == offsets[:-1]

    def _encode(
        self, tables: Tables, kinds: Int64Array, rows: Int64Array | list[int]
    ) -> tuple[Rows, Int64Array]:
        self._catch_up(tables)
        entries = np.ascontiguousarray(rows, dtype=np.int64)
        out = np.empty(max(bound(kinds, entries, tables.accounts, self.longest_name), 1), np.uint8)
        ends = np.zeros(len(entries), dtype=np.int64)
        encode_rows(
            kinds, entries, tables.accounts, tables.account_positions, tables.positions,
            tables.orders, self.names, self.name_ends, self.ranks, KIND_NAMES, KIND_ENDS,
            out, ends,
        )  # fmt: skip
        return out, ends

    def _order_paths(self, keys: list[Key], rows: Int64Array) -> Rows:
        """The paths of orders ``keys``; those closed (``rows`` -1) leave the cache."""
        cache = self.order_paths
        if len(cache) > MAX_CACHED_ORDERS:  # orders closed by the reference handlers
            cache.clear()
        found = [cache.get(key) for key in keys]
        missing = [key for key, path in zip(keys, found, strict=True) if path is None]
        cache.update(zip(missing, key_paths(missing), strict=True))
        joined = b"".join([cache[key] for key in keys])
        for at in np.flatnonzero(rows < 0).tolist():
            del cache[keys[at]]
        return np.frombuffer(joined, dtype=np.uint8).reshape(len(keys), DIGEST_SIZE)

    def _catch_up(self, tables: Tables) -> None:
        """Paths of the rows made since, and the instrument names if any were added."""
        done = len(self.account_paths)
        if done < len(tables.account_keys):
            fresh = [key for names in tables.account_keys[done:] for key in names[:5]]
            paths = np.frombuffer(b"".join(key_paths(fresh)), dtype=np.uint8)
            shaped = paths.reshape(-1, len(ACCOUNT_FIELDS), DIGEST_SIZE)
            self.account_paths = np.concatenate((self.account_paths, shaped))
        done = len(self.position_paths)
        if done < len(tables.position_keys):
            paths = np.frombuffer(b"".join(key_paths(tables.position_keys[done:])), np.uint8)
            self.position_paths = np.concatenate(
                (self.position_paths, paths.reshape(-1, DIGEST_SIZE))
            )
        if len(self.ranks) < len(tables.instrument_names):
            self._name_table(tables.instrument_names)

    def _name_table(self, names: list[str]) -> None:
        encoded = [name.encode() for name in names]
        self.names = np.frombuffer(bytearray(b"".join(encoded) or b"\0"), dtype=np.uint8)
        self.name_ends = np.cumsum([0, *map(len, encoded)], dtype=np.int64)
        ranks = np.empty(len(names), dtype=np.int64)
        ranks[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
        self.ranks = ranks
        self.longest_name = max(map(len, encoded), default=0)
