"""``HashedWrites``: part of a write set whose tree paths and value hashes were computed by
whoever wrote it (the compiled engine, from its tables), so that ``State.apply`` commits it
without encoding it again; ``PickedKeys``: its keys as picks from lists of keys, made into
one list only if someone reads them all."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from itertools import accumulate, compress
from time import perf_counter
from typing import Final, NamedTuple, overload

import numpy as np
import numpy.typing as npt

from paraclear.state.keys import Key

Rows = npt.NDArray[np.uint8]
Flags = npt.NDArray[np.bool_]
Picks = npt.NDArray[np.int64]
FEW_PICKS: Final = 16
"""``PickedKeys.picked`` looks up fewer keys than this one at a time (a part at a time
cost ~3.8 µs for one key)."""
FEW_LISTED: Final = 64
"""``picked_keys`` lists fewer keys than this."""
TreeRows = tuple[Rows, Rows, Flags]
"""Changes to a state tree as ``CompiledTree.update_rows`` takes them: row ``i`` sets the
tree path ``paths[i]`` to the value hash ``hashes[i]``, or deletes it where ``deleted[i]``."""


class PickedKeys(Sequence[Key]):
    """The keys ``source[i] for i in picks`` of each part ``(source, picks)``, parts end to
    end (``picks`` None: the first ``count`` keys of ``source``, ``count`` its length now).

    Its length, one key, or a few (``picked``) cost nothing per key of the whole; reading
    them all (iterating, slicing) makes one list of them, once. A block's 43,000 keys made
    into lists cost 1.4 ms of a 14 ms commit's row hashing, and ``State.apply`` reads only
    the deleted ones. The sources must only be appended to while it is read (the tables'
    lists of keys, each row's key made once, are)."""

    __slots__ = ("_keys", "_parts", "_starts")

    def __init__(self, parts: Sequence[tuple[Sequence[Key], Picks | None]]) -> None:
        self._parts = [
            (source, np.arange(len(source)) if picks is None and len(source) > 0 else picks)
            for source, picks in parts
        ]
        lengths = (0 if picks is None else len(picks) for _, picks in self._parts)
        self._starts = list(accumulate(lengths, initial=0))
        self._keys: list[Key] | None = None

    def __len__(self) -> int:
        return self._starts[-1]

    @overload
    def __getitem__(self, at: int) -> Key: ...

    @overload
    def __getitem__(self, at: slice) -> list[Key]: ...

    def __getitem__(self, at: int | slice) -> Key | list[Key]:
        """Raises ``IndexError`` past either end."""
        if isinstance(at, slice):
            return self.keys()[at]
        if not -len(self) <= at < len(self):
            raise IndexError(f"key {at} of {len(self)}")
        return self._one(at % len(self))

    def _one(self, at: int) -> Key:
        """The key at position ``at`` (in range)."""
        part = bisect_right(self._starts, at) - 1
        source, picks = self._parts[part]
        assert picks is not None  # a part with a key has picks
        return source[int(picks[at - self._starts[part]])]

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys())

    def keys(self) -> list[Key]:
        """Every key, in order (one list, made the first time)."""
        if self._keys is None:
            made: list[Key] = []
            for source, picks in self._parts:
                if picks is not None:
                    made += map(source.__getitem__, picks.tolist())
            self._keys = made
        return self._keys

    def picked(self, at: Picks) -> list[Key]:
        """The keys at the ascending positions ``at`` (in range; a few looked up one at a
        time, more a part at a time)."""
        if self._keys is not None:
            return list(map(self._keys.__getitem__, at.tolist()))
        if len(at) < FEW_PICKS:
            return [self._one(position) for position in at.tolist()]
        keys: list[Key] = []
        cuts = np.searchsorted(at, self._starts).tolist()
        for (source, picks), start, first, last in zip(
            self._parts, self._starts, cuts, cuts[1:], strict=False
        ):
            if first < last and picks is not None:
                keys += map(source.__getitem__, picks[at[first:last] - start].tolist())
        return keys


def picked(keys: Sequence[Key], at: Picks) -> list[Key]:
    """The keys at the ascending positions ``at`` of ``keys`` (of ``PickedKeys``, looked up
    a part at a time)."""
    if isinstance(keys, PickedKeys):
        return keys.picked(at)
    return list(map(keys.__getitem__, at.tolist()))


def picked_keys(parts: Sequence[tuple[Sequence[Key], Picks | None]]) -> Sequence[Key]:
    """The keys ``PickedKeys(parts)`` picks: as one, or (fewer than ``FEW_LISTED`` keys) as
    the plain list, which a small block's commit makes and reads quicker (~3.4 against
    ~6.6 µs for 35 keys and their 5 deletions)."""
    total = sum(len(source) if picks is None else len(picks) for source, picks in parts)
    if total >= FEW_LISTED:
        return PickedKeys(parts)
    keys: list[Key] = []
    for source, picks in parts:
        keys += source if picks is None else map(source.__getitem__, picks.tolist())
    return keys


class HashedWrites(NamedTuple):
    """Entry ``i``: ``keys[i]`` of the write set, its tree path ``paths[i]`` (``key_path``),
    the BLAKE2b-256 of its value's canonical encoding ``hashes[i]``, or ``deleted[i]`` if
    the write set holds it absent. Each key at most once.

    ``whole``: its maker's word that ``keys`` are every key of the write set (it knows them
    to be distinct keys the write set holds, and counted as many), so that ``State.apply``
    need not look each one up (about 2 ms for a block's 30,000 keys); it then checks only
    the count. ``rest``: its maker's word that these are the other keys of the write set,
    each once (the few an oracle update wrote beside a block's order flow): ``State.apply``
    then takes them instead of looking up each of ``keys`` to find them (6 ms for a block
    of 10,000 fills' 43,000 keys), and checks the count."""

    keys: Sequence[Key]
    paths: Rows
    hashes: Rows
    deleted: Flags
    whole: bool = False
    rest: Sequence[Key] | None = None
    ready: Future[None] | None = None
    """Set while ``hashes`` and ``deleted`` are still being filled on another thread: read
    them only after ``settled`` (``State.apply`` sets the dictionary meanwhile)."""

    def settled(self) -> float:
        """Wait until ``hashes`` and ``deleted`` are filled (re-raising what filling them
        raised); the seconds waited."""
        if self.ready is None:
            return 0.0
        started = perf_counter()
        self.ready.result()
        return perf_counter() - started

    @classmethod
    def empty(cls) -> HashedWrites:
        rows = np.zeros((0, 32), dtype=np.uint8)
        return cls([], rows, rows, np.zeros(0, dtype=np.bool_))

    def gone(self) -> list[Key]:
        """The keys it deletes, in order (of ``PickedKeys``, only those are read); once
        ``settled``."""
        self.settled()
        if isinstance(self.keys, PickedKeys):
            return self.keys.picked(np.flatnonzero(self.deleted))
        return list(compress(self.keys, self.deleted.tolist()))
