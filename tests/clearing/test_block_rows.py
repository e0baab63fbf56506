"""The block's order entries (``kernels.block_rows``) and the order rows' cached paths
(``RowHasher``) through every way an order row changes hands within a block and between
blocks: one entry per order, the latest write wins; a row closed and given to another order
keeps the old order's deletion and starts the new order's entry; an order a reference
handler writes is forgotten until a flush writes it again; a cached path is used only for
the order it was computed for. The differential tests compare whole commits; these pin the
bookkeeping, so that a stale entry or path fails here first."""

from __future__ import annotations

from typing import Any

import numpy as np

from paraclear.clearing.kernels.block_rows import E_LIVE, E_ROW, BlockRows
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.margin import StandardMargin
from paraclear.clearing.records import OpenOrder
from paraclear.state import Key
from paraclear.state import keys as k
from paraclear.state.codec import key_path


def _flush(block: BlockRows, row: int, account: int, nonce: int, live: bool) -> None:
    """What a flush records of one order row."""
    entries = np.array([[row, int(live), account, nonce]], dtype=np.int64)
    block.mark_orders(np.array([row]), entries, [k.order(f"acct{account}", nonce)])


def _current(block: BlockRows) -> dict[Key, tuple[int, bool]]:
    """Each order to commit from the rows: its row and whether it is open."""
    at = block.current_orders()
    entries = block.orders[at].tolist()
    keys = [block.order_keys[i] for i in at.tolist()]
    return {key: (e[E_ROW], e[E_LIVE] == 1) for key, e in zip(keys, entries, strict=True)}


def test_an_order_flushed_twice_keeps_one_entry_with_its_latest_write() -> None:
    block = BlockRows()
    _flush(block, 3, 0, 7, live=True)
    _flush(block, 4, 1, 8, live=True)
    _flush(block, 3, 0, 7, live=False)
    assert _current(block) == {k.order("acct0", 7): (3, False), k.order("acct1", 8): (4, True)}


def test_a_row_given_to_another_order_keeps_the_old_orders_deletion() -> None:
    block = BlockRows()
    _flush(block, 3, 0, 7, live=False)  # closed, its row freed and claimed again
    block.new_orders(np.array([3]))
    _flush(block, 3, 1, 9, live=True)
    assert _current(block) == {k.order("acct0", 7): (3, False), k.order("acct1", 9): (3, True)}


def test_an_order_a_handler_wrote_is_forgotten_until_a_flush_writes_it_again() -> None:
    block = BlockRows()
    _flush(block, 3, 0, 7, live=True)
    _flush(block, 5, 0, 6, live=False)
    block.forget_order(0, 7, 3)
    block.forget_order(0, 6, -1)  # its row was freed: forgotten by account and nonce
    assert _current(block) == {}
    _flush(block, 3, 0, 7, live=True)
    assert _current(block) == {k.order("acct0", 7): (3, True)}
    assert len(block.order_keys) == 3  # the stale entries stay, not current


def test_a_new_block_starts_with_no_entries() -> None:
    block = BlockRows()
    _flush(block, 3, 0, 7, live=True)
    block.forget_order(0, 7, 3)
    block.clear()
    assert _current(block) == {} and not block.forgotten
    _flush(block, 3, 0, 7, live=True)
    _flush(block, 3, 0, 7, live=False)
    assert _current(block) == {k.order("acct0", 7): (3, False)}


def test_tables_route_an_order_key_forgets_the_flushed_entry() -> None:
    tables = Tables(StandardMargin())
    account = tables.account("alice")
    row = tables.new_order(account, 4)
    _flush(tables.block_rows, row, account, 4, live=True)
    order = OpenOrder(
        instrument="BTC-PERP", is_buy=True, kind="limit", price=10, remaining=1, filled=0,
        reserved=0,
    )  # fmt: skip
    tables.route(k.order("alice", 4), order)
    assert _current(tables.block_rows) == {}


def test_an_order_rows_cached_path_serves_only_its_own_order() -> None:
    tables = Tables(StandardMargin())
    alice, bob = tables.account("alice"), tables.account("bob")
    row = tables.new_order(alice, 4)
    hasher = tables.hasher
    computed: list[int] = []
    child_paths = hasher._child_paths

    def counted(tables: Tables, accounts: Any, items: Any, orders: bool) -> Any:
        computed.append(len(accounts))
        return child_paths(tables, accounts, items, orders)

    hasher._child_paths = counted  # type: ignore[method-assign]

    def paths(*owners: tuple[int, int]) -> list[bytes]:
        rows = np.full(len(owners), row, dtype=np.int64)
        got = hasher._order_paths(tables, rows, np.array(owners, dtype=np.int64))
        return [path.tobytes() for path in got]

    alice_4, bob_9 = key_path(k.order("alice", 4)), key_path(k.order("bob", 9))
    assert paths((alice, 4)) == [alice_4] and computed == [1]
    assert paths((alice, 4)) == [alice_4] and computed == [1]  # from the cache
    tables.free_order_rows([row], [alice], [4])
    assert tables.new_order(bob, 9) == row
    assert paths((alice, 4), (bob, 9)) == [alice_4, bob_9]  # the old order's deletion too
    assert computed == [1, 1]
    assert paths((bob, 9)) == [bob_9] and computed == [1, 1]
    assert paths((alice, 4)) == [alice_4] and computed == [1, 1, 1]
