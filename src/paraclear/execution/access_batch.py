"""A block's access sets as lock ids in columns (``AccessBatch``), made in bulk.

The planner needs, per transaction, the locks it reads, writes and adds to, as integers. A
machine that can say that for a whole block at once offers ``access_batch`` (the
``BatchAccess`` protocol): typically from its transactions' fields, grouped by type, with
no object per transaction. Any other machine is asked transaction by transaction
(``StateMachine.access``) and its access sets are put in columns (``AccessBatch.of``).
Both must give the same sets; a machine's tests check its bulk path against ``access``.

Lock ids index a ``LockTable``: a lock gets the next id the first time it is seen and keeps
it, so a machine can keep one table from block to block and look its locks up by name,
with each lock's ``lock_nibble`` computed once.
"""

from __future__ import annotations

import threading
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Final, Generic, NamedTuple, Protocol, TypeVar

import numpy as np

from paraclear.state import AccessSet, Lock
from paraclear.state.codec import lock_nibble

TxT = TypeVar("TxT")
TxContra = TypeVar("TxContra", contravariant=True)

READ: Final = 0
WRITE: Final = 1
DELTA: Final = 2
"""Kinds of an entry: the lock is read, written, or only added to (a delta)."""


class _Family(dict[str, int]):
    """The ids of one family's locks by name; a name not seen before gets the next id."""

    def __init__(self, table: LockTable, family: str) -> None:
        super().__init__()
        self.table = table
        self.family = family

    def __missing__(self, name: str) -> int:
        table = self.table
        with table._mutex:
            found = self.get(name)
            if found is None:
                lock = (self.family, name)
                found = self[name] = len(table.locks)
                table._nibbles.append(lock_nibble(lock))
                table.locks.append(lock)
            return found


class LockTable:
    """Lock ids that last: each lock gets the next id the first time it is seen.

    Locks are ``(family, name)`` pairs; ``ids`` looks names of one family up in bulk. Safe to
    share between threads: new locks are added under a mutex, and ids never change."""

    def __init__(self) -> None:
        self.locks: list[Lock] = []
        """Lock of each id."""
        self._nibbles = array("B")
        self._families: dict[str, _Family] = {}
        self._mutex = threading.Lock()

    def id(self, lock: Lock) -> int:
        """The id of ``lock``."""
        return self._family(lock[0])[lock[1]]

    def ids(self, family: str, names: Iterable[str], count: int = -1) -> np.ndarray:
        """The ids of the locks ``(family, name)`` for each of ``names`` (int64; ``count``
        names if known)."""
        return np.fromiter(map(self._family(family).__getitem__, names), np.int64, count)

    @property
    def nibbles(self) -> np.ndarray:
        """``lock_nibble`` of each lock, by id (uint8)."""
        return np.frombuffer(self._nibbles, dtype=np.uint8) if self.locks else _NO_NIBBLES

    def _family(self, family: str) -> _Family:
        found = self._families.get(family)
        if found is None:
            with self._mutex:
                found = self._families.setdefault(family, _Family(self, family))
        return found


_NO_NIBBLES: Final = np.zeros(0, dtype=np.uint8)


@dataclass(frozen=True)
class AccessBatch:
    """The access sets of a block's transactions as lock ids in columns.

    Transaction ``i``'s entries are ``ids[pointers[i]:pointers[i+1]]`` with their
    ``kinds`` (``READ``, ``WRITE``, ``DELTA``), lock ids of ``table``. A transaction that
    declares nothing (it runs optimistically) has no entries and ``declared[i]`` False; the
    executor then predicts its set (``predicted[i]`` True)."""

    table: LockTable
    pointers: np.ndarray
    ids: np.ndarray
    kinds: np.ndarray
    declared: np.ndarray
    predicted: np.ndarray
    sets: Sequence[AccessSet | None] | None = None
    """The access sets it was made of, if it was (``of``)."""

    def __len__(self) -> int:
        return len(self.declared)

    @classmethod
    def of(
        cls, accesses: Sequence[AccessSet | None], table: LockTable | None = None
    ) -> AccessBatch:
        """The batch of these access sets (None: declares nothing), each set's locks in
        sorted order."""
        table = table or LockTable()
        lookup = table.id
        pointers = [0]
        ids: list[int] = []
        kinds: list[int] = []
        for access in accesses:
            if access is not None:
                for kind, locks in ((READ, access.reads), (WRITE, access.writes)):
                    ids += [lookup(lock) for lock in sorted(locks)]
                    kinds += [kind] * len(locks)
                ids += [lookup(lock) for lock in sorted(access.deltas)]
                kinds += [DELTA] * len(access.deltas)
            pointers.append(len(ids))
        return cls(
            table,
            np.array(pointers, dtype=np.int64),
            np.array(ids, dtype=np.int64),
            np.array(kinds, dtype=np.int8),
            np.array([access is not None for access in accesses], dtype=np.bool_),
            np.array([access is not None and access.predicted for access in accesses], np.bool_),
            list(accesses),
        )

    def access(self, index: int) -> AccessSet | None:
        """Transaction ``index``'s access set (None if it declares nothing)."""
        if self.sets is not None:
            return self.sets[index]
        if not self.declared[index] and not self.predicted[index]:
            return None
        lo, hi = self.pointers[index], self.pointers[index + 1]
        locks = self.table.locks
        parts: tuple[list[Lock], list[Lock], list[Lock]] = ([], [], [])
        for lock, kind in zip(self.ids[lo:hi].tolist(), self.kinds[lo:hi].tolist(), strict=True):
            parts[kind].append(locks[lock])
        return AccessSet(*parts, predicted=bool(self.predicted[index]))

    def replaced(self, accesses: Mapping[int, AccessSet]) -> AccessBatch:
        """This batch with the access sets of the transactions ``accesses`` names replaced
        (predictions of undeclared transactions, or wider ones)."""
        if not accesses:
            return self
        sets = [self.access(i) for i in range(len(self))]
        for index, access in accesses.items():
            sets[index] = access
        return AccessBatch.of(sets, self.table)


class BatchAccess(Protocol[TxContra]):
    """A machine that gives the access sets of many transactions at once."""

    def access_batch(self, txs: Sequence[TxContra]) -> AccessBatch:
        """The access sets of ``txs``, as ``access`` gives them one by one."""
        ...


def access_batch(machine: object, txs: Sequence[object]) -> AccessBatch:
    """The access sets of ``txs`` from ``machine``: in bulk if it offers ``access_batch``,
    else one ``access`` call per transaction."""
    bulk = getattr(machine, "access_batch", None)
    if bulk is not None:
        return bulk(txs)  # type: ignore[no-any-return]
    return AccessBatch.of([machine.access(tx) for tx in txs])  # type: ignore[attr-defined]


def assemble(
    table: LockTable,
    count: int,
    groups: Sequence[tuple[np.ndarray, Sequence[int], np.ndarray]],
    singles: Mapping[int, AccessSet | None],
) -> AccessBatch:
    """A batch of ``count`` transactions from ``groups`` of transactions with entries of the
    same shape, ``(indices, kinds, ids)`` with ``ids`` one row of ``len(kinds)`` lock ids per
    index, and ``singles``: transactions given by their access set (None: undeclared)."""
    sizes = np.zeros(count, dtype=np.int64)
    for indices, kinds, _ in groups:
        sizes[indices] = len(kinds)
    declared = np.ones(count, dtype=np.bool_)
    if singles:
        other = AccessBatch.of(list(singles.values()), table)
        positions = np.fromiter(singles, dtype=np.int64, count=len(singles))
        sizes[positions] = np.diff(other.pointers)
        declared[positions] = other.declared
    pointers = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(sizes, out=pointers[1:])
    ids = np.empty(pointers[-1], dtype=np.int64)
    entry_kinds = np.empty(pointers[-1], dtype=np.int8)
    for indices, kinds, rows in groups:
        places = pointers[indices][:, None] + np.arange(len(kinds))
        ids[places] = rows
        entry_kinds[places] = np.asarray(kinds, dtype=np.int8)
    if singles:
        starts = np.repeat(pointers[positions] - other.pointers[:-1], np.diff(other.pointers))
        places = starts + np.arange(len(other.ids))
        ids[places] = other.ids
        entry_kinds[places] = other.kinds
    return AccessBatch(table, pointers, ids, entry_kinds, declared, np.zeros(count, np.bool_))


class Slot(NamedTuple):
    """One entry of the access set of every transaction of a type: the lock
    ``(family, tx.<field>)``, or ``(family, name)`` when ``field`` is empty."""

    kind: int
    family: str
    field: str = ""
    name: str = ""


class ShapedAccess(Generic[TxT]):
    """The access sets of transactions in bulk, for a machine whose transaction types each
    fix the shape of their set (``shapes``: the slots of each type's set); other types are
    asked one by one (``access``). Lock ids from one ``LockTable`` kept for its lifetime.

    Per block: the transactions grouped by type, then per type and slot one lookup of the
    field over the group (C-level ``map`` calls) and one of the names in the table."""

    def __init__(
        self,
        shapes: Mapping[type, Sequence[Slot]],
        access: Callable[[TxT], AccessSet | None],
    ) -> None:
        self.table = LockTable()
        self.shapes = [tuple(shape) for shape in shapes.values()]
        self.access = access
        self._codes: defaultdict[type, int] = defaultdict(int)
        """1 + the index of each shaped type; 0 for any other (added as they are seen)."""
        self._codes.update((cls, code) for code, cls in enumerate(shapes, 1))

    def __call__(self, txs: Sequence[TxT]) -> AccessBatch:
        count = len(txs)
        codes = np.fromiter(map(self._codes.__getitem__, map(type, txs)), np.int64, count)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(self.shapes) + 2)).tolist()
        groups = []
        for code, shape in enumerate(self.shapes, 1):
            indices = order[bounds[code] : bounds[code + 1]]
            if len(indices):
                groups.append(
                    (indices, [slot.kind for slot in shape], self._rows(txs, indices, shape))
                )
        others = order[: bounds[1]].tolist()
        return assemble(self.table, count, groups, {i: self.access(txs[i]) for i in others})

    def _rows(self, txs: Sequence[TxT], indices: np.ndarray, shape: Sequence[Slot]) -> np.ndarray:
        """The lock ids of each slot (columns) of each transaction at ``indices`` (rows)."""
        group = [txs[i] for i in indices.tolist()]
        rows = np.empty((len(group), len(shape)), dtype=np.int64)
        for column, slot in enumerate(shape):
            if slot.field:
                names = map(attrgetter(slot.field), group)
                rows[:, column] = self.table.ids(slot.family, names, len(group))
            else:
                rows[:, column] = self.table.id((slot.family, slot.name))
        return rows
