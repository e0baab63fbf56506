"""Reading an order or a position from the tables while a partial flush holds its row back
(``CompiledEngine.held``, through ``BlockRun.get``).

The builder's dry run keeps the rows its order operations and fills change in the tables
until the block's last batch (``run_batch(..., needed=())``), so that each is flushed once a
block. Its reads between the batches (an amend's order before and after, a reduce-only
placement's position, the books' reconciliation) take a touched row's value from the row,
built as the flush would build it (``kernels.flush``); an untouched row's latest value is in
the block's pending writes or the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paraclear.clearing.kernels.flush import open_order, position_value
from paraclear.clearing.kernels.layout import (
    O_LIVE,
    O_TOUCH,
    P_FIDX,
    P_QUOTE,
    P_SIZE,
    P_TOUCH,
)
from paraclear.clearing.records import OpenOrder
from paraclear.execution import NOT_HELD
from paraclear.state.keys import OrderKey, PositionKey

if TYPE_CHECKING:
    from paraclear.clearing.kernels.tables import Tables


def row_value(tables: Tables, key: OrderKey | PositionKey) -> object:
    """The value of an order's or a position's ``key`` from its row if the kernels changed
    it since its last flush (None: closed, or flat), else ``NOT_HELD``."""
    account = tables.account_row.get(key.account)
    if account is None:
        return NOT_HELD
    if isinstance(key, OrderKey):
        row = tables.order_row.get((account, key.nonce))
        if row is None or not tables.orders[row, O_TOUCH]:
            return NOT_HELD
        return _open_order(tables, row)
    instrument = tables.instrument_row.get(key.instrument)
    row = tables.position_row.get((account, instrument)) if instrument is not None else None
    if row is None or not tables.positions[row, P_TOUCH]:
        return NOT_HELD
    return position_value(*tables.positions[row, [P_SIZE, P_QUOTE, P_FIDX]].tolist())


def _open_order(tables: Tables, row: int) -> OpenOrder | None:
    """Order ``row``'s ``OpenOrder`` (None once closed)."""
    order = tables.orders[row].tolist()
    return open_order(tables.instrument_names, order) if order[O_LIVE] else None
