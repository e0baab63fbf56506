"""``ClearingMachine``: the clearing house as a ``StateMachine`` for the execution engine.

Dispatch on the transaction type happens here and nowhere else: ``_HANDLERS`` maps each
transaction class to its access-set function and its apply function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, Union

from paraclear.clearing import errors
from paraclear.clearing.access_shapes import SHAPES
from paraclear.clearing.events import Event
from paraclear.clearing.handlers import (
    backstop,
    expiry,
    funds,
    market,
    orders,
    pool,
    pool_trading,
    trading,
)
from paraclear.clearing.margin import MarginModel, StandardMargin
from paraclear.clearing.transactions import (
    AmendOrder,
    Backstop,
    CancelOrder,
    CloseOrder,
    ConfigurePool,
    Deleverage,
    Deposit,
    Funding,
    Liquidate,
    ListInstrument,
    OracleUpdate,
    PlaceOrder,
    PoolDeposit,
    PoolHedge,
    PoolTrade,
    PoolWithdraw,
    SettleExpiry,
    SettleFill,
    Trade,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import BatchRunner, BlockContext
from paraclear.execution.access_batch import AccessBatch, ShapedAccess
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k

AccessFn = Callable[[Any], AccessSet]
ApplyFn = Callable[[Any, StateView, BlockContext, MarginModel], Sequence[object]]

_HANDLERS: Final[dict[type, tuple[AccessFn, ApplyFn]]] = {
    Deposit: (funds.access_deposit, funds.apply_deposit),
    Withdraw: (funds.access_withdraw, funds.apply_withdraw),
    Transfer: (funds.access_transfer, funds.apply_transfer),
    ListInstrument: (market.access_list_instrument, market.apply_list_instrument),
    OracleUpdate: (market.access_oracle_update, market.apply_oracle_update),
    Funding: (market.access_funding, market.apply_funding),
    Trade: (trading.access_trade, trading.apply_trade),
    PlaceOrder: (orders.access_place_order, orders.apply_place_order),
    CancelOrder: (orders.access_cancel_order, orders.apply_cancel_order),
    AmendOrder: (orders.access_amend_order, orders.apply_amend_order),
    SettleFill: (orders.access_settle_fill, orders.apply_settle_fill),
    CloseOrder: (orders.access_close_order, orders.apply_close_order),
    Liquidate: (trading.access_liquidate, trading.apply_liquidate),
    Backstop: (backstop.access_backstop, backstop.apply_backstop),
    Deleverage: (backstop.access_deleverage, backstop.apply_deleverage),
    SettleExpiry: (expiry.access_settle_expiry, expiry.apply_settle_expiry),
    ConfigurePool: (pool.access_configure_pool, pool.apply_configure_pool),
    PoolDeposit: (pool.access_pool_deposit, pool.apply_pool_deposit),
    PoolWithdraw: (pool.access_pool_withdraw, pool.apply_pool_withdraw),
    PoolTrade: (pool_trading.access_pool_trade, pool_trading.apply_pool_trade),
    PoolHedge: (pool_trading.access_pool_hedge, pool_trading.apply_pool_hedge),
}


Engine = Literal["reference", "compiled"]
ENGINES: Final[tuple[Engine, ...]] = ("reference", "compiled")
"""How a machine runs transactions: ``reference`` runs the readable handlers (the
specification); ``compiled`` runs blocks' order flow (placements, cancels, amends, fills,
closes) as compiled kernels over columnar tables (``clearing.kernels``) wherever a block is
run as a whole (``BlockRun.run_all``), with identical receipts, writes and roots."""


class ClearingMachine:
    """Runs clearing transactions: nonce and fee in ``begin``, the handler in ``apply``."""

    def __init__(
        self,
        margin_model: MarginModel | None = None,
        *,
        declared: bool = True,
        engine: Engine = "reference",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        self.margin_model: MarginModel = margin_model or StandardMargin()
        self.declared = declared
        """With ``False`` every transaction runs optimistically (declares nothing)."""
        self.engine: Engine = engine
        self._shaped = ShapedAccess(SHAPES, self.access)
        self.batch_runner: BatchRunner[Transaction] | None = None
        if engine == "compiled":
            from paraclear.clearing.kernels.engine import CompiledEngine

            self.batch_runner = CompiledEngine(self)

    @property
    def event_type(self) -> object:
        """Every event class, as one tagged union, for the receipts' encoding (``wire``)."""
        return Union[tuple(_leaf_classes(Event))]  # noqa: UP007

    def access(self, tx: Transaction) -> AccessSet | None:
        if not self.declared:
            return None
        return _HANDLERS[type(tx)][0](tx)

    def access_batch(self, txs: Sequence[Transaction]) -> AccessBatch:
        """The access sets of ``txs``, as ``access`` gives them, as lock ids in bulk: the
        order flow's types by their shapes (``access_shapes``), the others one by one."""
        if not self.declared:
            return AccessBatch.of([None] * len(txs), self._shaped.table)
        return self._shaped(txs)

    def begin(self, tx: Transaction, view: StateView, ctx: BlockContext) -> None:
        """Check and consume the sender's nonce, and pay the fee into the fee pool.

        Transactions that take no nonce (the producer's settlements) begin with nothing.
        """
        if not type(tx).consumes_nonce:
            return
        nonce_key = k.nonce(tx.sender)
        expected = view.get_int(nonce_key)
        if tx.nonce != expected:
            raise errors.InvalidNonce(account=tx.sender, expected=expected, got=tx.nonce)
        view.set(nonce_key, expected + 1)
        if tx.fee:
            collateral_key = k.collateral(tx.sender)
            balance = view.get_int(collateral_key)
            if tx.fee > balance:
                raise errors.InsufficientFee(account=tx.sender, fee=tx.fee, collateral=balance)
            view.set(collateral_key, balance - tx.fee)
            view.add(k.FEE_POOL, tx.fee)

    def apply(self, tx: Transaction, view: StateView, ctx: BlockContext) -> Sequence[object]:
        return _HANDLERS[type(tx)][1](tx, view, ctx, self.margin_model)


def _leaf_classes(base: type) -> list[type]:
    """Concrete subclasses of ``base`` (those without subclasses), in a stable order."""
    found: list[type] = []
    sub: type
    for sub in base.__subclasses__():
        found.extend(_leaf_classes(sub) if sub.__subclasses__() else [sub])
    return sorted(found, key=lambda cls: cls.__qualname__)
