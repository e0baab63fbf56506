"""The compiled batch update of one sparse Merkle (sub)tree held in arrays.

Same definition as ``smt`` (radix 16, ``leaf = H(0x00 ‖ path ‖ value_hash)``,
``branch = H(0x01 ‖ 16 child digests)``, a subtree of one leaf collapses to it); this is the
same algorithm as ``smt._update``, written as an explicit-stack walk over arrays so that it
runs without the interpreter and without the GIL.

A tree is a pool of arrays (``forest.PART``). A node is referred to by an ``int32`` *ref*:
``0`` is empty, ``b + 1`` is branch ``b`` and ``-(l + 1)`` is leaf ``l``. Branch ``b`` has
its 16 child refs in ``kids[b]``, its number of non-empty children in ``count[b]`` and its
digest in ``bdig[b]``; leaf ``l`` has ``lpath[l]``, ``lvh[l]`` (value hash) and ``ldig[l]``.
Freed rows go on the ``bfree`` / ``lfree`` stacks and are reused. ``meta`` holds the root
ref and the counters (``META_*``). The arrays grow (doubling) in ``update``, between
stretches of the walk (which assigns no array: see ``update``), and ``update`` returns them.

A batch is the rows ``idx`` of the change arrays ``cpath`` (``uint8[k, 32]``), ``cvh`` and
``cdel`` (delete when true); a path given twice keeps its last row, as in ``smt``. Each
branch on a changed path is visited once; the nodes to rehash are listed on the way back up
and hashed once the walk is done (``smt_hash.hash_dirty``), ``LANES`` messages at a time:
the changed leaves first, then the dirty branches level by level, deepest first, so that a
branch is hashed after its children. A change
that sets a leaf to the value hash it already holds (or deletes a path that is absent)
changes nothing: the leaf is not rehashed, and neither is a branch none of whose subtrees
changed.

Bounds: depths are at most 64 (a branch at depth ``d`` has two leaves differing below
nibble ``d``, so ``d <= 63``); row counts stay below ``MAX_ROWS`` = 2**31 - 2 so that refs fit
``int32`` (the kernel raises ``OverflowError`` rather than wrap); every other integer is an
``int64`` index bounded by an array length.
"""

from __future__ import annotations

from typing import Any, Final

import numba
import numpy as np

from paraclear.borrowed import borrowed
from paraclear.jit import helper
from paraclear.state.blake2b import LANES
from paraclear.state.smt_hash import hash_dirty

META_ROOT: Final = 0
META_BRANCHES: Final = 1  # rows of kids/bdig in use or freed (high-water mark)
META_LEAVES: Final = 2
META_BFREE: Final = 3  # entries on the bfree stack
META_LFREE: Final = 4
META_SIZE: Final = 8
# Where a walk stopped (``update``'s ``walk`` array): its stack's top, the leaves and
# branches to hash so far, the pending call, whether it is pending and its items made, and
# at the end the new root.
W_SP, W_NL, W_NB, W_CALL, W_REF, W_DEPTH, W_LO, W_HI = 0, 1, 2, 3, 4, 5, 6, 7
W_PENDING, W_PREPARED, W_RESULT, W_FIELDS = 8, 9, 10, 11
_DONE, _NEED_LEAF, _NEED_BRANCH, _NEED_LIST = 0, 1, 2, 3
"""What ``_walk`` returns: done, or first a leaf row, a branch row, room in the list of
branches to hash."""
MAX_ROWS: Final = 2**31 - 2
MAX_DEPTH: Final = 64
_UPDATE: Final = 0
_BUILD: Final = 1

_jit = numba.njit(nogil=True, cache=True, boundscheck=False)
_helper: Any = helper(boundscheck=False)


@_jit
def _rows_after(used, limit):  # type: ignore[no-untyped-def]
    """How many rows arrays holding ``used`` rows grow to: about twice, at most ``limit``
    (``MAX_ROWS``); ``OverflowError`` when they already hold ``limit``."""
    if used >= limit:
        raise OverflowError("sparse Merkle tree: more than 2**31 - 2 rows in a subtree")
    return min(2 * used + 16, limit)


@_jit
def grown_rows(array, rows):  # type: ignore[no-untyped-def]
    """A copy of the ``(n, 32)`` or ``(n, 16)`` array ``array`` with ``rows`` rows (> n)."""
    out = np.zeros((rows, array.shape[1]), dtype=array.dtype)
    for i in range(array.shape[0]):
        for j in range(array.shape[1]):
            out[i, j] = array[i, j]
    return out


@_jit
def grown_list(array, rows):  # type: ignore[no-untyped-def]
    """A copy of the ``int32`` vector ``array`` with ``rows`` entries (more than it has)."""
    out = np.zeros(rows, dtype=np.int32)
    for i in range(array.shape[0]):
        out[i] = array[i]
    return out


@_helper
def _take(free, meta, free_slot, used_slot):  # type: ignore[no-untyped-def]
    """A row for a new node: the last one freed, else the next never used (which may be one
    past the arrays' end: the caller then grows them)."""
    if meta[free_slot] > 0:
        meta[free_slot] -= 1
        return np.int64(free[meta[free_slot]])
    meta[used_slot] += 1
    return meta[used_slot] - 1


@_helper
def _give(free, meta, free_slot, row):  # type: ignore[no-untyped-def]
    """Put ``row`` back on the free stack (it has room: it holds each row at most once)."""
    free[meta[free_slot]] = row
    meta[free_slot] += 1


@_helper
def _partition(items, tmp, lo, hi, depth, paths_c, paths_l, frames, sp, fill):  # type: ignore[no-untyped-def]
    """Stable counting sort of ``items[lo:hi]`` by nibble ``depth`` of each item's path;
    ``frames[sp, n]:frames[sp, n + 1]`` is then nibble ``n``'s run. Item ``i >= 0`` is change
    row ``i`` (path in ``paths_c``), item ``i < 0`` is leaf ``-(i + 1)`` (path in
    ``paths_l``); ``depth`` is below ``MAX_DEPTH`` (the caller checks).

    Called once a node the walk visits, so it creates no array references of its own: no
    views (rows are indexed, never sliced) and no exception (a raise path makes numba keep
    a reference count's increment and decrement of every array argument, calls into its
    runtime that were a third of the walk)."""
    column, shift = depth >> 1, 4 if (depth & 1) == 0 else 0
    for n in range(17):
        frames[sp, n] = 0
    for j in range(lo, hi):
        item = items[j]
        byte = paths_c[item, column] if item >= 0 else paths_l[-item - 1, column]
        frames[sp, ((byte >> shift) & 15) + 1] += 1
    frames[sp, 0] = lo
    for n in range(16):
        frames[sp, n + 1] += frames[sp, n]
    for n in range(16):
        fill[n] = frames[sp, n]
    for j in range(lo, hi):
        item = items[j]
        byte = paths_c[item, column] if item >= 0 else paths_l[-item - 1, column]
        n = (byte >> shift) & 15
        tmp[fill[n]] = item
        fill[n] += 1
    for j in range(lo, hi):
        items[j] = tmp[j]


@_helper
def _same_path(items, lo, hi, paths_c, paths_l):  # type: ignore[no-untyped-def]
    """Whether every item of ``items[lo:hi]`` has the same path."""
    first = items[lo]
    for j in range(lo + 1, hi):
        item = items[j]
        for i in range(32):
            a = paths_c[first, i] if first >= 0 else paths_l[-first - 1, i]
            b = paths_c[item, i] if item >= 0 else paths_l[-item - 1, i]
            if a != b:
                return False
    return True


@_helper
def _same_row(a, i, b, j):  # type: ignore[no-untyped-def]
    """Whether row ``i`` of ``a`` equals row ``j`` of ``b`` (32 bytes each)."""
    for k in range(32):  # noqa: SIM110 - numba compiles loops, not generator expressions
        if a[i, k] != b[j, k]:
            return False
    return True


@_helper
def _grown_pair(a, b, n):  # type: ignore[no-untyped-def]
    """Copies of ``a`` and ``b`` (``n`` rows each, full) twice as long and more."""
    grown_a = np.empty(2 * n + 16, dtype=np.int64)
    grown_b = np.empty(2 * n + 16, dtype=np.int64)
    for i in range(n):  # a loop: a slice assignment compiles numba's shape-error message
        grown_a[i], grown_b[i] = a[i], b[i]
    return grown_a, grown_b


@_helper
def workspace(rows):  # type: ignore[no-untyped-def]
    """The scratch arrays of ``update`` for batches of up to ``rows`` change rows (one set
    serves any number of calls, one after the other)."""
    levels = MAX_DEPTH + 2
    return (
        np.empty(rows + 1, dtype=np.int64),  # tmp
        np.empty(rows + 1, dtype=np.int64),  # items
        np.empty(rows + 1, dtype=np.int64),  # leaves to hash (one per path at most)
        np.empty(2 * rows + 16, dtype=np.int64),  # branches to hash (grown if need be)
        np.empty(2 * rows + 16, dtype=np.int64),  # their depths (likewise)
        np.empty(16, dtype=np.int64),  # fill
        np.empty(levels, dtype=np.int64),  # f_mode
        np.empty(levels, dtype=np.int64),  # f_ref: update: branch row; build: unused
        np.empty(levels, dtype=np.int64),  # f_depth
        np.empty(levels, dtype=np.int64),  # f_next
        np.empty(levels, dtype=np.int64),  # f_cur
        np.empty((levels, 17), dtype=np.int64),  # f_starts
        np.empty((levels, 16), dtype=np.int32),  # f_kids
        np.empty(levels, dtype=np.bool_),  # f_dirty: whether a child's subtree changed
        (
            np.zeros((8, LANES), dtype=np.uint64),  # lane states
            np.zeros((16, LANES), dtype=np.uint64),  # lane message words
            np.zeros((64, LANES), dtype=np.uint64),  # a branch's child words, by lane
        ),
        np.zeros(W_FIELDS, dtype=np.int64),  # walk: where the walk stopped (``update``)
    )


@_helper
def update(arrays, meta, depth0, cpath, cvh, cdel, idx, work):  # type: ignore[no-untyped-def]
    """Apply the changes ``idx`` to the tree at depth ``depth0`` whose ``arrays`` are
    ``(kids, count, bdig, bfree, lpath, lvh, ldig, lfree)``; return them (grown where they
    had to); ``meta`` is updated in place. ``work``: a ``workspace`` of ``len(idx)`` rows
    or more (every frame is set when it is pushed).

    The walk (``_walk``) never grows an array: when it needs a row that is not there it
    stops, the arrays grow here and it goes on where it stopped. An array variable that a
    loop may assign again costs numba a reference count's increment and decrement on every
    pass (calls into its runtime that were a third of a block's tree update)."""
    kids, count, bdig, bfree, lpath, lvh, ldig, lfree = arrays
    if len(idx) == 0:
        return kids, count, bdig, bfree, lpath, lvh, ldig, lfree
    branches, depths, walk = work[3], work[4], work[15]
    _start_walk(walk, meta[META_ROOT], depth0, len(idx))
    while True:
        tree = (kids, count, bdig, bfree, lpath, lvh, ldig, lfree)
        need = _walk(tree, meta, cpath, cvh, cdel, idx, work, branches, depths, walk)
        if need == _NEED_LEAF:
            rows = _rows_after(len(lpath), MAX_ROWS)
            lpath, lvh = grown_rows(lpath, rows), grown_rows(lvh, rows)
            ldig, lfree = grown_rows(ldig, rows), grown_list(lfree, rows)
        elif need == _NEED_BRANCH:
            rows = _rows_after(len(kids), MAX_ROWS)
            kids, count = grown_rows(kids, rows), grown_list(count, rows)
            bdig, bfree = grown_rows(bdig, rows), grown_list(bfree, rows)
        elif need == _NEED_LIST:
            branches, depths = _grown_pair(branches, depths, len(branches))
        else:
            break
    nl, nb = walk[W_NL], walk[W_NB]
    hash_dirty(kids, bdig, lpath, lvh, ldig, work[2], nl, branches, depths, nb, work[14])
    meta[META_ROOT] = walk[W_RESULT]
    return kids, count, bdig, bfree, lpath, lvh, ldig, lfree


@_helper
def _start_walk(walk, root, depth0, m):  # type: ignore[no-untyped-def]
    """Set ``walk`` to the start of a walk applying ``m`` changes from ``root``."""
    walk[W_SP], walk[W_NL], walk[W_NB] = -1, 0, 0
    walk[W_CALL], walk[W_REF], walk[W_DEPTH], walk[W_LO], walk[W_HI] = _UPDATE, root, depth0, 0, m
    walk[W_PENDING], walk[W_PREPARED], walk[W_RESULT] = 1, 0, 0


@_helper
def _walk(tree, meta, cpath, cvh, cdel, idx, work, branches, depths, walk):  # type: ignore[no-untyped-def]
    """``update``'s walk from where ``walk`` holds it: return ``_DONE`` (the new root and
    the rows to hash in ``walk``), or what it needs more of first (``_NEED_LEAF``,
    ``_NEED_BRANCH``, ``_NEED_LIST``), having changed nothing since the point it saved in
    ``walk`` to go on from. Assigns no array variable (see ``update``); the arrays it
    passes on are ``borrowed`` (``update`` holds them)."""
    kids, count, bfree = borrowed(tree[0]), borrowed(tree[1]), borrowed(tree[3])
    lpath, lvh, lfree = borrowed(tree[4]), borrowed(tree[5]), borrowed(tree[7])
    meta, cpath, cvh, cdel = borrowed(meta), borrowed(cpath), borrowed(cvh), borrowed(cdel)
    idx, branches, depths = borrowed(idx), borrowed(branches), borrowed(depths)
    tmp, items, leaves = borrowed(work[0]), borrowed(work[1]), borrowed(work[2])
    fill, f_mode, f_ref = borrowed(work[5]), borrowed(work[6]), borrowed(work[7])
    f_depth, f_next, f_cur = borrowed(work[8]), borrowed(work[9]), borrowed(work[10])
    f_starts, f_kids, f_dirty = borrowed(work[11]), borrowed(work[12]), borrowed(work[13])
    nl, nb = walk[W_NL], walk[W_NB]  # leaves and branches to hash once the walk is done
    sp = walk[W_SP]  # top of the frame stack
    # "call" = (mode, ref, depth, lo, hi): the subtree to produce next; result goes to the
    # frame below (or becomes the root when the stack is empty).
    call, c_ref, c_depth = walk[W_CALL], walk[W_REF], walk[W_DEPTH]
    c_lo, c_hi = walk[W_LO], walk[W_HI]
    pending, prepared = walk[W_PENDING] != 0, walk[W_PREPARED] != 0
    result, changed = 0, False
    while True:
        if pending:
            pending = False
            resumed, prepared = prepared, False  # going on with a path's items, made before
            if not resumed and call == _UPDATE and c_ref > 0:
                sp += 1
                f_mode[sp], f_ref[sp], f_depth[sp], f_next[sp] = _UPDATE, c_ref - 1, c_depth, 0
                f_dirty[sp] = False
                if c_depth >= MAX_DEPTH:
                    raise ValueError("sparse Merkle tree: partition below the last nibble")
                _partition(idx, tmp, c_lo, c_hi, c_depth, cpath, lpath, f_starts, sp, fill)
                continue
            else:
                if not resumed and call == _UPDATE:  # a leaf or nothing: rebuild it
                    n_items = 0
                    if c_ref < 0:
                        items[0] = c_ref
                        n_items = 1
                    for j in range(c_lo, c_hi):
                        items[n_items] = idx[j]
                        n_items += 1
                    c_lo, c_hi = 0, n_items
                if _same_path(items, c_lo, c_hi, cpath, lpath):
                    # Resolve one path: the last change wins over the old leaf.
                    last, first = items[c_hi - 1], items[c_lo]
                    old = -first - 1 if first < 0 else -1
                    changed = True
                    if last < 0:
                        result, changed = last, False
                    elif cdel[last]:
                        if old >= 0:
                            _give(lfree, meta, META_LFREE, old)
                        result, changed = 0, old >= 0
                    elif old >= 0 and _same_row(lvh, old, cvh, last):
                        result, changed = first, False  # the value it already holds
                    else:
                        leaf = old
                        if leaf < 0:
                            if meta[META_LFREE] == 0 and meta[META_LEAVES] == len(lpath):
                                _save(walk, sp, nl, nb, call, c_ref, c_depth, c_lo, c_hi, True)
                                return _NEED_LEAF
                            leaf = _take(lfree, meta, META_LFREE, META_LEAVES)
                            for i in range(32):
                                lpath[leaf, i] = cpath[last, i]
                        for i in range(32):
                            lvh[leaf, i] = cvh[last, i]
                        leaves[nl] = leaf
                        nl += 1
                        result = -leaf - 1
                else:
                    sp += 1
                    f_mode[sp], f_depth[sp], f_next[sp], f_dirty[sp] = _BUILD, c_depth, 0, False
                    for c in range(16):
                        f_kids[sp, c] = 0
                    if c_depth >= MAX_DEPTH:
                        raise ValueError("sparse Merkle tree: partition below the last nibble")
                    _partition(items, tmp, c_lo, c_hi, c_depth, cpath, lpath, f_starts, sp, fill)
                    continue
                if sp < 0:
                    break
                # deliver below
        else:
            # The frame on top: descend into its next non-empty run, or finish it.
            n = f_next[sp]
            while n < 16 and f_starts[sp, n] == f_starts[sp, n + 1]:
                n += 1
            if n < 16:
                f_next[sp], f_cur[sp] = n + 1, n
                depth = f_depth[sp] + 1
                if f_mode[sp] == _UPDATE:
                    call, c_ref = _UPDATE, kids[f_ref[sp], n]
                else:
                    call, c_ref = _BUILD, 0
                c_depth, c_lo, c_hi = depth, f_starts[sp, n], f_starts[sp, n + 1]
                pending = True
                continue
            changed = f_dirty[sp]
            if f_mode[sp] == _UPDATE:
                branch = f_ref[sp]
                result = branch + 1
                if changed and count[branch] <= 1:
                    only = 0
                    for c in range(16):
                        if kids[branch, c] != 0:
                            only = kids[branch, c]
                    if only <= 0:
                        for c in range(16):
                            kids[branch, c] = 0
                        count[branch] = 0
                        _give(bfree, meta, META_BFREE, branch)
                        result = only
                if changed and result == branch + 1:
                    if nb == len(branches):
                        _save(walk, sp, nl, nb, call, c_ref, c_depth, c_lo, c_hi, False)
                        return _NEED_LIST
                    branches[nb], depths[nb] = branch, f_depth[sp]
                    nb += 1
            else:
                filled, only = 0, 0
                for c in range(16):
                    if f_kids[sp, c] != 0:
                        filled += 1
                        only = f_kids[sp, c]
                if filled == 0 or (filled == 1 and only < 0):
                    result = only
                else:
                    need = _NEED_LIST if nb == len(branches) else _DONE
                    if meta[META_BFREE] == 0 and meta[META_BRANCHES] == len(kids):
                        need = _NEED_BRANCH
                    if need != _DONE:
                        _save(walk, sp, nl, nb, call, c_ref, c_depth, c_lo, c_hi, False)
                        return need
                    branch = _take(bfree, meta, META_BFREE, META_BRANCHES)
                    for c in range(16):
                        kids[branch, c] = f_kids[sp, c]
                    count[branch] = filled
                    branches[nb], depths[nb] = branch, f_depth[sp]
                    nb += 1
                    result = branch + 1
            sp -= 1
            if sp < 0:
                break
        # Deliver ``result`` (and whether its subtree ``changed``) to the frame on top.
        n = f_cur[sp]
        f_dirty[sp] |= changed
        if f_mode[sp] == _UPDATE:
            branch = f_ref[sp]
            old_ref = kids[branch, n]
            kids[branch, n] = result
            count[branch] += (1 if result != 0 else 0) - (1 if old_ref != 0 else 0)
        else:
            f_kids[sp, n] = result
    walk[W_NL], walk[W_NB], walk[W_RESULT] = nl, nb, result
    return _DONE


@_helper
def _save(walk, sp, nl, nb, call, ref, depth, lo, hi, prepared):  # type: ignore[no-untyped-def]
    """Save where a walk stopped: at a path's items (``prepared``: ``call`` pending, its
    items made) or at the frame on top of the stack (nothing pending)."""
    walk[W_SP], walk[W_NL], walk[W_NB] = sp, nl, nb
    walk[W_CALL], walk[W_REF], walk[W_DEPTH], walk[W_LO], walk[W_HI] = call, ref, depth, lo, hi
    walk[W_PENDING] = walk[W_PREPARED] = 1 if prepared else 0
