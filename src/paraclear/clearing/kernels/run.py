"""``run_orders``: a table of order-flow transactions run in order through the kernels,
stopping at the first one that falls back."""

from __future__ import annotations

import numba

from paraclear.borrowed import borrowed
from paraclear.clearing.kernels.codes import (
    E_FALLBACK,
    E_OK,
    K_AMEND,
    K_CANCEL,
    K_CLOSE,
    K_DEPOSIT,
    K_FILL,
    K_PLACE,
    K_TRADE,
    K_TRANSFER,
    K_WITHDRAW,
    R_STATUS,
    X_KIND,
)
from paraclear.clearing.kernels.fills import fill, trade
from paraclear.clearing.kernels.funds import deposit, transfer, withdraw
from paraclear.clearing.kernels.layout import Int64Array
from paraclear.clearing.kernels.orders import amend, cancel, close, place
from paraclear.clearing.kernels.rows import begin_check


@numba.njit(cache=True, nogil=True)
def run_orders(
    txs: Int64Array,
    results: Int64Array,
    start: int,
    accounts: Int64Array,
    account_positions: Int64Array,
    positions: Int64Array,
    orders: Int64Array,
    instruments: Int64Array,
    house: Int64Array,
    height: int,
    time: int,
    log: Int64Array,
    count: Int64Array,
) -> int:  # pragma: no cover - compiled
    """Run ``txs[start:]`` in order; return the index of the first that falls back (its
    row in ``results`` unset, nothing of it applied), or ``len(txs)``. The kernels get the
    tables ``borrowed`` (no reference counting per call: the caller holds them)."""
    txs, results, log, count = borrowed(txs), borrowed(results), borrowed(log), borrowed(count)
    accounts, account_positions = borrowed(accounts), borrowed(account_positions)
    positions, orders = borrowed(positions), borrowed(orders)
    instruments, house = borrowed(instruments), borrowed(house)
    for at in range(start, txs.shape[0]):
        tx, result = txs[at], results[at]
        result[:] = 0
        status = begin_check(tx, accounts, house, result)
        if status == E_OK:
            kind = tx[X_KIND]
            if kind == K_PLACE:
                status = place(
                    tx, result, accounts, account_positions, positions, orders, instruments,
                    house, height, time, log, count,
                )  # fmt: skip
            elif kind == K_CANCEL:
                status = cancel(tx, result, accounts, orders, instruments, house, log, count)
            elif kind == K_AMEND:
                status = amend(
                    tx, result, accounts, account_positions, positions, orders, instruments,
                    house, time, log, count,
                )  # fmt: skip
            elif kind == K_FILL:
                status = fill(
                    tx, result, accounts, account_positions, positions, orders, instruments,
                    house, time, log, count,
                )  # fmt: skip
            elif kind == K_TRADE:
                status = trade(
                    tx, result, accounts, account_positions, positions, instruments, house,
                    time, log, count,
                )  # fmt: skip
            elif kind == K_DEPOSIT:
                status = deposit(tx, result, accounts, house, log, count)
            elif kind == K_WITHDRAW:
                status = withdraw(
                    tx, result, accounts, account_positions, positions, instruments, house,
                    log, count,
                )  # fmt: skip
            elif kind == K_TRANSFER:
                status = transfer(
                    tx, result, accounts, account_positions, positions, instruments, house,
                    log, count,
                )  # fmt: skip
            elif kind == K_CLOSE:
                status = close(tx, result, accounts, orders, instruments, house, log, count)
            else:
                status = E_FALLBACK
        if status == E_FALLBACK:
            result[:] = 0
            return at
        result[R_STATUS] = status
    return txs.shape[0]
