"""Accounts as JSON: orders, positions and account summaries (pure functions).

Shaped like ccxt's order, position and balance structures with Deribit's field names as
well, as ``paraclear.api.views`` does for instruments and books.
"""

from __future__ import annotations

from typing import Any, Final

from paraclear.api.views import SETTLE, amount, order_id, price, size, symbol, symbol_of
from paraclear.clearing.accounts import MarginStatus
from paraclear.clearing.instruments import Option
from paraclear.clearing.records import MarkData, OpenOrder, Position
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE

_TIME_IN_FORCE: Final = {
    "limit": ("GTC", "good_til_cancelled"),
    "market": ("IOC", "immediate_or_cancel"),
    "immediate_or_cancel": ("IOC", "immediate_or_cancel"),
    "fill_or_kill": ("FOK", "fill_or_kill"),
    "post_only": ("PO", "good_til_cancelled"),
}


def order_view(account: str, nonce: int, order: OpenOrder) -> dict[str, Any]:
    """An open order as a ccxt order with Deribit's order fields."""
    identifier = order_id(account, nonce)
    side = "buy" if order.is_buy else "sell"
    ccxt_tif, deribit_tif = _TIME_IN_FORCE.get(order.kind, ("GTC", "good_til_cancelled"))
    order_type = "market" if order.kind == "market" else "limit"
    return {
        "id": identifier,
        "order_id": identifier,
        "symbol": symbol_of(order.instrument),
        "instrument_name": order.instrument,
        "type": order_type,
        "order_type": order_type,
        "side": side,
        "direction": side,
        "price": price(order.price),
        "amount": size(order.remaining + order.filled),
        "filled": size(order.filled),
        "filled_amount": size(order.filled),
        "remaining": size(order.remaining),
        "status": "open",
        "order_state": "open",
        "timeInForce": ccxt_tif,
        "time_in_force": deribit_tif,
        "postOnly": order.kind == "post_only",
        "post_only": order.kind == "post_only",
        "reduceOnly": order.reduce_only,
        "reduce_only": order.reduce_only,
        "good_til_block": order.good_til or None,
        "reserved_margin": amount(order.reserved),
    }


def position_view(position: Position, mark: MarkData) -> dict[str, Any]:
    """A position as a ccxt position with Deribit's position fields."""
    instrument = mark.instrument
    value = mark.price * position.size // SIZE_SCALE
    is_option = isinstance(instrument, Option)
    side = "long" if position.size > 0 else "short"
    entry = (
        None if is_option or position.size == 0 else -position.quote * SIZE_SCALE / position.size
    )
    funding = (
        0
        if is_option
        else (position.size // instrument.lot_size) * (mark.funding_index - position.funding_index)
    )
    pnl = None if is_option else position.quote + value - funding
    return {
        "symbol": symbol(instrument),
        "instrument_name": instrument.name,
        "kind": "option" if is_option else "future",
        "contracts": size(abs(position.size)),
        "contractSize": size(instrument.contract_size),
        "side": side,
        "direction": "buy" if position.size > 0 else "sell",
        "size": size(position.size),
        "notional": amount(value),
        "markPrice": price(mark.price),
        "mark_price": price(mark.price),
        "index_price": price(mark.index),
        "entryPrice": None if entry is None else entry / PRICE_SCALE,
        "average_price": None if entry is None else entry / PRICE_SCALE,
        "unrealizedPnl": None if pnl is None else amount(pnl),
        "floating_profit_loss": None if pnl is None else amount(pnl),
        "unsettled_funding": None if is_option else amount(-funding),
    }


def account_summary_view(status: MarginStatus, reserved: int) -> dict[str, Any]:
    """Deribit's ``get_account_summary`` (USDC), with ccxt's balance fields."""
    used = status.initial + reserved
    available = status.equity - used
    return {
        "currency": SETTLE,
        "balance": amount(status.collateral),
        "equity": amount(status.equity),
        "margin_balance": amount(status.equity),
        "initial_margin": amount(used),
        "maintenance_margin": amount(status.maintenance),
        "open_orders_margin": amount(reserved),
        "available_funds": amount(available),
        "available_withdrawal_funds": amount(max(0, min(available, status.collateral))),
        "free": amount(available),
        "used": amount(used),
        "total": amount(status.equity),
    }
