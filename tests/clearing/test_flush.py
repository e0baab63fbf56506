"""What a flush keeps beside the order rows (``kernels.flush``): each row's order key, made
once, and whether the order is in its account's list of open orders (``Tables.listed``).

Both must follow the rows through every way a row changes hands: an order the kernels open
or close, a row freed and given to another order, and rows set from a state (a load, a
reference handler's writes routed in). The differential tests compare the writes; these
check the bookkeeping itself, so that a stale key or flag fails here first.
"""

from __future__ import annotations

import pytest

from paraclear.clearing.kernels import flush
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.kernels.tables import Tables
from paraclear.state import keys as k
from tests.clearing.test_kernels import _alternate, _follow


def _consistent(tables: Tables) -> None:
    """Every order row's flags and key agree with its account's list and its order."""
    assert tables.order_row
    for (account, nonce), row in tables.order_row.items():
        assert tables.listed[row] == (nonce in tables.open_orders[account]), (account, nonce)
        if tables.keyed[row]:
            assert tables.order_keys[row] == k.order(tables.account_names[account], nonce)
    for row in tables.free_orders:
        assert tables.orders[row, 0] == 0  # a free row is never live (O_LIVE)


def test_order_rows_keep_their_keys_and_listing_through_many_blocks() -> None:
    engine = _follow(5, blocks=8, per_block=80)
    tables = engine.tables
    assert tables is not None
    _consistent(tables)
    assert tables.free_orders  # orders were closed and their rows freed


def test_rows_loaded_from_a_state_with_open_orders_know_their_listing() -> None:
    """Every other block runs on the reference handlers, so the engine loads its tables
    from a state that holds open orders (``route``), then closes some of them."""
    engine = _alternate(40)
    assert isinstance(engine, CompiledEngine) and engine.loads >= 2
    assert engine.tables is not None
    _consistent(engine.tables)


@pytest.mark.parametrize("per_block", [5, 80])
def test_a_flush_row_by_row_writes_what_the_array_flush_writes(
    monkeypatch: pytest.MonkeyPatch, per_block: int
) -> None:
    """The same blocks flushed one row at a time (every batch below ``SMALL``) and by array
    calls (none below): each agrees with the reference handlers block after block, and the
    bookkeeping ends the same."""
    ends = []
    for small in (10**9, 0):
        monkeypatch.setattr(flush, "SMALL", small)
        tables = _follow(11, blocks=6, per_block=per_block).tables
        assert tables is not None
        _consistent(tables)
        ends.append(
            (
                tables.open_orders,
                dict(tables.order_row),
                sorted(tables.free_orders),
                tables.listed.tolist(),
                tables.keyed.tolist(),
                tables.block_rows.order_keys,
                tables.block_rows.orders[: len(tables.block_rows.order_keys)].tolist(),
                tables.block_rows.accounts.tolist(),
            )
        )
    assert ends[0] == ends[1]
