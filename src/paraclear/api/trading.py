"""Deribit's order entry over the node core, and ``public/send_transaction``.

Order entry: a transaction is signed by its account, and the server never signs for anyone,
so ``private/buy``, ``private/sell``, ``private/edit`` and ``private/cancel`` carry the signed
transaction in ``signed_tx`` (base64 of ``envelope.encode_signed``). Deribit's own
parameters (``instrument_name``, ``amount``, ``price``, ``type``, ``time_in_force``,
``post_only``, ``reduce_only``, ``label``; ``order_id`` for edit and cancel) are optional;
where given they must agree with the transaction, so what a client shows is what it signed.
The transaction's sender must be the connection's authenticated account.

A call answers when the block that includes the transaction is durable, with Deribit's
``{"order": ..., "trades": [...]}``: the order as the block left it and the block's fills of
it. A transaction that fails in its block answers with an application error naming the
failure (``data.error``, its typed fields, ``data.block``).

``public/send_transaction`` takes any signed transaction (deposits, operators' updates):
its signature is its authority. It answers with the receipt.

Reads (positions, account summary, margins, books, tickers, trades) are in ``reads``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from paraclear.api import account_views, views
from paraclear.api.bridge import ThreadBridge
from paraclear.api.methods import Params
from paraclear.api.reads import (
    NodeLike,
    Number,
    open_order,
    raw_number,
)
from paraclear.api.rpc import APPLICATION_ERROR, UNAUTHORIZED, Context, Registry, RpcError
from paraclear.chain.core import Inclusion
from paraclear.clearing.events import OrderClosed
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    OrderType,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.client.envelope import SignedTx, decode_signed
from paraclear.numbers import parse_price, parse_size

# --- parameters ----------------------------------------------------------------------------


class OrderParams(Params, frozen=True):
    signed_tx: str
    instrument_name: str | None = None
    amount: Number | None = None
    price: Number | None = None
    type: Literal["limit", "market"] | None = None
    time_in_force: Literal["good_til_cancelled", "immediate_or_cancel", "fill_or_kill"] | None = (
        None
    )
    post_only: bool | None = None
    reduce_only: bool | None = None
    label: str | None = None


class EditParams(Params, frozen=True):
    signed_tx: str
    order_id: str | None = None
    amount: Number | None = None
    price: Number | None = None


class CancelParams(Params, frozen=True):
    signed_tx: str
    order_id: str | None = None


class TransactionParams(Params, frozen=True):
    signed_tx: str


# --- checking what the client signed ---------------------------------------------------------


def decode_envelope(text: str) -> SignedTx:
    """The envelope in ``signed_tx`` (base64). Raises RpcError, and the envelope's typed
    errors (``MalformedEnvelope``, ...)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RpcError.invalid_params("signed_tx", "not base64") from None
    return decode_signed(raw)


def decode_order_tx(text: str, account: str | None) -> SignedTx:
    """The envelope in ``signed_tx``, which must be the caller's (see ``decode_envelope``)."""
    signed = decode_envelope(text)
    if signed.tx.sender != account:
        raise RpcError(
            UNAUTHORIZED,
            f"the transaction is {signed.tx.sender}'s; this connection acts for {account}",
            {"sender": signed.tx.sender, "account": account},
        )
    return signed


def _agree(param: str, given: object, signed: object) -> None:
    if given is not None and given != signed:
        raise RpcError.invalid_params(param, f"{given!r} is not what the transaction says")


def order_type(params: OrderParams) -> OrderType | None:
    """The ``OrderType`` Deribit's parameters describe, or None if they name none."""
    if params.post_only:
        return OrderType.POST_ONLY
    if params.type == "market":
        return OrderType.MARKET
    if params.time_in_force == "immediate_or_cancel":
        return OrderType.IOC
    if params.time_in_force == "fill_or_kill":
        return OrderType.FOK
    if params.type is not None or params.time_in_force is not None:
        return OrderType.LIMIT
    return None


def check_place(params: OrderParams, tx: Transaction, side: Side) -> PlaceOrder:
    """The transaction, if it is the order the parameters describe. Raises RpcError."""
    if not isinstance(tx, PlaceOrder):
        raise RpcError.invalid_params(
            "signed_tx", f"expected a place_order, got {type(tx).__name__}"
        )
    _agree("side", side, tx.side)
    _agree("instrument_name", params.instrument_name, tx.instrument)
    if params.amount is not None:
        _agree("amount", raw_number(params.amount, "amount", parse_size), tx.size)
    if params.price is not None:
        _agree("price", raw_number(params.price, "price", parse_price), tx.price)
    _agree("type", order_type(params), tx.kind)
    _agree("reduce_only", params.reduce_only, tx.reduce_only)
    _agree("label", params.label, tx.label)
    return tx


def check_order_id(param: str | None, account: str, order: int) -> None:
    _agree("order_id", param, views.order_id(account, order))


# --- the methods -----------------------------------------------------------------------------


class TradingMethods:
    """Order entry, account reads, books and trades of one node."""

    def __init__(
        self, node: NodeLike, caught_up: Callable[[int], Awaitable[None]] | None = None
    ) -> None:
        self.node = node
        self.caught_up = caught_up
        self._bridges: tuple[asyncio.AbstractEventLoop, ThreadBridge] | None = None
        """Waits until the node's books and recent trades include a block (see
        ``api.Publisher.caught_up``); answers are built only after."""

    def register(self, registry: Registry) -> None:
        registry.add("private/buy", OrderParams, self.buy)
        registry.add("private/sell", OrderParams, self.sell)
        registry.add("private/edit", EditParams, self.edit)
        registry.add("private/cancel", CancelParams, self.cancel)
        registry.add("public/send_transaction", TransactionParams, self.send_transaction)

    # --- order entry ---------------------------------------------------------------------

    async def buy(self, context: Context, params: OrderParams) -> dict[str, Any]:
        return await self._place(context, params, Side.BUY)

    async def sell(self, context: Context, params: OrderParams) -> dict[str, Any]:
        return await self._place(context, params, Side.SELL)

    async def _place(self, context: Context, params: OrderParams, side: Side) -> dict[str, Any]:
        signed = decode_order_tx(params.signed_tx, context.account)
        tx = check_place(params, signed.tx, side)
        inclusion = await self._include(signed)
        return self._order_result(tx.sender, tx.nonce, inclusion, tx)

    async def edit(self, context: Context, params: EditParams) -> dict[str, Any]:
        signed = decode_order_tx(params.signed_tx, context.account)
        tx = signed.tx
        if not isinstance(tx, AmendOrder):
            raise RpcError.invalid_params(
                "signed_tx", f"expected an amend_order, got {type(tx).__name__}"
            )
        check_order_id(params.order_id, tx.sender, tx.order)
        if params.amount is not None:
            _agree("amount", raw_number(params.amount, "amount", parse_size), tx.size)
        if params.price is not None:
            _agree("price", raw_number(params.price, "price", parse_price), tx.price)
        inclusion = await self._include(signed)
        return self._order_result(tx.sender, tx.order, inclusion, None)

    async def cancel(self, context: Context, params: CancelParams) -> dict[str, Any]:
        signed = decode_order_tx(params.signed_tx, context.account)
        tx = signed.tx
        if not isinstance(tx, CancelOrder):
            raise RpcError.invalid_params(
                "signed_tx", f"expected a cancel_order, got {type(tx).__name__}"
            )
        check_order_id(params.order_id, tx.sender, tx.order)
        before = open_order(self.node.state, tx.sender, tx.order)
        inclusion = await self._include(signed)
        height, events = inclusion.height, inclusion.receipt.events
        closed = next((e for e in events if isinstance(e, OrderClosed)), None)
        view = account_views.order_view(tx.sender, tx.order, before) if before is not None else {}
        view.update(
            order_id=views.order_id(tx.sender, tx.order),
            id=views.order_id(tx.sender, tx.order),
            instrument_name=tx.instrument,
            order_state="cancelled",
            status="canceled",
            remaining=views.size(closed.remaining) if closed else 0.0,
            block=height,
        )
        return view

    async def send_transaction(self, context: Context, params: TransactionParams) -> dict[str, Any]:
        """Any signed transaction (a deposit, an operator's oracle update): its signature is
        its authority, so this is public. Answers with its receipt once its block is
        durable; a transaction that failed in its block is ``ok: false`` with its error."""
        signed = decode_envelope(params.signed_tx)
        inclusion = await self._bridge().wrap(self.node.submit(signed))
        receipt = inclusion.receipt
        error = receipt.error
        return {
            "tx_id": inclusion.tx_id,
            "block": inclusion.height,
            "index": inclusion.index,
            "ok": receipt.ok,
            "error": None
            if error is None
            else {"error": error.code, "message": error.message, **dict(error.details)},
        }

    def _bridge(self) -> ThreadBridge:
        loop = asyncio.get_running_loop()
        if self._bridges is None or self._bridges[0] is not loop:
            self._bridges = (loop, ThreadBridge(loop))
        return self._bridges[1]

    async def _include(self, signed: SignedTx) -> Inclusion:
        """Submit and wait for the durable block; raise the failure if the receipt has one."""
        inclusion: Inclusion = await self._bridge().wrap(self.node.submit(signed))
        if self.caught_up is not None:
            await self.caught_up(inclusion.height)
        receipt = inclusion.receipt
        if not receipt.ok:
            error = receipt.error
            reason = error.code if error is not None else "failed"
            details = dict(error.details) if error is not None else {}
            message = error.message if error is not None else "transaction failed"
            raise RpcError(
                APPLICATION_ERROR,
                f"{reason}: {message}",
                {"error": reason, **details, "block": inclusion.height},
            )
        return inclusion

    def _order_result(
        self, account: str, nonce: int, inclusion: Inclusion, placed: PlaceOrder | None
    ) -> dict[str, Any]:
        """Deribit's ``{"order", "trades"}`` for an order after its block."""
        height = inclusion.height
        tape = self.node.tape
        trades = [
            views.trade_view(
                height, inclusion.time, n, fill, seq=tape.seq_of(fill.instrument, height, n)
            )
            for n, fill in inclusion.fills
        ]
        fills = [fill for _, fill in inclusion.fills]
        order = open_order(self.node.state, account, nonce)
        if order is not None:
            view = account_views.order_view(account, nonce, order)
        elif placed is not None:
            filled = sum(fill.size for fill in fills)
            view = account_views.order_view(account, nonce, _closed_order(placed, filled))
            state = "filled" if filled == placed.size else "cancelled"
            view.update(order_state=state, status="closed" if state == "filled" else "canceled")
        else:
            view = {"order_id": views.order_id(account, nonce), "order_state": "closed"}
        view["block"] = height
        view["label"] = placed.label if placed is not None else view.get("label", "")
        return {"order": view, "trades": trades}


def _closed_order(placed: PlaceOrder, filled: int) -> OpenOrder:
    return OpenOrder(
        instrument=placed.instrument,
        is_buy=placed.side is Side.BUY,
        kind=placed.kind.value,
        price=placed.price,
        remaining=0,
        filled=filled,
        reserved=0,
        reduce_only=placed.reduce_only,
        good_til=placed.good_til,
    )
