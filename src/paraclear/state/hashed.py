"""``HashedWrites``: part of a write set whose tree paths and value hashes were computed by
whoever wrote it (the compiled engine, from its tables), so that ``State.apply`` commits it
without encoding it again."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from paraclear.state.keys import Key

Rows = npt.NDArray[np.uint8]
Flags = npt.NDArray[np.bool_]
TreeRows = tuple[Rows, Rows, Flags]
"""Changes to a state tree as ``CompiledTree.update_rows`` takes them: row ``i`` sets the
tree path ``paths[i]`` to the value hash ``hashes[i]``, or deletes it where ``deleted[i]``."""


class HashedWrites(NamedTuple):
    """Entry ``i``: ``keys[i]`` of the write set, its tree path ``paths[i]`` (``key_path``),
    the BLAKE2b-256 of its value's canonical encoding ``hashes[i]``, or ``deleted[i]`` if
    the write set holds it absent. Each key at most once.

    ``whole``: its maker's word that ``keys`` are every key of the write set (it knows them
    to be distinct keys the write set holds, and counted as many), so that ``State.apply``
    need not look each one up (about 2 ms for a block's 30,000 keys); it then checks only
    the count."""

    keys: list[Key]
    paths: Rows
    hashes: Rows
    deleted: Flags
    whole: bool = False

    @classmethod
    def empty(cls) -> HashedWrites:
        rows = np.zeros((0, 32), dtype=np.uint8)
        return cls([], rows, rows, np.zeros(0, dtype=np.bool_))
