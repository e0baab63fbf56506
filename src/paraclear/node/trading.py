"""Order entry, account methods, live market data, and subscriptions fed by the node.

Deribit's methods over the node:

* order entry (authenticated with ``public/auth``, and each order signed by its account):
  ``private/buy``, ``private/sell``, ``private/edit``, ``private/cancel``; the reply comes
  when the block holding the order is durable, with what matching did to it;
* account: ``private/get_positions``, ``private/get_account_summary``,
  ``private/get_margins``, ``private/get_open_orders``;
* market: ``public/get_order_book``, ``public/ticker``,
  ``public/get_last_trades_by_instrument``;
* ``public/send_transaction``: any signed envelope (deposits, oracle updates...), hex.

Orders are transactions: the client builds the ``PlaceOrder`` (or cancel, amend) the
parameters describe with ``order_transaction`` (the server builds the same one), signs it
with its key for the chain, and sends the parameters with ``nonce`` and ``signature``.
The server never signs for anyone. ``signed_params`` does the client's part.

``BlockPublisher`` turns each committed block into notifications: ``book.{instrument}``
(when the book changed), ``trades.{instrument}``, ``ticker.{instrument}``, and each
account's ``user.orders`` and ``user.portfolio``.

Reads of the committed state are point lookups: the block producer commits meanwhile on its
thread, so a reply may mix values of two consecutive blocks (never a partial write of one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec

from paraclear.clearing.accounts import holdings, margin_status
from paraclear.clearing.events import Event, OrderAmended, OrderClosed, OrderFilled, OrderPlaced
from paraclear.clearing.handlers.orders import reservation
from paraclear.clearing.instruments import Option, Perpetual
from paraclear.clearing.records import MarkData, OpenOrder, Position
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    OrderType,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.node import views
from paraclear.node.builder import order_id, parse_order_id
from paraclear.node.core import BlockReport, Inclusion, Node, order_key
from paraclear.node.envelope import Keypair, SignedTx, decode_signed, sign
from paraclear.node.hub import Hub
from paraclear.node.methods import Params
from paraclear.node.rpc import APPLICATION_ERROR, Context, Registry, RpcError
from paraclear.numbers import NumberError, parse_price, parse_size
from paraclear.state import StateView
from paraclear.state import keys as k

Number = int | float | str
TimeInForce = Literal["good_til_cancelled", "immediate_or_cancel", "fill_or_kill"]
MAX_BOOK_DEPTH: Final = 20
MAX_TRADES: Final = 1_000


class Signed(Params, frozen=True, kw_only=True):
    """What every order-entry call carries: the transaction's nonce, fee and signature."""

    nonce: int
    signature: str
    """Hex ed25519 signature of the transaction the parameters describe."""
    fee: int = 0


class OrderParams(Signed, frozen=True, kw_only=True):
    instrument_name: str
    amount: Number
    """Contracts, as a decimal (number or string)."""
    type: Literal["limit", "market"] = "limit"
    price: Number | None = None
    """USDC per contract; for a market order, the worst price it accepts (required)."""
    time_in_force: TimeInForce = "good_til_cancelled"
    post_only: bool = False
    reduce_only: bool = False
    label: str = ""
    valid_until_block: int = 0
    """Last block the order may rest in (0: until cancelled)."""


class EditParams(Signed, frozen=True, kw_only=True):
    order_id: str
    amount: Number
    price: Number


class CancelParams(Signed, frozen=True, kw_only=True):
    order_id: str
    instrument_name: str


class InstrumentParams(Params, frozen=True):
    instrument_name: str


class BookParams(Params, frozen=True):
    instrument_name: str
    depth: int = MAX_BOOK_DEPTH


class TradesParams(Params, frozen=True):
    instrument_name: str
    count: int = 10


class CurrencyParams(Params, frozen=True):
    currency: str = "any"
    kind: str | None = None


class MarginParams(Params, frozen=True):
    instrument_name: str
    amount: Number
    price: Number


class TransactionParams(Params, frozen=True):
    tx: str
    """Hex of a signed envelope (``envelope.encode_signed``)."""


# --- building the transactions (client and server alike) ------------------------------------


def order_transaction(account: str, method: str, params: Mapping[str, Any]) -> Transaction:
    """The transaction that ``method`` (``private/buy``, ``sell``, ``edit``, ``cancel``) with
    ``params`` asks ``account`` to sign. Raises RpcError (invalid params)."""
    nonce, fee = params["nonce"], params.get("fee", 0)
    if method == "private/cancel":
        _, order = _order_of(account, params["order_id"])
        return CancelOrder(
            sender=account, nonce=nonce, fee=fee, instrument=params["instrument_name"], order=order
        )
    if method == "private/edit":
        _, order = _order_of(account, params["order_id"])
        return AmendOrder(
            sender=account,
            nonce=nonce,
            fee=fee,
            order=order,
            price=_decimal("price", params["price"], parse_price),
            size=_decimal("amount", params["amount"], parse_size),
        )
    if params.get("price") is None:
        raise RpcError.invalid_params("price", "every order has a price (a market order's bound)")
    return PlaceOrder(
        sender=account,
        nonce=nonce,
        fee=fee,
        instrument=params["instrument_name"],
        side=Side.BUY if method == "private/buy" else Side.SELL,
        kind=_order_type(params),
        price=_decimal("price", params["price"], parse_price),
        size=_decimal("amount", params["amount"], parse_size),
        reduce_only=params.get("reduce_only", False),
        good_til=params.get("valid_until_block", 0),
        label=params.get("label", ""),
    )


def signed_params(keypair: Keypair, chain_id: str, method: str, **params: Any) -> dict[str, Any]:
    """``params`` with the signature of the transaction they describe: what a client sends."""
    tx = order_transaction(keypair.account, method, params)
    signature = sign(keypair, chain_id, tx).signature
    return {**params, "signature": signature.hex()}


def _order_type(params: Mapping[str, Any]) -> OrderType:
    if params.get("type", "limit") == "market":
        return OrderType.MARKET
    if params.get("post_only"):
        return OrderType.POST_ONLY
    return {
        "good_til_cancelled": OrderType.LIMIT,
        "immediate_or_cancel": OrderType.IOC,
        "fill_or_kill": OrderType.FOK,
    }[params.get("time_in_force", "good_til_cancelled")]


def _decimal(name: str, value: Number, parse: Any) -> int:
    try:
        raw: int = parse(repr(value) if isinstance(value, float) else value)
    except (NumberError, TypeError) as error:
        raise RpcError.invalid_params(name, str(error)) from None
    if raw <= 0:
        raise RpcError.invalid_params(name, "must be positive")
    return raw


def _order_of(account: str, text: str) -> tuple[str, int]:
    try:
        owner, nonce = parse_order_id(text)
    except ValueError as error:
        raise RpcError.invalid_params("order_id", str(error)) from None
    if owner != account:
        raise RpcError(APPLICATION_ERROR, "not your order", {"reason": "not_order_owner"})
    return owner, nonce


# --- the methods ----------------------------------------------------------------------------


class TradingMethods:
    """The node's order-entry, account and market-data methods."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def register(self, registry: Registry) -> None:
        registry.add("private/buy", OrderParams, self.buy)
        registry.add("private/sell", OrderParams, self.sell)
        registry.add("private/edit", EditParams, self.edit)
        registry.add("private/cancel", CancelParams, self.cancel)
        registry.add("private/get_positions", CurrencyParams, self.get_positions)
        registry.add("private/get_account_summary", CurrencyParams, self.get_account_summary)
        registry.add("private/get_margins", MarginParams, self.get_margins)
        registry.add("private/get_open_orders", CurrencyParams, self.get_open_orders)
        registry.add("public/get_order_book", BookParams, self.get_order_book)
        registry.add("public/ticker", InstrumentParams, self.ticker)
        registry.add("public/get_last_trades_by_instrument", TradesParams, self.last_trades)
        registry.add("public/send_transaction", TransactionParams, self.send_transaction)

    # order entry

    async def buy(self, context: Context, params: OrderParams) -> dict[str, Any]:
        return await self._order(context, "private/buy", params)

    async def sell(self, context: Context, params: OrderParams) -> dict[str, Any]:
        return await self._order(context, "private/sell", params)

    async def edit(self, context: Context, params: EditParams) -> dict[str, Any]:
        return await self._order(context, "private/edit", params)

    async def cancel(self, context: Context, params: CancelParams) -> dict[str, Any]:
        result = await self._order(context, "private/cancel", params)
        order: dict[str, Any] = result["order"]
        return order

    async def _order(self, context: Context, method: str, params: Signed) -> dict[str, Any]:
        account = _account(context)
        tx = order_transaction(account, method, msgspec.structs.asdict(params))
        inclusion = await self._submit(tx, params.signature)
        _raise_if_failed(inclusion)
        return {
            "order": self._order_view(tx, inclusion),
            "trades": [self._trade_view(fill) for fill in inclusion.fills],
        }

    async def send_transaction(self, context: Context, params: TransactionParams) -> dict[str, Any]:
        try:
            signed = decode_signed(bytes.fromhex(params.tx))
        except ValueError as error:
            raise RpcError.invalid_params("tx", str(error)) from None
        inclusion = await asyncio.wrap_future(self.node.submit(signed))
        receipt = inclusion.receipt
        return {
            "tx_id": inclusion.tx_id,
            "height": inclusion.height,
            "index": inclusion.index,
            "ok": receipt.ok,
            "error": msgspec.to_builtins(receipt.error) if receipt.error else None,
        }

    async def _submit(self, tx: Transaction, signature: str) -> Inclusion:
        try:
            raw_signature = bytes.fromhex(signature)
        except ValueError:
            raise RpcError.invalid_params("signature", "not hex") from None
        public_key = bytes.fromhex(tx.sender)
        signed = SignedTx(self.node.chain_id, tx, public_key, raw_signature)
        return await asyncio.wrap_future(self.node.submit(signed))

    # account

    def get_positions(self, context: Context, params: CurrencyParams) -> list[dict[str, Any]]:
        account = _account(context)
        view = StateView(self.node.state.data)
        found = []
        for position, market in holdings(view, account):
            inst = market.instrument
            if params.currency.upper() not in ("ANY", "USDC", inst.underlying):
                continue
            if params.kind is not None and params.kind != _kind(market):
                continue
            found.append(self._position_view(position, market))
        return found

    def get_account_summary(self, context: Context, params: CurrencyParams) -> dict[str, Any]:
        account = _account(context)
        view = StateView(self.node.state.data)
        status = margin_status(view, account, self.node.machine.margin_model)
        reserved = view.get_int(k.reserved(account))
        available = status.equity - status.initial - reserved
        return {
            "currency": "USDC",
            "account": account,
            "balance": views.amount(status.collateral),
            "equity": views.amount(status.equity),
            "margin_balance": views.amount(status.equity),
            "initial_margin": views.amount(status.initial),
            "maintenance_margin": views.amount(status.maintenance),
            "open_orders_margin": views.amount(reserved),
            "available_funds": views.amount(available),
            "available_withdrawal_funds": views.amount(max(min(available, status.collateral), 0)),
            "free": views.amount(max(available, 0)),
            "used": views.amount(status.initial + reserved),
            "total": views.amount(status.equity),
        }

    def get_margins(self, context: Context, params: MarginParams) -> dict[str, Any]:
        view = StateView(self.node.state.data)
        inst = view.get(k.instrument(params.instrument_name))
        if not isinstance(inst, Option | Perpetual):
            raise RpcError.invalid_params("instrument_name", "not a listed instrument")
        price = _decimal("price", params.price, parse_price)
        size = _decimal("amount", params.amount, parse_size)
        model = self.node.machine.margin_model
        return {
            side: views.amount(
                reservation(view, model, inst, params.instrument_name, side == "buy", price, size)
            )
            for side in ("buy", "sell")
        }

    def get_open_orders(self, context: Context, params: CurrencyParams) -> list[dict[str, Any]]:
        account = _account(context)
        data = self.node.state.data
        found = []
        for nonce in data.get(k.open_orders(account)) or ():  # type: ignore[attr-defined]
            order = data.get(k.order(account, nonce))
            if isinstance(order, OpenOrder):
                found.append(_open_order_view(account, nonce, order, self.node.block_time))
        return found

    # market data

    def get_order_book(self, context: Context, params: BookParams) -> dict[str, Any]:
        market = self._market(params.instrument_name)
        bids, asks = self.node.depth.get(params.instrument_name, ([], []))
        depth = max(1, min(params.depth, MAX_BOOK_DEPTH))
        book = {
            "instrument_name": params.instrument_name,
            "symbol": params.instrument_name,
            "bids": [[views.price(p), views.size(s)] for p, s in bids[:depth]],
            "asks": [[views.price(p), views.size(s)] for p, s in asks[:depth]],
            "timestamp": views.ms(self.node.block_time),
            "datetime": views.iso8601(self.node.block_time),
            "change_id": self.node.height,
            "nonce": self.node.height,
            "state": "open",
        }
        return {**book, **self._ticker_fields(params.instrument_name, market, bids, asks)}

    def ticker(self, context: Context, params: InstrumentParams) -> dict[str, Any]:
        market = self._market(params.instrument_name)
        bids, asks = self.node.depth.get(params.instrument_name, ([], []))
        return {
            "instrument_name": params.instrument_name,
            "symbol": params.instrument_name,
            "timestamp": views.ms(self.node.block_time),
            "datetime": views.iso8601(self.node.block_time),
            "state": "open",
            **self._ticker_fields(params.instrument_name, market, bids, asks),
        }

    def last_trades(self, context: Context, params: TradesParams) -> dict[str, Any]:
        self._market(params.instrument_name)
        count = max(1, min(params.count, MAX_TRADES))
        trades = list(self.node.trades.get(params.instrument_name, ()))
        chosen = trades[-count:]
        return {
            "trades": [self._trade_view(event, height, time) for height, time, event in chosen],
            "has_more": len(trades) > count,
        }

    # views

    def _market(self, name: str) -> MarkData:
        market = self.node.state.data.get(k.mark(name))
        if not isinstance(market, MarkData):
            raise RpcError.invalid_params("instrument_name", f"{name} is not a listed instrument")
        return market

    def _ticker_fields(
        self,
        name: str,
        market: MarkData,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
    ) -> dict[str, Any]:
        trades = self.node.trades.get(name)
        last = views.price(trades[-1][2].price) if trades else None
        open_interest = self.node.state.data.get(k.open_interest(name), 0)
        return {
            "best_bid_price": views.price(bids[0][0]) if bids else None,
            "best_bid_amount": views.size(bids[0][1]) if bids else 0.0,
            "best_ask_price": views.price(asks[0][0]) if asks else None,
            "best_ask_amount": views.size(asks[0][1]) if asks else 0.0,
            "bid": views.price(bids[0][0]) if bids else None,
            "ask": views.price(asks[0][0]) if asks else None,
            "mark_price": views.price(market.price),
            "markPrice": views.price(market.price),
            "index_price": views.price(market.index),
            "indexPrice": views.price(market.index),
            "last_price": last,
            "last": last,
            "open_interest": views.size(open_interest),  # type: ignore[arg-type]
        }

    def _order_view(self, tx: Transaction, inclusion: Inclusion) -> dict[str, Any]:
        account = tx.sender
        key = order_key(tx)
        assert key is not None  # an order transaction
        nonce = key[1]
        order = self.node.state.data.get(k.order(account, nonce))
        filled = sum(fill.size for fill in inclusion.fills)
        if isinstance(order, OpenOrder):
            return _open_order_view(account, nonce, order, inclusion.time)
        closed = inclusion.closed
        state = "filled" if closed is None or closed.reason == "filled" else "cancelled"
        view: dict[str, Any] = {
            "order_id": order_id(account, nonce),
            "id": order_id(account, nonce),
            "order_state": state,
            "status": "closed" if state == "filled" else "canceled",
            "filled_amount": views.size(filled),
            "filled": views.size(filled),
            "cancel_reason": closed.reason if closed else None,
            "last_update_timestamp": views.ms(inclusion.time),
        }
        if isinstance(tx, PlaceOrder):
            view.update(_placed_fields(tx, inclusion.time))
            view["remaining"] = 0.0
        return view

    def _trade_view(self, fill: OrderFilled, height: int = 0, time: int = 0) -> dict[str, Any]:
        time = time or self.node.block_time
        return {
            "trade_id": f"{height or self.node.height}-{fill.taker}/{fill.taker_order}-"
            f"{fill.maker}/{fill.maker_order}",
            "instrument_name": fill.instrument,
            "symbol": fill.instrument,
            "timestamp": views.ms(time),
            "datetime": views.iso8601(time),
            "price": views.price(fill.price),
            "amount": views.size(fill.size),
            "direction": fill.taker_side,
            "side": fill.taker_side,
            "order_id": order_id(fill.taker, fill.taker_order),
            "maker_order_id": order_id(fill.maker, fill.maker_order),
            "fee": views.amount(fill.taker_fee),
            "maker_fee": views.amount(fill.maker_fee),
        }

    def _position_view(self, position: Position, market: MarkData) -> dict[str, Any]:
        inst = market.instrument
        size = position.size
        entry = None
        if isinstance(inst, Perpetual) and size:
            entry = views.price(-position.quote * 1_000_000 // size)
        return {
            "instrument_name": inst.name,
            "symbol": inst.name,
            "kind": _kind(market),
            "size": views.size(size),
            "contracts": views.size(abs(size)),
            "direction": "buy" if size > 0 else "sell",
            "side": "long" if size > 0 else "short",
            "average_price": entry,
            "entryPrice": entry,
            "mark_price": views.price(market.price),
            "markPrice": views.price(market.price),
            "index_price": views.price(market.index),
            "notional": views.amount(abs(market.price * size) // 1_000_000),
        }


class BlockPublisher:
    """Feeds every committed block to the subscription hub (from the producer's thread)."""

    def __init__(self, node: Node, hub: Hub, methods: TradingMethods) -> None:
        self.node = node
        self.hub = hub
        self.methods = methods
        self._depth: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}

    def __call__(self, report: BlockReport) -> None:
        hub, node = self.hub, self.node
        time = report.block.time
        changed: set[str] = set()
        for name, book in report.books.items():
            depth = (list(book.bids), list(book.asks))
            if self._depth.get(name) != depth:
                self._depth[name] = depth
                changed.add(name)
                hub.publish(f"book.{name}", _book_message(name, depth, report.block.height, time))
        trades: dict[str, list[dict[str, Any]]] = {}
        accounts: dict[str, list[Event]] = {}
        for receipt in report.result.receipts:
            for event in receipt.events:
                if isinstance(event, OrderFilled):
                    view = self.methods._trade_view(event, report.block.height, time)
                    trades.setdefault(event.instrument, []).append(view)
                    accounts.setdefault(event.taker, []).append(event)
                    accounts.setdefault(event.maker, []).append(event)
                elif isinstance(event, OrderPlaced | OrderAmended | OrderClosed):
                    accounts.setdefault(event.account, []).append(event)
        for name, views_ in sorted(trades.items()):
            changed.add(name)
            hub.publish(f"trades.{name}", {"trades": views_})
        for name in sorted(changed):
            market = node.state.data.get(k.mark(name))
            if isinstance(market, MarkData):
                bids, asks = self._depth.get(name, ([], []))
                ticker = self.methods._ticker_fields(name, market, bids, asks)
                hub.publish(f"ticker.{name}", {"instrument_name": name, **ticker})
        for account in sorted(accounts):
            hub.publish("user.orders", {"events": [_event(e) for e in accounts[account]]}, account)
            hub.publish("user.portfolio", _portfolio(node, account), account)


def _book_message(
    name: str, depth: tuple[list[tuple[int, int]], list[tuple[int, int]]], height: int, time: int
) -> dict[str, Any]:
    bids, asks = depth
    return {
        "instrument_name": name,
        "type": "snapshot",
        "timestamp": views.ms(time),
        "change_id": height,
        "bids": [[views.price(p), views.size(s)] for p, s in bids],
        "asks": [[views.price(p), views.size(s)] for p, s in asks],
    }


def _event(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(event)
    return data


def _portfolio(node: Node, account: str) -> dict[str, Any]:
    view = StateView(node.state.data)
    status = margin_status(view, account, node.machine.margin_model)
    return {
        "currency": "USDC",
        "balance": views.amount(status.collateral),
        "equity": views.amount(status.equity),
        "initial_margin": views.amount(status.initial),
        "maintenance_margin": views.amount(status.maintenance),
        "open_orders_margin": views.amount(view.get_int(k.reserved(account))),
    }


def _open_order_view(account: str, nonce: int, order: OpenOrder, time: int) -> dict[str, Any]:
    size = order.remaining + order.filled
    return {
        "order_id": order_id(account, nonce),
        "id": order_id(account, nonce),
        "instrument_name": order.instrument,
        "symbol": order.instrument,
        "direction": "buy" if order.is_buy else "sell",
        "side": "buy" if order.is_buy else "sell",
        "order_type": "market" if order.kind == OrderType.MARKET.value else "limit",
        "type": "market" if order.kind == OrderType.MARKET.value else "limit",
        "order_state": "open",
        "status": "open",
        "price": views.price(order.price),
        "amount": views.size(size),
        "filled_amount": views.size(order.filled),
        "filled": views.size(order.filled),
        "remaining": views.size(order.remaining),
        "post_only": order.kind == OrderType.POST_ONLY.value,
        "reduce_only": order.reduce_only,
        "open_orders_margin": views.amount(order.reserved),
        "last_update_timestamp": views.ms(time),
    }


def _placed_fields(tx: PlaceOrder, time: int) -> dict[str, Any]:
    return {
        "instrument_name": tx.instrument,
        "symbol": tx.instrument,
        "direction": tx.side.value,
        "side": tx.side.value,
        "order_type": "market" if tx.kind is OrderType.MARKET else "limit",
        "type": "market" if tx.kind is OrderType.MARKET else "limit",
        "price": views.price(tx.price),
        "amount": views.size(tx.size),
        "post_only": tx.kind is OrderType.POST_ONLY,
        "reduce_only": tx.reduce_only,
        "label": tx.label,
        "clientOrderId": tx.label or None,
        "creation_timestamp": views.ms(time),
        "timestamp": views.ms(time),
    }


def _kind(market: MarkData) -> str:
    return "option" if isinstance(market.instrument, Option) else "future"


def _account(context: Context) -> str:
    if context.account is None:  # pragma: no cover - the dispatcher refuses first
        raise RpcError(APPLICATION_ERROR, "authenticate with public/auth first")
    return context.account


def _raise_if_failed(inclusion: Inclusion) -> None:
    receipt = inclusion.receipt
    if not receipt.ok and receipt.error is not None:
        raise RpcError(
            APPLICATION_ERROR,
            f"{receipt.error.code}: {receipt.error.message}",
            {
                "reason": receipt.error.code,
                **dict(receipt.error.details),
                "height": inclusion.height,
            },
        )
