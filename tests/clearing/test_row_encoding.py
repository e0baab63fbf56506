"""The compiled encodings of the tables' rows (``kernels.encode``) equal msgspec's canonical
encoding of the values ``Tables.flush`` writes, byte for byte, at the edges of every msgpack
form (integer widths, string and array lengths) and on random rows (lists of open orders
and counters included); their hashes equal ``codec.value_hash``; orders' key paths computed
from the rows equal ``codec.key_path``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.clearing.kernels.encode import (
    W_COLLATERAL,
    W_DELETE,
    W_INT,
    W_NONCE,
    W_OPEN_ORDERS,
    W_ORDER,
    W_PORTFOLIO,
    W_POSITION,
    W_RESERVED,
    bound,
)
from paraclear.clearing.kernels.hashed import RowHasher
from paraclear.clearing.kernels.layout import (
    A_COLL,
    A_NONCE,
    A_RESV,
    A_WIDE,
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
    P_QUOTE,
    P_SIZE,
)
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.margin import StandardMargin
from paraclear.clearing.records import OpenOrder, Position
from paraclear.state import compiled
from paraclear.state import keys as k
from paraclear.state.codec import encode, key_path, value_hash

EDGES = sorted(
    {
        sign * magnitude
        for sign in (1, -1)
        for base in (0, 1, 31, 32, 33, 127, 128, 255, 256, 2**15, 2**16, 2**31, 2**32, 2**62)
        for magnitude in (base - 1, base, base + 1)
        if magnitude >= 0
    }
    | {2**63 - 1, -(2**63), -(2**63) + 1}
)
INT64 = st.one_of(st.sampled_from(EDGES), st.integers(-(2**63), 2**63 - 1))
NAMES = st.text(min_size=1, max_size=300)


def _check(
    tables: Tables,
    kinds: list[int],
    rows: list[int],
    values: list[object],
    items: list[int] | None = None,
    lists: list[int] | None = None,
) -> None:
    hasher = RowHasher()
    array = np.array(kinds, dtype=np.int64)
    entries = None if items is None else np.array(items, dtype=np.int64)
    flat = None if lists is None else np.array(lists, dtype=np.int64)
    got = hasher.encodings(tables, array, rows, entries, flat)
    want = [b"" if value is None else encode(value) for value in values]
    assert got == want
    room = (tables.accounts, hasher.longest_name, hasher.longest_account)
    at = np.array(rows, dtype=np.int64)
    lists_given = np.zeros(0, dtype=np.int64) if flat is None else flat
    assert bound(array, at, *room, lists_given) >= sum(map(len, got))
    hashes, deleted = hasher.hash_values(tables, array, rows, entries, flat)
    assert deleted.tolist() == [value is None for value in values]
    for digest, value in zip(hashes, values, strict=True):
        if value is not None:
            assert digest.tobytes() == value_hash(value)


def test_integers_at_every_msgpack_width_encode_as_msgspec() -> None:
    tables = Tables(StandardMargin())
    kinds, rows, values = [], [], []
    for at, value in enumerate(EDGES):
        row = tables.account(f"a{at}")
        for kind, column in ((W_COLLATERAL, A_COLL), (W_NONCE, A_NONCE), (W_RESERVED, A_RESV)):
            tables.accounts[row, column] = value
            kinds.append(kind)
            rows.append(row)
            values.append(value or None)
    kinds.append(W_DELETE)
    rows.append(0)
    values.append(None)
    _check(tables, kinds, rows, values)


def test_counters_at_every_msgpack_width_encode_as_msgspec() -> None:
    """A counter's value is the entry's item (its row is not read)."""
    tables = Tables(StandardMargin())
    values = [value or None for value in EDGES]
    _check(tables, [W_INT] * len(EDGES), [0] * len(EDGES), values, items=EDGES)


def _lists(tables: Tables, lists: list[list[int]]) -> None:
    """Check the encodings of accounts' lists of open orders (sorted nonces)."""
    rows, values, items, flat = [], [], [], []
    for at, nonces in enumerate(lists):
        rows.append(tables.account(f"a{at}"))
        items.append(len(flat))
        flat += [len(nonces), *sorted(nonces)]
        values.append(tuple(sorted(nonces)) or None)
    _check(tables, [W_OPEN_ORDERS] * len(rows), rows, values, items, flat)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(INT64, max_size=40, unique=True), min_size=1, max_size=8))
def test_lists_of_open_orders_encode_as_msgspec_tuples(lists: list[list[int]]) -> None:
    _lists(Tables(StandardMargin()), lists)


def test_lists_of_open_orders_at_every_array_length_form_encode_as_msgspec() -> None:
    """Empty (absent), fixarray (up to 15), array16 (16 to 65,535) and array32."""
    lengths = (0, 1, 15, 16, 17, 65_535, 65_536, 70_000)
    _lists(Tables(StandardMargin()), [list(range(-3, n - 3)) for n in lengths])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(INT64, INT64, INT64), min_size=1, max_size=20))
def test_positions_encode_as_msgspec(fields: list[tuple[int, int, int]]) -> None:
    tables = Tables(StandardMargin())
    account = tables.account("alice")
    rows, values = [], []
    for at, (size, quote, index) in enumerate(fields):
        row = tables.position(account, tables.instrument(f"I{at}"))
        tables.positions[row, [P_SIZE, P_QUOTE, P_FIDX]] = size, quote, index
        rows.append(row)
        values.append(Position(size, quote, index) if size else None)
    _check(tables, [W_POSITION] * len(rows), rows, values)


ORDERS = st.tuples(
    NAMES,
    st.booleans(),
    st.integers(0, len(ORDER_KINDS) - 1),
    st.tuples(INT64, INT64, INT64, INT64, INT64),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ORDERS, min_size=1, max_size=12))
def test_open_orders_encode_as_msgspec(orders: list[tuple]) -> None:  # type: ignore[type-arg]
    tables = Tables(StandardMargin())
    account = tables.account("bob")
    rows, values = [], []
    for nonce, (name, buy, kind, numbers, reduce, live) in enumerate(orders):
        row = tables.new_order(account, nonce)
        good_til = numbers[4]
        o = tables.orders[row]
        instrument = tables.instrument(name)
        o[[O_LIVE, O_INST, O_BUY, O_KIND, O_REDUCE]] = live, instrument, buy, kind, reduce
        o[[O_PRICE, O_REM, O_FILLED, O_RESV, O_GTB]] = numbers
        rows.append(row)
        kind_name = ORDER_KINDS[kind]
        value = OpenOrder(name, buy, kind_name, *numbers[:4], reduce, good_til)
        values.append(value if live else None)
    _check(tables, [W_ORDER] * len(rows), rows, values)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(NAMES, max_size=40, unique=True), min_size=1, max_size=4))
def test_portfolios_encode_as_the_sorted_tuple_of_names(portfolios: list[list[str]]) -> None:
    """Names of every string length form (31/32, 255/256) and arrays past 15 items."""
    tables = Tables(StandardMargin())
    for name in ("x" * 31, "y" * 32, "z" * 255, "w" * 256, "v" * 70_000):
        tables.instrument(name)
    rows, values = [], []
    for at, names in enumerate(portfolios):
        names = names + (["x" * 31, "z" * 255, "w" * 256, "v" * 70_000] if at % 2 else [])
        account = tables.account(f"acct{at}")
        tables.make_room(len(names))
        for name in names:
            position = tables.position(account, tables.instrument(name))
            tables.positions[position, P_SIZE] = 1
            tables._list_position(account, position, True)
        rows.append(account)
        values.append(tuple(sorted(names)) or None)
    _check(tables, [W_PORTFOLIO] * len(rows), rows, values)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(NAMES, INT64), min_size=1, max_size=20))
def test_order_key_paths_equal_key_path(orders: list[tuple[str, int]]) -> None:
    """Account names of every string length form and nonces of every digit count, signs
    included (``str(nonce)`` of -2**63 too)."""
    tables = Tables(StandardMargin())
    hasher = RowHasher()
    for name in ("n" * 32, "m" * 256):
        tables.account(name)
    rows = [tables.account(name) for name, _ in orders]
    nonces = np.array([nonce for _, nonce in orders], dtype=np.int64)
    paths = hasher._child_paths(tables, np.array(rows, dtype=np.int64), nonces, True)
    for (name, nonce), path in zip(orders, paths, strict=True):
        assert path.tobytes() == key_path(k.order(name, nonce))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=20))
def test_position_key_paths_equal_key_path(positions: list[tuple[str, str]]) -> None:
    tables = Tables(StandardMargin())
    hasher = RowHasher()
    rows = [tables.position(tables.account(a), tables.instrument(i)) for a, i in positions]
    paths = hasher._position_paths(tables, np.array(rows, dtype=np.int64))
    for (account, instrument), row in zip(positions, rows, strict=True):
        assert paths[row].tobytes() == key_path(k.position(account, instrument))


def test_a_list_of_open_orders_past_64_bits_leaves_its_account_to_the_handlers() -> None:
    tables = Tables(StandardMargin())
    tables.route(k.open_orders("a"), (1, 2**63))
    tables.route(k.open_orders("b"), (1, 2**63 - 1))
    assert tables.accounts[[tables.account("a"), tables.account("b")], A_WIDE].tolist() == [1, 0]
    assert tables.open_orders[tables.account("b")] == [1, 2**63 - 1]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_batch_hashed_in_slices_on_threads_hashes_every_entry_as_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """Entries are encoded and hashed by slices on the tree's threads from
    ``PARALLEL_MIN_VALUES`` (lowered here): every value hash and deletion is the one of its
    own entry, whichever slice it fell in."""
    monkeypatch.setattr(compiled, "PARALLEL_MIN_VALUES", 64)
    tables = Tables(StandardMargin())
    kinds, rows, values = [], [], []
    for at in range(500):
        account = tables.account(f"a{at}")
        tables.accounts[account, A_COLL] = at * 7919 % 1000 - 300 if at % 5 else 0
        position = tables.position(account, tables.instrument(f"I{at % 13}"))
        size = (at * 31 % 17 - 8) * 10**at % 2**62
        tables.positions[position, [P_SIZE, P_QUOTE, P_FIDX]] = size, -at, at * at
        kinds += [W_COLLATERAL, W_POSITION]
        rows += [account, position]
        collateral = int(tables.accounts[account, A_COLL])
        values += [collateral or None, Position(size, -at, at * at) if size else None]
    previous = compiled.set_threads(threads)
    try:
        hashes, deleted = RowHasher().hash_values(tables, np.array(kinds), rows)
    finally:
        compiled.set_threads(previous)
    assert deleted.tolist() == [value is None for value in values]
    assert sum(deleted.tolist()) > 50
    for digest, value in zip(hashes, values, strict=True):
        if value is not None:
            assert digest.tobytes() == value_hash(value)
