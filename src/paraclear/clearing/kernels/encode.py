"""``encode_rows``: the canonical encodings (``paraclear.state.codec.encode``, msgspec's
msgpack) of the hot keys' values, built in compiled code from the tables' rows.

Each entry names a row and what of it to encode (``W_*``): an account's collateral, nonce or
reservation (an ``int``), its portfolio (the sorted tuple of the instrument names it holds a
position in), its list of open orders (a tuple of nonces, from ``lists``), a position
(``Position``, a map of three fields), an open order (``OpenOrder``, an array of nine), a
counter (an ``int`` given in the entry itself), or a deletion. A value that
``Tables.flush`` writes as absent (0, an empty tuple, a closed position or order) encodes
as nothing, as ``State.apply`` deletes it.

Orders' and positions' keys are encoded likewise (``W_ORDER_KEY``, ``W_POSITION_KEY``), from
the account and instrument names' UTF-8 bytes and the order nonces, for their tree paths.

Instrument names come as UTF-8 bytes laid end to end (``names``, ``name_ends``) with their
rank in Python's sort order (``ranks``: code point order, which is UTF-8 byte order), and the
order kinds likewise (``kind_names``, ``kind_ends``). Every number is an ``int64`` column
written by ``pack.put_int``; nothing is computed on it.
"""

from __future__ import annotations

from typing import Any, Final

import numba
import numpy as np

from paraclear.borrowed import borrowed
from paraclear.clearing.kernels.layout import (
    A_COLL,
    A_NONCE,
    A_NPOS,
    A_RESV,
    O_BUY,
    O_FILLED,
    O_GTB,
    O_INST,
    O_KIND,
    O_LIVE,
    O_PRICE,
    O_REDUCE,
    O_REM,
    O_RESV,
    ORDER_KINDS,
    P_FIDX,
    P_INST,
    P_QUOTE,
    P_SIZE,
    Int64Array,
)
from paraclear.state.lanes import hash_lanes
from paraclear.state.pack import INT_MAX_BYTES, put_array, put_bool, put_int, put_map, put_str

W_DELETE: Final = 0
W_COLLATERAL: Final = 1
W_NONCE: Final = 2
W_RESERVED: Final = 3
W_PORTFOLIO: Final = 4
W_POSITION: Final = 5
W_ORDER: Final = 6
W_ORDER_KEY: Final = 7
W_POSITION_KEY: Final = 8
W_INT: Final = 9
W_OPEN_ORDERS: Final = 10
"""What an entry encodes: ``row`` is an account row (collateral, nonce, reserved,
portfolio), a position row or an order row; ``W_DELETE`` encodes nothing. ``W_ORDER_KEY``
and ``W_POSITION_KEY`` are keys, not values (for their tree paths): an order's or a
position's, of account ``row``. ``W_INT`` encodes the entry's ``item`` (a counter's value);
``W_OPEN_ORDERS`` the list of ``lists`` at ``item``: its length, then its nonces."""

_SIZE: Final = np.frombuffer(b"size", dtype=np.uint8)
_QUOTE: Final = np.frombuffer(b"quote", dtype=np.uint8)
_FUNDING: Final = np.frombuffer(b"funding_index", dtype=np.uint8)
POSITION_BOUND: Final = 1 + 3 * INT_MAX_BYTES + (1 + 4) + (1 + 5) + (1 + 13)
ORDER_BOUND: Final = 1 + 5 * INT_MAX_BYTES + 2 + (5 + max(len(kind) for kind in ORDER_KINDS)) + 5
"""The longest encodings of a position, and of an order less its instrument name's bytes."""

_helper: Any = numba.njit(inline="always")
"""The parts of ``encode_rows``, each called from one place: inlined where they are called
(numba's IR), so that none costs a compile of its own."""


@_helper
def _put_portfolio(out, at, row, accounts, account_positions, positions, names, ends, ranks, held):  # type: ignore[no-untyped-def]
    """The sorted tuple of the names of the instruments account ``row`` holds (sorted in
    ``held``, room for them, so that nothing is allocated per account)."""
    count = accounts[row, A_NPOS]
    for i in range(count):  # insertion sort by rank: an account holds a few instruments
        instrument = positions[account_positions[row, i], P_INST]
        j = i
        while j > 0 and ranks[held[j - 1]] > ranks[instrument]:
            held[j] = held[j - 1]
            j -= 1
        held[j] = instrument
    at = put_array(out, at, count)
    for i in range(count):
        at = put_str(out, at, names, ends[held[i]], ends[held[i] + 1])
    return at


@_helper
def _put_position(out, at, p):  # type: ignore[no-untyped-def]
    """``Position(size, quote, funding_index)``: a map in field order."""
    at = put_map(out, at, 3)
    at = put_str(out, at, _SIZE, 0, len(_SIZE))
    at = put_int(out, at, p[P_SIZE])
    at = put_str(out, at, _QUOTE, 0, len(_QUOTE))
    at = put_int(out, at, p[P_QUOTE])
    at = put_str(out, at, _FUNDING, 0, len(_FUNDING))
    return put_int(out, at, p[P_FIDX])


@_helper
def _put_order(out, at, o, names, ends, kind_names, kind_ends):  # type: ignore[no-untyped-def]
    """``OpenOrder``: an array of its nine fields in order."""
    at = put_array(out, at, 9)
    at = put_str(out, at, names, ends[o[O_INST]], ends[o[O_INST] + 1])
    at = put_bool(out, at, o[O_BUY] == 1)
    at = put_str(out, at, kind_names, kind_ends[o[O_KIND]], kind_ends[o[O_KIND] + 1])
    at = put_int(out, at, o[O_PRICE])
    at = put_int(out, at, o[O_REM])
    at = put_int(out, at, o[O_FILLED])
    at = put_int(out, at, o[O_RESV])
    at = put_bool(out, at, o[O_REDUCE] == 1)
    return put_int(out, at, o[O_GTB])


_ACCT: Final = np.frombuffer(b"acct", dtype=np.uint8)
_ORDER: Final = np.frombuffer(b"order", dtype=np.uint8)
_POS: Final = np.frombuffer(b"pos", dtype=np.uint8)


@_helper
def _put_decimal(out, at, value):  # type: ignore[no-untyped-def]
    """``str(value)`` as a msgpack string (at most 20 characters: a fixstr). The magnitude
    is a ``uint64``, so -2**63 has one."""
    negative = value < 0
    magnitude = np.uint64(-(value + 1)) + np.uint64(1) if negative else np.uint64(value)
    length = 1
    rest = magnitude // np.uint64(10)
    while rest > np.uint64(0):
        length += 1
        rest //= np.uint64(10)
    out[at] = np.uint8(0xA0 | (length + negative))
    at += 1
    if negative:
        out[at] = np.uint8(ord("-"))
        at += 1
    for i in range(length):
        out[at + length - 1 - i] = np.uint8(ord("0") + magnitude % np.uint64(10))
        magnitude //= np.uint64(10)
    return at + length


@_helper
def _put_child_key(out, at, order, account, start, end, item, names, name_ends):  # type: ignore[no-untyped-def]
    """``keys.order(account, item)`` if ``order`` (``item`` a nonce), else
    ``keys.position(account, instrument)`` (``item`` an instrument row); the account's
    name is ``account[start:end]``."""
    at = put_array(out, at, 4)
    at = put_str(out, at, _ACCT, 0, len(_ACCT))
    at = put_str(out, at, account, start, end)
    if order:
        at = put_str(out, at, _ORDER, 0, len(_ORDER))
        return _put_decimal(out, at, item)
    at = put_str(out, at, _POS, 0, len(_POS))
    return put_str(out, at, names, name_ends[item], name_ends[item + 1])


@_helper
def _put_list(out, at, lists, start):  # type: ignore[no-untyped-def]
    """The tuple of integers ``lists[start + 1 : start + 1 + lists[start]]``."""
    count = lists[start]
    at = put_array(out, at, count)
    for j in range(count):
        at = put_int(out, at, lists[start + 1 + j])
    return at


@numba.njit(cache=True, nogil=True, boundscheck=False)
def encode_rows(
    kinds: Int64Array,
    rows: Int64Array,
    items: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    orders: Int64Array,
    names: Any,
    name_ends: Int64Array,
    ranks: Int64Array,
    kind_names: Any,
    kind_ends: Int64Array,
    account_names: Any,
    account_ends: Int64Array,
    lists: Int64Array,
    out: Any,
    ends: Int64Array,
) -> None:  # pragma: no cover - compiled
    """Encode entry ``i`` (``kinds[i]`` of ``rows[i]``; for a key, ``rows[i]`` is the
    account row and ``items[i]`` the nonce or instrument row) into ``out`` after entry
    ``i - 1``; ``ends[i]`` is where it ends (``ends[i] == ends[i - 1]``: absent). ``out``
    has room for every entry (``bound``). ``lists`` holds the lists of open orders, each
    its length then its nonces. Its arrays are ``borrowed`` inside (the caller holds them):
    no reference counting per entry."""
    kinds, rows, items, ends = borrowed(kinds), borrowed(rows), borrowed(items), borrowed(ends)
    accounts, account_positions = borrowed(accounts), borrowed(account_positions)
    positions, orders, lists = borrowed(positions), borrowed(orders), borrowed(lists)
    names, name_ends, ranks = borrowed(names), borrowed(name_ends), borrowed(ranks)
    kind_names, kind_ends = borrowed(kind_names), borrowed(kind_ends)
    account_names, account_ends = borrowed(account_names), borrowed(account_ends)
    out = borrowed(out)
    held = np.empty(account_positions.shape[1], dtype=np.int64)
    at = 0
    for i in range(len(kinds)):
        kind, row = kinds[i], rows[i]
        value = 0
        if kind == W_COLLATERAL:
            value = accounts[row, A_COLL]
        elif kind == W_NONCE:
            value = accounts[row, A_NONCE]
        elif kind == W_RESERVED:
            value = accounts[row, A_RESV]
        elif kind == W_INT:
            value = items[i]
        if value != 0:
            at = put_int(out, at, value)
        elif kind == W_PORTFOLIO and accounts[row, A_NPOS] > 0:
            at = _put_portfolio(
                out,
                at,
                row,
                accounts,
                account_positions,
                positions,
                names,
                name_ends,
                ranks,
                held,
            )
        elif kind == W_POSITION and positions[row, P_SIZE] != 0:
            at = _put_position(out, at, positions[row])
        elif kind == W_ORDER and orders[row, O_LIVE] != 0:
            at = _put_order(out, at, orders[row], names, name_ends, kind_names, kind_ends)
        elif kind == W_OPEN_ORDERS and lists[items[i]] > 0:
            at = _put_list(out, at, lists, items[i])
        elif kind in (W_ORDER_KEY, W_POSITION_KEY):
            start, end = account_ends[row], account_ends[row + 1]
            order = kind == W_ORDER_KEY
            at = _put_child_key(
                out, at, order, account_names, start, end, items[i], names, name_ends
            )
        ends[i] = at


@numba.njit(cache=True, nogil=True, boundscheck=False)
def encode_and_hash(
    kinds: Int64Array,
    rows: Int64Array,
    items: Int64Array,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    orders: Int64Array,
    names: Any,
    name_ends: Int64Array,
    ranks: Int64Array,
    kind_names: Any,
    kind_ends: Int64Array,
    account_names: Any,
    account_ends: Int64Array,
    lists: Int64Array,
    out: Any,
    offsets: Int64Array,
    hashes: Any,
    deleted: Any,
) -> None:  # pragma: no cover - compiled
    """``encode_rows`` of the entries into ``out`` (entry ``i`` at ``offsets[i] :
    offsets[i + 1]``; ``offsets[0]`` is 0), then the BLAKE2b-256 of each into ``hashes``
    (``lanes.hash_lanes``) and whether it is absent (empty) into ``deleted``: in one call,
    so that a thread running it beside Python needs the interpreter lock only to start and
    to end."""
    encode_rows(
        kinds, rows, items, accounts, account_positions, positions, orders, names, name_ends,
        ranks, kind_names, kind_ends, account_names, account_ends, lists, out, offsets[1:],
    )  # fmt: skip
    hash_lanes(out, offsets, hashes)
    for i in range(len(deleted)):
        deleted[i] = offsets[i + 1] == offsets[i]


def bound(
    kinds: Int64Array,
    rows: Int64Array,
    accounts: Int64Array,
    longest_name: int,
    longest_account: int,
    lists: Int64Array,
) -> int:
    """Bytes that the encodings of the entries fit in, whatever their values (``lists``:
    the open-order lists they name)."""
    name = 5 + longest_name
    number = INT_MAX_BYTES
    order = ORDER_BOUND + longest_name
    key = 1 + 5 + (5 + longest_account) + 6 + max(21, name)
    per_kind = np.array(
        [0, number, number, number, 5, POSITION_BOUND, order, key, key, number, 5],
        dtype=np.int64,
    )
    total = int(per_kind[kinds].sum()) + len(lists) * number
    portfolios = rows[kinds == W_PORTFOLIO]
    return total + int(accounts[portfolios, A_NPOS].sum()) * name
