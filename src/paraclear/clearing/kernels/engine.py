"""``CompiledEngine``: runs a block's order flow through the kernels, and everything else
through the reference handlers, with the same receipts and writes as the handlers alone.

The glue turns each transaction into a row of integers (names resolved to table rows), runs
the longest stretch of order-flow transactions through ``run_orders`` in one call, and builds
the receipts from the results. A transaction the kernels hand back (``E_FALLBACK``), and any
other type, runs through ``BlockRun``'s reference path: the kernels' changes are flushed
into the block's pending writes first, and what the handler wrote is routed back into the
tables after.

The tables persist from block to block while they mirror the state: the engine trusts them
after it committed a block it ran, until anything else commits to that state (it watches).
Otherwise it loads them again from the state and the block's pending writes.

``timings`` (``EngineTimings``) says where the engine's time went: glue, kernels, receipt
objects, flushes, the reference handlers and table loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from time import perf_counter
from typing import TYPE_CHECKING, Final

import numpy as np

from paraclear.clearing import errors
from paraclear.clearing.events import (
    Deposited,
    OrderAmended,
    OrderClosed,
    OrderFilled,
    OrderPlaced,
    TradeSettled,
    Transferred,
    Withdrawn,
)
from paraclear.clearing.kernels.codes import (
    E_BALANCE_LIMIT,
    E_BANKRUPT,
    E_FILL_MISMATCH,
    E_INSTRUMENT_EXPIRED,
    E_INSUFFICIENT_COLLATERAL,
    E_INSUFFICIENT_FEE,
    E_INSUFFICIENT_MARGIN,
    E_INVALID_NONCE,
    E_NOT_MULTIPLE_PRICE,
    E_NOT_MULTIPLE_SIZE,
    E_OK,
    E_ORDER_EXPIRED,
    E_REDUCE_ONLY,
    E_REMAINING_TOO_LARGE,
    E_SELF_TRADE,
    E_SELF_TRANSFER,
    E_TOO_MANY_ORDERS,
    E_UNAUTHORIZED,
    E_UNKNOWN_ORDER,
    FILL_REASONS,
    K_AMEND,
    K_CANCEL,
    K_CLOSE,
    K_DEPOSIT,
    K_FILL,
    K_PLACE,
    K_TRADE,
    K_TRANSFER,
    K_WITHDRAW,
    R_E1,
    R_E2,
    R_E3,
    R_FIELDS,
    R_STATUS,
    R_V1,
    R_V2,
    X_FIELDS,
    X_KIND,
    X_ORDER,
)
from paraclear.clearing.kernels.layout import (
    O_ACCT,
    O_BUY,
    O_INST,
    O_LIVE,
    O_NONCE,
    O_TOUCH,
    ORDER_KINDS,
)
from paraclear.clearing.kernels.rows import MAX_BALANCE, MAX_OPEN_ORDERS
from paraclear.clearing.kernels.run import run_orders
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.kernels.timings import EngineTimings
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    Deposit,
    PlaceOrder,
    SettleFill,
    Side,
    Trade,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import BlockRun, Receipt
from paraclear.execution.result import ErrorInfo
from paraclear.state import Key, State, TxFailure

if TYPE_CHECKING:
    from paraclear.clearing.machine import ClearingMachine

_KIND_CODES: Final = {kind: code for code, kind in enumerate(ORDER_KINDS)}
KERNEL_TYPES: Final = (
    PlaceOrder,
    CancelOrder,
    AmendOrder,
    SettleFill,
    CloseOrder,
    Trade,
    Deposit,
    Withdraw,
    Transfer,
)
MIN_CHUNK: Final = 8
MAX_CHUNK: Final = 4096
"""Transactions glued and run per kernel call: a fallback makes the glue of the rest of its
call stale (the reference handler may have opened or closed what later ones name), so after
one the calls start small again and double while nothing falls back."""


class CompiledEngine:
    """The batch runner of a ``ClearingMachine`` with ``engine="compiled"``."""

    def __init__(self, machine: ClearingMachine) -> None:
        self.machine = machine
        self.tables: Tables | None = None
        self._data: Mapping[Key, object] | None = None
        self._run: BlockRun[Transaction] | None = None
        self._included = 0
        self._trusted = False
        self._watched: set[int] = set()
        self.fallbacks = 0
        """Transactions of a kernel type that the reference handlers ran (since start)."""
        self.loads = 0
        """Times the tables were loaded from a state (since start): once, and again after
        anything else committed to the state or ran in a block between the engine's
        batches."""
        self.timings = EngineTimings()
        """Where its time went, part by part (since start)."""

    # --- the BatchRunner protocol ------------------------------------------------------------

    def run_batch(self, run: BlockRun[Transaction], txs: Iterable[Transaction]) -> list[Receipt]:
        """Run ``txs`` in order as ``run.run_all`` would; their receipts."""
        tables = self._tables_for(run)
        batch = list(txs)
        first = len(run.receipts)
        at, chunk = 0, MIN_CHUNK
        while at < len(batch):
            end = at
            while end < len(batch) and end - at < chunk and isinstance(batch[end], KERNEL_TYPES):
                end += 1
            if end > at and tables.usable:
                done = self._run_kernels(run, tables, batch[at:end])
                at += done
                if at == end:
                    chunk = min(2 * chunk, MAX_CHUNK)
                    continue
                self.fallbacks += 1
                chunk = MIN_CHUNK
            self._run_reference(run, tables, batch[at])
            at += 1
        self._flush(run, tables)
        self._run, self._included = run, len(run.receipts)
        return run.receipts[first:]

    def committed(self, run: BlockRun[Transaction], state: State) -> None:
        """``run`` was committed to ``state``: the tables mirror it until someone else
        commits to it, unless something ran in ``run`` after the engine's last batch."""
        if run is not self._run:
            return
        self._run, self._trusted = None, self._included == len(run.receipts)
        if id(state) not in self._watched:
            self._watched.add(id(state))
            state.watch(self._on_commit)

    def warm_up(self) -> None:
        """Compile the kernels (or load them from numba's cache) on an empty block."""
        tables = Tables(self.machine.margin_model)
        none = np.zeros((0, X_FIELDS), dtype=np.int64)
        run_orders(
            none, np.zeros((0, R_FIELDS), dtype=np.int64), 0,
            tables.accounts, tables.account_positions, tables.positions, tables.orders,
            tables.instruments, tables.house, 0, 0,
            np.zeros((4, 1), dtype=np.int64), np.zeros(4, dtype=np.int64),
        )  # fmt: skip

    def _on_commit(self, writes: Mapping[Key, object]) -> None:
        if self._run is None or writes is not self._run.pending:
            self._trusted = False

    # --- keeping the tables in step ------------------------------------------------------------

    def _tables_for(self, run: BlockRun[Transaction]) -> Tables:
        tables = self.tables
        fresh_block = self._run is None and self._trusted and not run.receipts and not run.pending
        same_run = self._run is run and self._included == len(run.receipts)
        if tables is not None and self._data is run.data and (fresh_block or same_run):
            return tables
        started = perf_counter()
        tables = self.tables = Tables(self.machine.margin_model)
        self.loads += 1
        tables.load(run.data)
        for key, value in run.pending.items():
            tables.route(key, value)
        self._data, self._trusted = run.data, False
        self.timings.loads += perf_counter() - started
        return tables

    def _flush(self, run: BlockRun[Transaction], tables: Tables) -> None:
        started = perf_counter()
        tables.flush(run.pending, run.data)
        self.timings.flush += perf_counter() - started

    def _run_reference(self, run: BlockRun[Transaction], tables: Tables, tx: Transaction) -> None:
        self._flush(run, tables)
        access = run.access(tx)
        started = perf_counter()
        receipt, view = run.attempt(tx, len(run.receipts), access)
        run.include(tx, receipt, view, access)
        pending = run.pending
        for key in chain(view.writes, view.deltas):
            tables.route(key, pending.get(key))
        self.timings.reference += perf_counter() - started

    # --- the kernels ---------------------------------------------------------------------------

    def _run_kernels(
        self, run: BlockRun[Transaction], tables: Tables, txs: list[Transaction]
    ) -> int:
        """Run ``txs`` through the kernels until one falls back; include what ran and
        return how many."""
        started = perf_counter()
        columns = np.array([_columns(tables, tx) for tx in txs], dtype=np.int64)
        columns = columns.reshape(len(txs), X_FIELDS)
        results = np.zeros((len(txs), R_FIELDS), dtype=np.int64)
        log = np.empty((4, 2 * len(txs) + 8), dtype=np.int64)
        count = np.zeros(4, dtype=np.int64)
        ctx = run.ctx
        glued = perf_counter()
        done = run_orders(
            columns, results, 0,
            tables.accounts, tables.account_positions, tables.positions, tables.orders,
            tables.instruments, tables.house, ctx.height, ctx.time, log, count,
        )  # fmt: skip
        ran = perf_counter()
        tables.touched_accounts.extend(log[0, : count[0]].tolist())
        tables.touched_positions.extend(log[1, : count[1]].tolist())
        tables.touched_orders.extend(log[2, : count[2]].tolist())
        tables.touched_instruments.extend(log[3, : count[3]].tolist())
        index = len(run.receipts)
        receipts_started = perf_counter()
        for at in range(done):
            run.txs.append(txs[at])
            run.receipts.append(_receipt(tables, txs[at], columns[at], results[at], index + at))
        receipts_done = perf_counter()
        _free_unplaced(tables, columns)
        timings = self.timings
        timings.glue += (glued - started) + (receipts_started - ran)
        timings.glue += perf_counter() - receipts_done
        timings.kernels += ran - glued
        timings.receipts += receipts_done - receipts_started
        timings.kernel_txs += int(done)
        timings.kernel_calls += 1
        return int(done)


def _free_unplaced(tables: Tables, columns: np.ndarray) -> None:
    """Give back the order rows of placements that did not open an order."""
    orders = tables.orders
    rows = columns[(columns[:, X_KIND] == K_PLACE) & (columns[:, X_ORDER] >= 0), X_ORDER]
    rows = rows[(orders[rows, O_LIVE] == 0) & (orders[rows, O_TOUCH] == 0)]
    accounts, nonces = orders[rows, O_ACCT].tolist(), orders[rows, O_NONCE].tolist()
    for row, account, nonce in zip(rows.tolist(), accounts, nonces, strict=True):
        if tables.order_row.get((account, nonce)) == row:
            del tables.order_row[(account, nonce)]
        tables.free_orders.append(row)


def _columns(tables: Tables, tx: Transaction) -> list[int]:
    """The transaction as a row of ``X_*`` columns."""
    sender = tables.account(tx.sender)
    if isinstance(tx, PlaceOrder):
        at = tables.instrument(tx.instrument)
        held = tables.find_order(sender, tx.nonce)
        live = held >= 0 and tables.orders[held, O_LIVE]
        row = -1 if live else tables.new_order(sender, tx.nonce)
        position = tables.position(sender, at) if tx.reduce_only else -1
        return [
            K_PLACE, sender, tx.nonce, tx.fee, 1, at, tx.side is Side.BUY,
            _KIND_CODES[tx.kind.value], tx.price, tx.size, tx.reduce_only, tx.good_til,
            row, tx.nonce, -1, -1, -1, -1, position, -1, 0,
        ]  # fmt: skip
    if isinstance(tx, CancelOrder):
        return [
            K_CANCEL, sender, tx.nonce, tx.fee, 1, tables.instrument(tx.instrument), 0, 0, 0,
            0, 0, 0, tables.find_order(sender, tx.order), tx.order, -1, -1, -1, -1, -1, -1, 0,
        ]  # fmt: skip
    if isinstance(tx, AmendOrder):
        return [
            K_AMEND, sender, tx.nonce, tx.fee, 1, -1, 0, 0, tx.price, tx.size, 0, 0,
            tables.find_order(sender, tx.order), tx.order, -1, -1, -1, -1, -1, -1, 0,
        ]  # fmt: skip
    if isinstance(tx, SettleFill):
        at = tables.instrument(tx.instrument)
        taker, maker = tables.account(tx.taker), tables.account(tx.maker)
        return [
            K_FILL, sender, tx.nonce, tx.fee, 0, at, 0, 0, tx.price, tx.size, 0, 0,
            tables.find_order(taker, tx.taker_order), tx.taker_order, taker, maker,
            tables.find_order(maker, tx.maker_order), tx.maker_order,
            tables.position(taker, at), tables.position(maker, at), 0,
        ]  # fmt: skip
    if isinstance(tx, Trade):
        at = tables.instrument(tx.instrument)
        maker = tables.account(tx.maker)
        return [
            K_TRADE, sender, tx.nonce, tx.fee, 1, at, tx.side is Side.BUY, 0, tx.price,
            tx.size, 0, 0, -1, 0, -1, maker, -1, 0, tables.position(sender, at),
            tables.position(maker, at), 0,
        ]  # fmt: skip
    if isinstance(tx, Deposit | Withdraw | Transfer):
        kind = K_DEPOSIT if isinstance(tx, Deposit) else K_WITHDRAW
        to = -1
        if isinstance(tx, Transfer):
            kind, to = K_TRANSFER, tables.account(tx.to)
        return [
            kind, sender, tx.nonce, tx.fee, 1, -1, 0, 0, 0, tx.amount, 0, 0, -1, 0, -1, to,
            -1, 0, -1, -1, 0,
        ]  # fmt: skip
    assert isinstance(tx, CloseOrder)
    account = tables.account(tx.account)
    return [
        K_CLOSE, sender, tx.nonce, tx.fee, 0, tables.instrument(tx.instrument), 0, 0, 0, 0,
        0, 0, tables.find_order(account, tx.order), tx.order, account, -1, -1, -1, -1, -1,
        tx.remaining,
    ]  # fmt: skip


def _receipt(
    tables: Tables, tx: Transaction, columns: np.ndarray, result: np.ndarray, index: int
) -> Receipt:
    status = int(result[R_STATUS])
    if status != E_OK:
        return Receipt(index, False, ErrorInfo.of(_failure(tables, tx, columns, result)))
    value = int(result[R_V1])
    event: object
    if isinstance(tx, PlaceOrder):
        event = OrderPlaced(
            account=tx.sender, order=tx.nonce, instrument=tx.instrument, side=tx.side.value,
            kind=tx.kind.value, price=tx.price, size=tx.size, reserved=value,
        )  # fmt: skip
    elif isinstance(tx, CancelOrder):
        event = OrderClosed(
            account=tx.sender, order=tx.order, instrument=tx.instrument, reason="cancelled",
            remaining=0, released=value,
        )  # fmt: skip
    elif isinstance(tx, AmendOrder):
        event = OrderAmended(
            account=tx.sender, order=tx.order, price=tx.price, size=tx.size, reserved=value
        )
    elif isinstance(tx, SettleFill):
        buys = tables.orders[int(columns[X_ORDER]), O_BUY]
        event = OrderFilled(
            instrument=tx.instrument, taker=tx.taker, taker_order=tx.taker_order,
            maker=tx.maker, maker_order=tx.maker_order, taker_side="buy" if buys else "sell",
            size=tx.size, price=tx.price, maker_fee=value, taker_fee=int(result[R_V2]),
        )  # fmt: skip
    elif isinstance(tx, Deposit):
        event = Deposited(account=tx.sender, amount=tx.amount)
    elif isinstance(tx, Withdraw):
        event = Withdrawn(account=tx.sender, amount=tx.amount)
    elif isinstance(tx, Transfer):
        event = Transferred(sender=tx.sender, to=tx.to, amount=tx.amount)
    elif isinstance(tx, Trade):
        event = TradeSettled(
            instrument=tx.instrument, maker=tx.maker, taker=tx.sender,
            taker_side=tx.side.value, size=tx.size, price=tx.price, maker_fee=value,
            taker_fee=int(result[R_V2]),
        )  # fmt: skip
    else:
        assert isinstance(tx, CloseOrder)
        event = OrderClosed(
            account=tx.account, order=tx.order, instrument=tx.instrument, reason=tx.reason,
            remaining=tx.remaining, released=value,
        )  # fmt: skip
    return Receipt(index, True, None, (event,))


def _failure(
    tables: Tables, tx: Transaction, columns: np.ndarray, result: np.ndarray
) -> TxFailure:
    """The typed error the handler raises, from a kernel's result row."""
    status, e1, e2, e3 = (int(result[c]) for c in (R_STATUS, R_E1, R_E2, R_E3))
    name = tables.account_names
    if status == E_INVALID_NONCE:
        return errors.InvalidNonce(account=tx.sender, expected=e1, got=e2)
    if status == E_INSUFFICIENT_FEE:
        return errors.InsufficientFee(account=tx.sender, fee=e1, collateral=e2)
    if status in (E_NOT_MULTIPLE_PRICE, E_NOT_MULTIPLE_SIZE):
        field = "price" if status == E_NOT_MULTIPLE_PRICE else "size"
        return errors.NotMultiple(field=field, value=e1, step=e2)
    if status == E_INSTRUMENT_EXPIRED:
        if isinstance(tx, PlaceOrder | SettleFill | Trade):
            instrument = tx.instrument
        else:
            row = tables.orders[int(columns[X_ORDER])]
            instrument = tables.instrument_names[int(row[O_INST])]
        return errors.InstrumentExpired(instrument=instrument, expiry=e1, time=e2)
    if status == E_ORDER_EXPIRED:
        return errors.OrderExpired(good_til=e1, height=e2)
    if status == E_REDUCE_ONLY:
        assert isinstance(tx, PlaceOrder)
        return errors.ReduceOnlyWouldIncrease(
            account=tx.sender, instrument=tx.instrument, position=e1
        )
    if status == E_TOO_MANY_ORDERS:
        return errors.TooManyOrders(account=tx.sender, limit=MAX_OPEN_ORDERS)
    if status == E_BANKRUPT:
        return errors.AccountBankrupt(account=tx.sender, deficit=e1)
    if status == E_INSUFFICIENT_MARGIN:
        return errors.InsufficientMargin(account=name[e1], required=e2, available=e3)
    if status == E_SELF_TRADE:
        return errors.SelfTrade(account=tx.sender)
    if status == E_SELF_TRANSFER:
        return errors.Malformed(field="to", reason="transfer to oneself")
    if status == E_UNKNOWN_ORDER:
        return errors.UnknownOrder(account=name[e1], order=e2)
    if status == E_FILL_MISMATCH:
        return errors.FillMismatch(reason=FILL_REASONS[e1])
    if status == E_INSUFFICIENT_COLLATERAL:
        return errors.InsufficientCollateral(account=name[e1], required=e2, available=e3)
    if status == E_UNAUTHORIZED:
        return errors.Unauthorized(account=tx.sender, action="oracle")
    if status == E_REMAINING_TOO_LARGE:
        return errors.Malformed(field="remaining", reason="must be below the order's remaining")
    assert status == E_BALANCE_LIMIT, status
    return errors.BalanceLimit(account=name[e1], balance=e2, limit=MAX_BALANCE)
