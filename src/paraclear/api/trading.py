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

import base64
import binascii
from typing import Any, Literal, TypeVar

from paraclear.api import account_views, views
from paraclear.api.desk import Desk, Included
from paraclear.api.methods import Params
from paraclear.api.reads import Number, raw_number
from paraclear.api.rpc import APPLICATION_ERROR, UNAUTHORIZED, Context, Registry, RpcError
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

_TxT = TypeVar("_TxT", bound=Transaction)

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


def _signed_as(
    text: str, account: str | None, kind: type[_TxT], name: str
) -> tuple[SignedTx, _TxT]:
    """The caller's envelope in ``signed_tx`` (``decode_order_tx``) and its transaction,
    which must be a ``kind`` (``name`` in the error)."""
    signed = decode_order_tx(text, account)
    tx = signed.tx
    if not isinstance(tx, kind):
        raise RpcError.invalid_params("signed_tx", f"expected {name}, got {type(tx).__name__}")
    return signed, tx


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
    """Order entry through a ``Desk``: the node in this process, or a front-end's core."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

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
        included = await self._include(signed)
        return _order_result(tx.sender, tx.nonce, included, tx)

    async def edit(self, context: Context, params: EditParams) -> dict[str, Any]:
        signed, tx = _signed_as(params.signed_tx, context.account, AmendOrder, "an amend_order")
        check_order_id(params.order_id, tx.sender, tx.order)
        if params.amount is not None:
            _agree("amount", raw_number(params.amount, "amount", parse_size), tx.size)
        if params.price is not None:
            _agree("price", raw_number(params.price, "price", parse_price), tx.price)
        included = await self._include(signed)
        return _order_result(tx.sender, tx.order, included, None)

    async def cancel(self, context: Context, params: CancelParams) -> dict[str, Any]:
        signed, tx = _signed_as(params.signed_tx, context.account, CancelOrder, "a cancel_order")
        check_order_id(params.order_id, tx.sender, tx.order)
        included = await self._include(signed)
        before = included.before
        closed = included.closed
        view = account_views.order_view(tx.sender, tx.order, before) if before is not None else {}
        view.update(
            order_id=views.order_id(tx.sender, tx.order),
            id=views.order_id(tx.sender, tx.order),
            instrument_name=tx.instrument,
            order_state="cancelled",
            status="canceled",
            remaining=views.size(closed.remaining) if closed else 0.0,
            block=included.height,
        )
        return view

    async def send_transaction(self, context: Context, params: TransactionParams) -> dict[str, Any]:
        """Any signed transaction (a deposit, an operator's oracle update): its signature is
        its authority, so this is public. Answers with its receipt once its block is
        durable; a transaction that failed in its block is ``ok: false`` with its error."""
        signed = decode_envelope(params.signed_tx)
        included = await self.desk.include(signed, views=False)
        error = included.error
        return {
            "tx_id": included.tx_id,
            "block": included.height,
            "index": included.index,
            "ok": included.ok,
            "error": None
            if error is None
            else {"error": error.code, "message": error.message, **dict(error.details)},
        }

    async def _include(self, signed: SignedTx) -> Included:
        """Submit and wait until the block is durable and in the views; raise the failure
        if the receipt has one."""
        included = await self.desk.include(signed, views=True)
        if not included.ok:
            error = included.error
            reason = error.code if error is not None else "failed"
            details = dict(error.details) if error is not None else {}
            message = error.message if error is not None else "transaction failed"
            raise RpcError(
                APPLICATION_ERROR,
                f"{reason}: {message}",
                {"error": reason, **details, "block": included.height},
            )
        return included


def _order_result(
    account: str, nonce: int, included: Included, placed: PlaceOrder | None
) -> dict[str, Any]:
    """Deribit's ``{"order", "trades"}`` for an order after its block."""
    height = included.height
    trades = [
        views.trade_view(height, included.time, n, fill, seq=seq) for n, fill, seq in included.fills
    ]
    fills = [fill for _, fill, _ in included.fills]
    order = included.order
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
