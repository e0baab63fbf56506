"""The columnar tables the compiled kernels run over: one row per account, position, order
and instrument, int64 columns addressed by the field constants below.

Each table is a 2-D ``int64`` array, ``rows × fields``, grown by doubling. The names that
rows stand for (account names, instrument names, ``(account, nonce)`` of an order) live in
Python dictionaries beside the arrays: the kernels only see row numbers, which the glue
resolves before it calls them.

The tables mirror the committed state's hot keys (collateral, nonces, reservations,
positions, open orders, instruments, marks, the house's fees) plus, during a block, what the
block's transactions changed so far. ``sync`` keeps them in step with the key-value state in
both directions.
"""

from __future__ import annotations

from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

from paraclear.clearing.transactions import OrderType

Int64Array = npt.NDArray[np.int64]
_Table = TypeVar("_Table", bound=np.ndarray)

# --- accounts -------------------------------------------------------------------------------
A_COLL: Final = 0
"""Collateral, micro-USDC."""
A_NONCE: Final = 1
A_RESV: Final = 2
"""Initial margin reserved for open orders, micro-USDC."""
A_BANK: Final = 3
"""1 if the account has a bankruptcy record."""
A_NPOS: Final = 4
"""Number of live positions (listed in ``account_positions[row, :A_NPOS]``)."""
A_NORD: Final = 5
"""Number of open orders."""
A_WIDE: Final = 6
"""1 if a value of the account does not fit the tables (every transaction touching it runs
the reference handler)."""
A_TOUCH: Final = 7
"""Which of its keys the block wrote since the last flush (``T_*`` bits)."""
A_MEMO: Final = 8
"""The epoch (``H_EPOCH``) whose marks ``A_MEMO_VALUE`` and ``A_MEMO_INITIAL`` were summed
at (0: none; ``kernels.margin.memo``)."""
A_MEMO_VALUE: Final = 9
"""Σ of the account's positions' values (``value_term``), micro-USDC."""
A_MEMO_INITIAL: Final = 10
"""Σ of their standard initial requirements (``initial_term``; 0 under portfolio margin)."""
A_FIELDS: Final = 11

T_COLL: Final = 1
T_NONCE: Final = 2
T_RESV: Final = 4
T_ORDERS: Final = 8
T_PORTFOLIO: Final = 16
T_BANK: Final = 32

# --- positions --------------------------------------------------------------------------------
P_ACCT: Final = 0
P_INST: Final = 1
P_SIZE: Final = 2
P_QUOTE: Final = 3
P_FIDX: Final = 4
P_TOUCH: Final = 5
P_FIELDS: Final = 6

# --- orders -----------------------------------------------------------------------------------
O_LIVE: Final = 0
O_ACCT: Final = 1
O_NONCE: Final = 2
O_INST: Final = 3
O_BUY: Final = 4
O_KIND: Final = 5
O_PRICE: Final = 6
O_REM: Final = 7
O_FILLED: Final = 8
O_RESV: Final = 9
O_REDUCE: Final = 10
O_GTB: Final = 11
O_TOUCH: Final = 12
O_FIELDS: Final = 13

ORDER_KINDS: Final = tuple(kind.value for kind in OrderType)
"""``OrderType`` values by their code in ``O_KIND`` (its declaration order)."""
KIND_LIMIT: Final = ORDER_KINDS.index(OrderType.LIMIT.value)
KIND_POST_ONLY: Final = ORDER_KINDS.index(OrderType.POST_ONLY.value)

# --- instruments ------------------------------------------------------------------------------
I_OK: Final = 0
"""1 if listed, marked, and its mark's copy of the specification equals the listing."""
I_OPTION: Final = 1
I_CALL: Final = 2
I_EXPIRY: Final = 3
I_STRIKE: Final = 4
I_CSIZE: Final = 5
I_TICK: Final = 6
I_LOT: Final = 7
I_IM: Final = 8
I_MM: Final = 9
I_MARK: Final = 10
I_INDEX: Final = 11
I_FIDX: Final = 12
I_OI_TOUCH: Final = 13
I_OI_DELTA: Final = 14
I_OC_TOUCH: Final = 15
I_OC_DELTA: Final = 16
I_PNL_OK: Final = 17
"""1 if the mark carries one risk-array entry per scenario of the grid."""
I_FIELDS: Final = 18
"""Then the risk arrays: ``long_pnl`` in ``I_FIELDS + s`` and ``short_pnl`` in
``I_FIELDS + H_SCENARIOS + s`` for each scenario ``s`` (portfolio margin)."""

# --- the house (one row) ----------------------------------------------------------------------
H_OK: Final = 0
"""1 if the configuration exists and the margin model is standard or portfolio margin."""
H_MAKER: Final = 1
H_TAKER: Final = 2
H_OPTION_FEE: Final = 3
H_OPTION_CAP: Final = 4
H_ORACLE: Final = 5
"""Row of the oracle's account (-1: none yet)."""
H_FEE_TOUCH: Final = 6
H_FEE_DELTA: Final = 7
H_SHORT_BASE: Final = 8
H_SHORT_FLOOR: Final = 9
H_SHORT_MAINT: Final = 10
H_DEPOSITS_TOUCH: Final = 11
H_DEPOSITS_DELTA: Final = 12
"""Net deposits added since the last flush, micro-USDC."""
H_PORTFOLIO: Final = 13
"""1 under portfolio margin (0: standard margin)."""
H_SCENARIOS: Final = 14
"""Scenarios of the risk grid (portfolio margin)."""
H_INITIAL_NUM: Final = 15
H_INITIAL_DEN: Final = 16
"""Portfolio margin's initial requirement: ceil(maintenance × num / den)."""
H_EPOCH: Final = 17
"""Counts the changes of any instrument's row (a listing, a mark, an index, a funding
index: what a position's terms are computed from), from 1: an account's memo of another
epoch is stale."""
H_FIELDS: Final = 18
"""Then the grid's cover fractions, ppm, in ``H_FIELDS + s``."""


def grown(table: _Table, rows: int) -> _Table:
    """``table`` with at least ``rows`` rows (doubling), new rows zero."""
    if rows <= table.shape[0]:
        return table
    capacity = max(rows, 2 * table.shape[0], 16)
    bigger = np.zeros((capacity, *table.shape[1:]), dtype=table.dtype)
    bigger[: table.shape[0]] = table
    return bigger  # type: ignore[return-value]


def widened(table: Int64Array, columns: int) -> Int64Array:
    """``table`` with at least ``columns`` columns (doubling), new columns zero."""
    if columns <= table.shape[1]:
        return table
    wider = np.zeros((table.shape[0], max(columns, 2 * table.shape[1])), dtype=np.int64)
    wider[:, : table.shape[1]] = table
    return wider
