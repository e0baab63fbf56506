"""What the glue hands the kernels per transaction (``X_*`` columns of the transaction
table) and what they hand back (``R_*`` columns of the result table, with ``E_*`` codes)."""

from __future__ import annotations

from typing import Final

# --- transaction kinds ----------------------------------------------------------------------
K_PLACE: Final = 1
K_CANCEL: Final = 2
K_AMEND: Final = 3
K_FILL: Final = 4
K_CLOSE: Final = 5
K_TRADE: Final = 6
K_DEPOSIT: Final = 7
K_WITHDRAW: Final = 8
K_TRANSFER: Final = 9

# --- transaction columns ---------------------------------------------------------------------
X_KIND: Final = 0
X_SENDER: Final = 1
X_NONCE: Final = 2
X_FEE: Final = 3
X_CONSUMES: Final = 4
X_INST: Final = 5
"""Row of the instrument the transaction names (-1 if it names none)."""
X_BUY: Final = 6
X_KIND_CODE: Final = 7
X_PRICE: Final = 8
X_SIZE: Final = 9
"""The size of an order, fill or trade; the amount of a deposit, withdrawal or transfer."""
X_REDUCE: Final = 10
X_GTB: Final = 11
X_ORDER: Final = 12
"""Order row: a new one for a placement; the one named (sender's, or the closed account's,
or the taker's) otherwise; -1 if none."""
X_ORDER_NONCE: Final = 13
X_ACCOUNT: Final = 14
"""CloseOrder's account; SettleFill's taker (-1 for the others)."""
X_MAKER: Final = 15
"""SettleFill's and Trade's maker; Transfer's recipient."""
X_MAKER_ORDER: Final = 16
X_MAKER_NONCE: Final = 17
X_POSITION: Final = 18
"""Position row of the sender (placement, trade) or taker (fill) in the instrument; -1:
none."""
X_MAKER_POSITION: Final = 19
X_REMAINING: Final = 20
X_FIELDS: Final = 21

# --- results ----------------------------------------------------------------------------------
R_STATUS: Final = 0
R_E1: Final = 1
R_E2: Final = 2
R_E3: Final = 3
R_V1: Final = 4
"""Placement/amend: the reservation. Cancel/close: released. Fill: maker fee."""
R_V2: Final = 5
"""Fill: taker fee."""
R_FIELDS: Final = 6

E_OK: Final = 0
E_FALLBACK: Final = 1
"""The kernel cannot run this transaction exactly: the reference handler runs it."""
E_INVALID_NONCE: Final = 2
E_INSUFFICIENT_FEE: Final = 3
E_NOT_MULTIPLE_PRICE: Final = 4
E_NOT_MULTIPLE_SIZE: Final = 5
E_INSTRUMENT_EXPIRED: Final = 6
E_ORDER_EXPIRED: Final = 7
E_REDUCE_ONLY: Final = 8
E_TOO_MANY_ORDERS: Final = 9
E_BANKRUPT: Final = 10
E_INSUFFICIENT_MARGIN: Final = 11
"""E1: account row, E2: required, E3: available."""
E_UNKNOWN_ORDER: Final = 12
"""E1: account row, E2: order nonce."""
E_FILL_MISMATCH: Final = 13
"""E1: which reason (``FILL_REASONS``)."""
E_INSUFFICIENT_COLLATERAL: Final = 14
"""E1: account row, E2: required, E3: available."""
E_UNAUTHORIZED: Final = 15
E_REMAINING_TOO_LARGE: Final = 16
E_BALANCE_LIMIT: Final = 17
"""E1: account row, E2: balance."""
E_SELF_TRADE: Final = 18
E_SELF_TRANSFER: Final = 19

FILL_REASONS: Final = (
    "an order is in another instrument",
    "both orders are on the same side",
    "size exceeds an order's remaining size",
    "a fill is at the maker's price",
    "the price is beyond the taker's limit",
    "the maker's order cannot rest",
)
