"""A forest: the arrays of several subtrees of one depth (``smt_kernel``'s pools) in one
numba typed list, so that one compiled call updates every subtree a batch touches.

A whole tree is 16 depth-1 subtrees (``compiled.CompiledTree``). A small block changes keys
in most of them, and calling the kernel once per subtree cost about 6 µs each (dispatch,
and boxing the arrays it returns) where hashing 5 keys costs about 20 µs. ``update_parts``
takes the rows of every touched part at once, and keeps each part's digest current.

Item ``n`` of a forest is part ``n``'s arrays in ``PART`` order; ``metas[n]`` its
``smt_kernel.META_*`` counters and ``digests[n]`` its digest (32 zero bytes when empty).
Only compiled code touches the list (a typed list's methods called from Python compile on
first use in every process); Python gets a part's arrays from ``part_arrays``.
"""

from __future__ import annotations

from typing import Any, Final

import numba
import numpy as np
from numba import types
from numba.typed import List

from paraclear.state.smt_kernel import (
    META_BRANCHES,
    META_LEAVES,
    META_ROOT,
    grown_list,
    grown_rows,
    update,
    workspace,
)

_types: Any = types
_INT32_ROWS: Final = types.Array(types.int32, 2, "C")
_INT32S: Final = types.Array(types.int32, 1, "C")
_BYTE_ROWS: Final = types.Array(types.uint8, 2, "C")
PART: Final = _types.Tuple(
    (_INT32_ROWS, _INT32S, _BYTE_ROWS, _INT32S, _BYTE_ROWS, _BYTE_ROWS, _BYTE_ROWS, _INT32S)
)
"""A part's arrays: ``kids``, ``count``, ``bdig``, ``bfree`` (branches), ``lpath``, ``lvh``,
``ldig``, ``lfree`` (leaves), as ``smt_kernel.update`` takes and returns them."""
MIN_ROWS: Final = 16

_jit: Any = numba.njit(nogil=True, cache=True, boundscheck=False)


@_jit
def new_forest(parts):  # type: ignore[no-untyped-def]
    """A forest of ``parts`` empty subtrees (``MIN_ROWS`` rows each)."""
    forest = List.empty_list(PART)
    rows = MIN_ROWS
    for _ in range(parts):
        forest.append(
            (
                np.zeros((rows, 16), dtype=np.int32),
                np.zeros(rows, dtype=np.int32),
                np.zeros((rows, 32), dtype=np.uint8),
                np.zeros(rows, dtype=np.int32),
                np.zeros((rows, 32), dtype=np.uint8),
                np.zeros((rows, 32), dtype=np.uint8),
                np.zeros((rows, 32), dtype=np.uint8),
                np.zeros(rows, dtype=np.int32),
            )
        )
    return forest


@_jit
def update_parts(forest, metas, digests, depth, cpath, cvh, cdel, parts, split):  # type: ignore[no-untyped-def]
    """Apply the change rows ``cpath``, ``cvh`` and ``cdel`` to the parts ``parts``, then set
    their digests. With ``split`` (a whole tree's 16 parts), row ``i`` goes to the part of
    its path's top nibble and rows of parts not in ``parts`` are left out; else every row
    goes to ``parts[0]``. Calls on distinct parts may run at once (the interpreter lock is
    released)."""
    m = len(cpath)
    order, starts = _route(cpath, split)
    work = workspace(m)
    for j in range(len(parts)):
        n = parts[j]
        lo, hi = (starts[n], starts[n + 1]) if split else (0, m)
        if lo == hi:
            continue
        arrays = update(forest[n], metas[n], depth, cpath, cvh, cdel, order[lo:hi], work)
        forest[n] = arrays
        ref = metas[n, META_ROOT]
        bdig, ldig = arrays[2], arrays[6]
        for i in range(32):
            digests[n, i] = bdig[ref - 1, i] if ref > 0 else ldig[-ref - 1, i] if ref < 0 else 0


@_jit
def _route(cpath, split):  # type: ignore[no-untyped-def]
    """The change rows in order (with ``split``: sorted by top nibble, stably) and where
    each nibble's run starts (``starts[n]:starts[n + 1]``)."""
    m = len(cpath)
    order = np.arange(m)
    starts = np.zeros(17, dtype=np.int64)
    if split:
        for i in range(m):
            starts[(cpath[i, 0] >> 4) + 1] += 1
        for n in range(16):
            starts[n + 1] += starts[n]
        fill = starts[:16].copy()
        for i in range(m):
            n = cpath[i, 0] >> 4
            order[fill[n]] = i
            fill[n] += 1
    return order, starts


@_jit
def copy_parts(forest, metas, parts):  # type: ignore[no-untyped-def]
    """A new forest of copies of parts ``parts``: their rows in use, in arrays as long as
    the originals (the rows past them zero), so that a copy's first commits need not grow
    them (a copy that had to grow in its first commit spent a fifth of it copying)."""
    out = List.empty_list(PART)
    for j in range(len(parts)):
        n = parts[j]
        kids, count, bdig, bfree, lpath, lvh, ldig, lfree = forest[n]
        b, le = metas[n, META_BRANCHES], metas[n, META_LEAVES]
        out.append(
            (
                grown_rows(kids[:b], len(kids)),
                grown_list(count[:b], len(count)),
                grown_rows(bdig[:b], len(bdig)),
                grown_list(bfree[:b], len(bfree)),
                grown_rows(lpath[:le], len(lpath)),
                grown_rows(lvh[:le], len(lvh)),
                grown_rows(ldig[:le], len(ldig)),
                grown_list(lfree[:le], len(lfree)),
            )
        )
    return out


@_jit
def part_arrays(forest, n):  # type: ignore[no-untyped-def]
    """Part ``n``'s arrays (``PART``), shared with the forest: for reading."""
    return forest[n]
