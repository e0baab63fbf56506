"""Deribit's market objects built from a node's state, books and tape: tickers with 24 h
statistics and an option's Greeks, book summaries, trades with their chain-long
``trade_seq``, currencies.

Units as in ``views``: prices in USDC, sizes in contracts, times in milliseconds. ``stats``
cover the candles that start in the 24 hours up to the latest block's time (``Tape``):
``volume`` in contracts, ``volume_usd`` in USDC, ``price_change`` in percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from paraclear.api import views
from paraclear.api.option_views import mark_iv_percent, option_ticker_fields
from paraclear.chain.tape import DayStats, Tape, TapeTrade
from paraclear.clearing.instruments import (
    Instrument,
    InstrumentNameError,
    Option,
    Perpetual,
    parse_instrument,
)
from paraclear.clearing.perpetuals import FUNDING_DIVISOR
from paraclear.clearing.records import MarkData, PremiumAccumulator
from paraclear.numbers import PPM, SIZE_SCALE
from paraclear.state import State
from paraclear.state import keys as k

Level = tuple[int, int]
CURRENCY_DECIMALS: Final = 6
"""USDC amounts have six decimals (micro-USDC)."""


class MarketNode(Protocol):
    """What these views read of ``paraclear.chain.core.Node``."""

    state: State
    height: int
    block_time: int
    depth: dict[str, tuple[list[Level], list[Level]]]
    tape: Tape


def mark_of(state: State, name: str) -> MarkData | None:
    mark = state.get(k.mark(name))
    return mark if isinstance(mark, MarkData) else None


def stats_view(day: DayStats) -> dict[str, Any]:
    """Deribit's ``stats`` of a ticker."""
    return {
        "volume": views.size(day.volume),
        "volume_usd": views.amount(day.cost),
        "high": None if day.high is None else views.price(day.high),
        "low": None if day.low is None else views.price(day.low),
        "price_change": None if day.change_ppm is None else round(day.change_ppm / 10_000, 4),
    }


def ticker(node: MarketNode, name: str) -> dict[str, Any]:
    """Deribit's ``public/ticker`` of a listed instrument (ccxt's ticker fields too)."""
    bids, asks = node.depth.get(name, ([], []))
    mark = mark_of(node.state, name)
    last = node.tape.last_price(name)
    day = node.tape.day_stats(name, node.block_time)
    stats = stats_view(day)
    view = views.ticker_view(
        name,
        bids,
        asks,
        last=last,
        volume=day.volume,
        time=node.block_time,
        mark=mark,
    )
    view["stats"] = stats
    view["high"], view["low"] = stats["high"], stats["low"]
    view["quoteVolume"] = stats["volume_usd"]
    view["open_interest"] = views.size(_int(node.state.get(k.open_interest(name))))
    view["estimated_delivery_price"] = view["index_price"]
    view["settlement_price"] = view["mark_price"]
    view["min_price"], view["max_price"] = None, None
    instrument = mark.instrument if mark is not None else None
    if isinstance(instrument, Option):
        oracle = views.oracle_of(node.state, instrument.underlying)
        best_bid = bids[0][0] if bids else None
        best_ask = asks[0][0] if asks else None
        view.update(option_ticker_fields(instrument, oracle, node.block_time, best_bid, best_ask))
    elif isinstance(instrument, Perpetual):
        view.update(funding_fields(node.state, name))
    return view


def funding_fields(state: State, name: str) -> dict[str, Any]:
    """A perpetual's ``current_funding`` (the hourly rate the premium in force would pay)
    and ``funding_8h`` (eight of those), as fractions."""
    accumulator = state.get(k.premium(name))
    premium = accumulator.premium_ppm if isinstance(accumulator, PremiumAccumulator) else 0
    return {
        "current_funding": premium / FUNDING_DIVISOR / PPM,
        "funding_8h": premium / PPM,
        "interest_value": premium / PPM,
    }


def book_summary(node: MarketNode, instrument: Instrument) -> dict[str, Any]:
    """Deribit's ``get_book_summary_by_*`` entry of one instrument."""
    name = instrument.name
    state = node.state
    mark = mark_of(state, name)
    oracle = views.oracle_of(state, instrument.underlying)
    bids, asks = node.depth.get(name, ([], []))
    bid = views.price(bids[0][0]) if bids else None
    ask = views.price(asks[0][0]) if asks else None
    last = node.tape.last_price(name)
    stats = stats_view(node.tape.day_stats(name, node.block_time))
    summary: dict[str, Any] = {
        "instrument_name": name,
        "base_currency": instrument.underlying,
        "quote_currency": views.SETTLE,
        "kind": "option" if isinstance(instrument, Option) else "future",
        "mark_price": views.price(mark.price) if mark is not None else None,
        "underlying_price": views.price(oracle.index) if oracle is not None else None,
        "underlying_index": "index_price",
        "estimated_delivery_price": views.price(oracle.index) if oracle is not None else None,
        "interest_rate": 0.0,
        "mark_iv": mark_iv_percent(instrument, oracle) if isinstance(instrument, Option) else None,
        "bid_price": bid,
        "ask_price": ask,
        "mid_price": (bid + ask) / 2 if bid is not None and ask is not None else None,
        "last": None if last is None else views.price(last),
        "high": stats["high"],
        "low": stats["low"],
        "price_change": stats["price_change"],
        "volume": stats["volume"],
        "volume_usd": stats["volume_usd"],
        "quote_volume": stats["volume_usd"],
        "open_interest": views.size(_int(state.get(k.open_interest(name)))),
        "creation_timestamp": views.ms(node.block_time),
    }
    if isinstance(instrument, Option):
        summary["strike"] = views.price(instrument.strike)
        summary["expiration_timestamp"] = views.ms(instrument.expiry)
        summary["option_type"] = "call" if instrument.is_call else "put"
    else:
        funding = funding_fields(state, name)
        summary["current_funding"] = funding["current_funding"]
        summary["funding_8h"] = funding["funding_8h"]
    return summary


def trade_views(trades: Sequence[TapeTrade]) -> list[dict[str, Any]]:
    """Deribit's trades (ccxt's fields too) of tape entries, oldest first."""
    return [trade_view(trade) for trade in trades]


def trade_view(trade: TapeTrade) -> dict[str, Any]:
    """One fill as a Deribit trade: ``trade_seq`` counts the instrument's fills since the
    chain began; ``index_price`` and an option's ``iv`` are the oracle's at the fill."""
    view = views.trade_view(trade.height, trade.time, trade.number, trade.fill, seq=trade.seq)
    view["tick_direction"] = trade.tick_direction
    oracle = trade.oracle
    view["index_price"] = views.price(oracle.index) if oracle is not None else None
    view["mark_price"] = None
    try:
        instrument = parse_instrument(trade.fill.instrument)
    except InstrumentNameError:
        return view
    if isinstance(instrument, Option):
        view["iv"] = mark_iv_percent(instrument, oracle)
    elif oracle is not None:
        view["mark_price"] = views.price(oracle.index * instrument.contract_size // SIZE_SCALE)
    return view


def currency_view(underlying: str) -> dict[str, Any]:
    """Deribit's ``get_currencies`` entry: an underlying, with USDC as its settlement."""
    return {
        "currency": underlying,
        "currency_long": underlying,
        "coin_type": underlying,
        "fee_precision": CURRENCY_DECIMALS,
        "min_confirmations": 1,
        "min_withdrawal_fee": 0.0,
        "withdrawal_fee": 0.0,
        "withdrawal_priorities": [],
        "apr": 0.0,
        "in_cross_collateral_pool": False,
    }


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
