"""Deribit's trade and chart reads over the node's tape (``paraclear.chain.tape``):
``get_last_trades_by_instrument`` (and ``_and_time``), ``get_last_trades_by_currency``
(and ``_and_time``), and ``get_tradingview_chart_data``.

Parameters are Deribit's. Honoured: ``count`` (1 to 1,000), ``start_seq`` and ``end_seq``
(``trade_seq`` bounds), ``start_timestamp`` and ``end_timestamp`` (milliseconds, inclusive),
``start_id`` and ``end_id`` (trade ids, inclusive, in the by-currency reads' order: block,
instrument, number in the block), ``sorting`` (``asc``, ``desc``; ``default`` is
ascending), ``kind``. Accepted and ignored: ``include_old`` (the tape keeps the latest
``RECENT_TRADES`` fills of each instrument, however old). Without a start bound the latest
``count`` trades come; with one, the first ``count`` from it. ``has_more`` says whether
more matched.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from paraclear.api import deribit_views, views
from paraclear.api.deribit_views import MarketNode
from paraclear.api.methods import Params
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.chain.tape import MINUTE, RESOLUTIONS, Candle, TapeTrade, merged
from paraclear.clearing.instruments import InstrumentNameError, Option, parse_instrument
from paraclear.state import keys as k

MAX_COUNT: Final = 1_000
Sorting = Literal["asc", "desc", "default"]
CurrencyKind = Literal["future", "option", "spot", "future_combo", "option_combo", "combo", "any"]


class ByInstrumentParams(Params, frozen=True):
    instrument_name: str
    start_seq: int | None = None
    end_seq: int | None = None
    start_timestamp: int | None = None
    end_timestamp: int | None = None
    count: int = 10
    include_old: bool = False
    sorting: Sorting = "default"


class ByInstrumentAndTimeParams(Params, frozen=True):
    instrument_name: str
    start_timestamp: int
    end_timestamp: int
    count: int = 10
    include_old: bool = False
    sorting: Sorting = "default"


class ByCurrencyParams(Params, frozen=True):
    currency: str
    kind: CurrencyKind = "any"
    start_id: str | None = None
    end_id: str | None = None
    start_timestamp: int | None = None
    end_timestamp: int | None = None
    count: int = 10
    include_old: bool = False
    sorting: Sorting = "default"
    subaccount_id: int | None = None


class ByCurrencyAndTimeParams(Params, frozen=True):
    currency: str
    start_timestamp: int
    end_timestamp: int
    kind: CurrencyKind = "any"
    count: int = 10
    include_old: bool = False
    sorting: Sorting = "default"


class ChartParams(Params, frozen=True):
    instrument_name: str
    start_timestamp: int
    end_timestamp: int
    resolution: str


def _kind(name: str) -> str:
    try:
        return "option" if isinstance(parse_instrument(name), Option) else "future"
    except InstrumentNameError:
        return "future"


def trade_key(trade: TapeTrade) -> tuple[int, str, int]:
    """A trade's place among a currency's trades: block, instrument, number in the block."""
    return trade.height, trade.fill.instrument, trade.number


def parse_trade_id(text: str, param: str) -> tuple[int, str, int]:
    """The ``trade_key`` of a trade id (``{block}-{instrument}-{number}``). Raises RpcError."""
    height, _, rest = text.partition("-")
    instrument, _, number = rest.rpartition("-")
    if not (height.isdigit() and number.isdigit() and instrument):
        raise RpcError.invalid_params(param, f"not a trade id: {text!r}")
    return int(height), instrument, int(number)


def select(
    trades: list[TapeTrade],
    params: ByInstrumentParams | ByInstrumentAndTimeParams | ByCurrencyParams,
) -> dict[str, Any]:
    """Deribit's ``{"trades", "has_more"}`` of ``trades`` (oldest first) under ``params``."""
    if not 1 <= params.count <= MAX_COUNT:
        raise RpcError.invalid_params("count", f"must be between 1 and {MAX_COUNT}")
    start_seq = getattr(params, "start_seq", None)
    end_seq = getattr(params, "end_seq", None)
    start_id, end_id = getattr(params, "start_id", None), getattr(params, "end_id", None)
    first = None if start_id is None else parse_trade_id(start_id, "start_id")
    last = None if end_id is None else parse_trade_id(end_id, "end_id")
    chosen = [
        trade
        for trade in trades
        if (start_seq is None or trade.seq >= start_seq)
        and (end_seq is None or trade.seq <= end_seq)
        and (first is None or trade_key(trade) >= first)
        and (last is None or trade_key(trade) <= last)
        and (params.start_timestamp is None or views.ms(trade.time) >= params.start_timestamp)
        and (params.end_timestamp is None or views.ms(trade.time) <= params.end_timestamp)
    ]
    from_start = start_seq is not None or first is not None or params.start_timestamp is not None
    page = chosen[: params.count] if from_start else chosen[-params.count :]
    if params.sorting == "desc":
        page.reverse()
    return {"trades": deribit_views.trade_views(page), "has_more": len(chosen) > len(page)}


def chart(candles: list[Candle], minutes: int, start: int, end: int) -> dict[str, Any]:
    """Deribit's ``get_tradingview_chart_data``: candles of ``minutes`` that start in
    ``[start, end]`` (seconds), built from one-minute candles; only periods with trades."""
    width = minutes * MINUTE
    periods: dict[int, Candle] = {}
    for candle in candles:
        at = candle.start - candle.start % width
        if not start - width < at <= end:
            continue
        old = periods.get(at)
        periods[at] = candle._replace(start=at) if old is None else merged(old, candle)
    rows = [periods[at] for at in sorted(periods)]
    return {
        "status": "ok" if rows else "no_data",
        "ticks": [views.ms(row.start) for row in rows],
        "open": [views.price(row.open) for row in rows],
        "high": [views.price(row.high) for row in rows],
        "low": [views.price(row.low) for row in rows],
        "close": [views.price(row.close) for row in rows],
        "volume": [views.size(row.volume) for row in rows],
        "cost": [views.amount(row.cost) for row in rows],
    }


def period_candle(candles: list[Candle], minutes: int, time: int) -> dict[str, Any] | None:
    """Deribit's ``chart.trades`` message: the candle of ``minutes`` holding ``time``
    (seconds), from one-minute candles; None without trades in it."""
    width = minutes * MINUTE
    start = time - time % width
    rows = chart([c for c in candles if start <= c.start < start + width], minutes, start, start)
    if rows["status"] != "ok":
        return None
    return {name: rows[name][0] for name in ("open", "high", "low", "close", "volume", "cost")} | {
        "tick": rows["ticks"][0]
    }


class TradeMethods:
    """The trade and chart reads of one node."""

    def __init__(self, node: MarketNode) -> None:
        self.node = node

    def register(self, registry: Registry) -> None:
        add = registry.add
        add("public/get_last_trades_by_instrument", ByInstrumentParams, self.by_instrument)
        add(
            "public/get_last_trades_by_instrument_and_time",
            ByInstrumentAndTimeParams,
            self.by_instrument,
        )
        add("public/get_last_trades_by_currency", ByCurrencyParams, self.by_currency)
        add(
            "public/get_last_trades_by_currency_and_time",
            ByCurrencyAndTimeParams,
            self.by_currency,
        )
        add("public/get_tradingview_chart_data", ChartParams, self.chart)

    def listed(self, name: str) -> None:
        if self.node.state.get(k.instrument(name)) is None:
            raise RpcError.invalid_params("instrument_name", f"not a listed instrument: {name!r}")

    def by_instrument(
        self, context: Context, params: ByInstrumentParams | ByInstrumentAndTimeParams
    ) -> dict[str, Any]:
        self.listed(params.instrument_name)
        return select(self.node.tape.recent(params.instrument_name), params)

    def by_currency(
        self, context: Context, params: ByCurrencyParams | ByCurrencyAndTimeParams
    ) -> dict[str, Any]:
        currency = params.currency.upper()
        trades = [
            trade
            for name in list(self.node.tape.trades)
            if name.partition("-")[0] == currency and params.kind in ("any", _kind(name))
            for trade in self.node.tape.recent(name)
        ]
        trades.sort(key=trade_key)
        if isinstance(params, ByCurrencyAndTimeParams):
            params = ByCurrencyParams(
                currency=params.currency,
                kind=params.kind,
                start_timestamp=params.start_timestamp,
                end_timestamp=params.end_timestamp,
                count=params.count,
                sorting=params.sorting,
            )
        return select(trades, params)

    def chart(self, context: Context, params: ChartParams) -> dict[str, Any]:
        self.listed(params.instrument_name)
        minutes = RESOLUTIONS.get(params.resolution)
        if minutes is None:
            choices = ", ".join(RESOLUTIONS)
            raise RpcError.invalid_params("resolution", f"one of {choices}")
        start, end = params.start_timestamp // 1000, params.end_timestamp // 1000
        candles = self.node.tape.candles_between(
            params.instrument_name, start - minutes * MINUTE, end
        )
        return chart(candles, minutes, start, end)
