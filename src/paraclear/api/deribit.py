"""Deribit's public market methods that existing clients call, over a node's state and tape:
currencies, one instrument, contract sizes, index names, expirations, book summaries,
funding, delivery prices and settlements, historical volatility and mark price history.

Parameters carry Deribit's names; optional ones it documents are accepted, and honoured
where this venue has the data (see each method). Units are Deribit's: prices in USDC,
sizes in contracts, times in milliseconds, rates as fractions, volatilities in percent.
Index names are ``{underlying}_usdc`` (``btc_usd`` is accepted too: every index here is
in USDC).
"""

from __future__ import annotations

import datetime
import itertools
import math
from typing import Any, Final, Literal

from paraclear.api import deribit_views, views
from paraclear.api.deribit_views import MarketNode
from paraclear.api.methods import Params
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.chain.tape import Funding
from paraclear.clearing.instruments import Instrument, Option, format_expiry
from paraclear.clearing.marks import SECONDS_PER_YEAR, smile_vol
from paraclear.numbers import PPM, PRICE_SCALE, SIZE_SCALE
from paraclear.risk.reference import black76_price_scalar
from paraclear.state import keys as k

HOUR: Final = 3_600
VOLATILITY_HOURS: Final = 24
"""Hourly returns in each point of ``get_historical_volatility``."""
CHART_LENGTHS: Final = {"8h": 8 * HOUR, "24h": 24 * HOUR, "1m": 30 * 24 * HOUR}
SettlementType = Literal["settlement", "delivery", "bankruptcy"]


class NoParams(Params, frozen=True):
    pass


class InstrumentParams(Params, frozen=True):
    instrument_name: str


class CurrencyParams(Params, frozen=True):
    currency: str


class ExpirationsParams(Params, frozen=True):
    currency: str = "any"
    kind: Literal["future", "option", "any"] = "any"
    currency_pair: str | None = None


class RangeParams(Params, frozen=True):
    instrument_name: str
    start_timestamp: int = 0
    end_timestamp: int = 2**62


class FundingChartParams(Params, frozen=True):
    instrument_name: str
    length: Literal["8h", "24h", "1m"] = "8h"


class DeliveryParams(Params, frozen=True):
    index_name: str
    offset: int = 0
    count: int = 10


class SettlementsParams(Params, frozen=True):
    instrument_name: str | None = None
    currency: str | None = None
    type: SettlementType | None = None
    count: int = 20
    continuation: str | None = None
    search_start_timestamp: int | None = None


def underlying_of_index(index_name: str) -> str:
    """``BTC`` of ``btc_usdc`` or ``btc_usd``. Raises RpcError."""
    underlying, _, quote = index_name.partition("_")
    if quote.lower() not in ("usd", "usdc") or not underlying:
        raise RpcError.invalid_params("index_name", f"not an index: {index_name!r} (btc_usdc)")
    return underlying.upper()


class DeribitMethods:
    """Deribit's public market methods of one node; see the module docstring."""

    def __init__(self, node: MarketNode) -> None:
        self.node = node

    def register(self, registry: Registry) -> None:
        add = registry.add
        add("public/get_currencies", NoParams, self.get_currencies)
        add("public/get_instrument", InstrumentParams, self.get_instrument)
        add("public/get_contract_size", InstrumentParams, self.get_contract_size)
        add("public/get_index_price_names", NoParams, self.get_index_price_names)
        add("public/get_expirations", ExpirationsParams, self.get_expirations)
        add("public/get_book_summary_by_instrument", InstrumentParams, self.summary)
        add("public/get_funding_rate_value", RangeParams, self.funding_rate_value)
        add("public/get_funding_rate_history", RangeParams, self.funding_rate_history)
        add("public/get_funding_chart_data", FundingChartParams, self.funding_chart)
        add("public/get_mark_price_history", RangeParams, self.mark_price_history)
        add("public/get_historical_volatility", CurrencyParams, self.historical_volatility)
        add("public/get_delivery_prices", DeliveryParams, self.delivery_prices)
        add("public/get_last_settlements_by_instrument", SettlementsParams, self.settlements)
        add("public/get_last_settlements_by_currency", SettlementsParams, self.settlements)

    # --- reference data ------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        return views.listed_instruments(self.node.state)

    def instrument(self, name: str) -> Instrument:
        value = self.node.state.get(k.instrument(name))
        if value is None:
            raise RpcError.invalid_params("instrument_name", f"not a listed instrument: {name!r}")
        assert isinstance(value, Instrument)
        return value

    def underlyings(self) -> list[str]:
        return sorted({instrument.underlying for instrument in self.instruments()})

    def get_currencies(self, context: Context, params: NoParams) -> list[dict[str, Any]]:
        """Every underlying with a listed instrument."""
        return [deribit_views.currency_view(name) for name in self.underlyings()]

    def get_instrument(self, context: Context, params: InstrumentParams) -> dict[str, Any]:
        instrument = self.instrument(params.instrument_name)
        return views.instrument_view(instrument, config=views.house_config(self.node.state))

    def get_contract_size(self, context: Context, params: InstrumentParams) -> dict[str, Any]:
        instrument = self.instrument(params.instrument_name)
        return {"contract_size": views.size(instrument.contract_size)}

    def get_index_price_names(self, context: Context, params: NoParams) -> list[str]:
        return [f"{name.lower()}_usdc" for name in self.underlyings()]

    def get_expirations(self, context: Context, params: ExpirationsParams) -> dict[str, Any]:
        """``{"future": [...], "option": [...]}`` of one currency; of ``any``, the same per
        currency (lower case). Perpetuals show as ``perpetual``."""
        by_currency: dict[str, dict[str, list[str]]] = {}
        for instrument in self.instruments():
            entry = by_currency.setdefault(instrument.underlying, {"future": [], "option": []})
            if isinstance(instrument, Option):
                expiry = format_expiry(instrument.expiry)
                if expiry not in entry["option"]:
                    entry["option"].append(expiry)
            elif "perpetual" not in entry["future"]:
                entry["future"].append("perpetual")
        wanted = ("future", "option") if params.kind == "any" else (params.kind,)
        shown = {
            currency: {kind: entry[kind] for kind in wanted}
            for currency, entry in by_currency.items()
        }
        if params.currency.lower() == "any":
            return {currency.lower(): entry for currency, entry in shown.items()}
        return shown.get(params.currency.upper(), {kind: [] for kind in wanted})

    def summary(self, context: Context, params: InstrumentParams) -> list[dict[str, Any]]:
        return [deribit_views.book_summary(self.node, self.instrument(params.instrument_name))]

    # --- funding -------------------------------------------------------------------------

    def _funding(self, params: RangeParams | FundingChartParams) -> list[Funding]:
        self.instrument(params.instrument_name)
        return list(self.node.tape.funding.get(params.instrument_name, ()))

    def funding_rate_value(self, context: Context, params: RangeParams) -> float:
        """The sum of the hourly funding rates paid in the period."""
        paid = self._funding(params)
        start, end = params.start_timestamp, params.end_timestamp
        return sum(f.rate_ppm for f in paid if start <= views.ms(f.time) <= end) / PPM

    def funding_rate_history(self, context: Context, params: RangeParams) -> list[dict[str, Any]]:
        """Each funding payment of the period: the hourly rate, and eight of it."""
        paid = self._funding(params)
        rows = []
        for i, funding in enumerate(paid):
            if not params.start_timestamp <= views.ms(funding.time) <= params.end_timestamp:
                continue
            previous = paid[i - 1].index_price if i else funding.index_price
            rows.append(
                {
                    "timestamp": views.ms(funding.time),
                    "index_price": views.price(funding.index_price),
                    "prev_index_price": views.price(previous),
                    "interest_1h": funding.rate_ppm / PPM,
                    "interest_8h": 8 * funding.rate_ppm / PPM,
                }
            )
        return rows

    def funding_chart(self, context: Context, params: FundingChartParams) -> dict[str, Any]:
        paid = self._funding(params)
        since = self.node.block_time - CHART_LENGTHS[params.length]
        current = deribit_views.funding_fields(self.node.state, params.instrument_name)
        return {
            "current_interest": current["current_funding"],
            "interest_8h": current["funding_8h"],
            "data": [
                {
                    "timestamp": views.ms(f.time),
                    "index_price": views.price(f.index_price),
                    "interest_8h": 8 * f.rate_ppm / PPM,
                }
                for f in paid
                if f.time >= since
            ],
        }

    # --- history -------------------------------------------------------------------------

    def mark_price_history(self, context: Context, params: RangeParams) -> list[list[float]]:
        """``[[timestamp, mark], ...]``: the instrument's mark at each minute's last index
        the tape keeps (an option at the oracle's smile then; a perpetual at the index)."""
        instrument = self.instrument(params.instrument_name)
        history = list(self.node.tape.index_history.get(instrument.underlying, ()))
        rows = []
        for oracle in history:
            at = views.ms(oracle.time)
            if not params.start_timestamp <= at <= params.end_timestamp:
                continue
            units = instrument.contract_size / SIZE_SCALE
            forward = oracle.index / PRICE_SCALE
            if isinstance(instrument, Option):
                years = max(instrument.expiry - oracle.time, 0) / SECONDS_PER_YEAR
                strike = instrument.strike / PRICE_SCALE
                vol = smile_vol(oracle, instrument.strike)
                value = black76_price_scalar(forward, strike, years, 0.0, vol, instrument.is_call)
                rows.append([at, round(value * units, 6)])
            else:
                rows.append([at, round(forward * units, 6)])
        return rows

    def historical_volatility(self, context: Context, params: CurrencyParams) -> list[list[float]]:
        """``[[timestamp, vol %], ...]`` per hour: the annualised realised volatility of the
        last ``VOLATILITY_HOURS`` hourly log returns of the index (hours with an index)."""
        history = list(self.node.tape.index_history.get(params.currency.upper(), ()))
        closes: dict[int, int] = {}
        for oracle in history:
            closes[oracle.time - oracle.time % HOUR] = oracle.index
        hours = sorted(closes)
        returns = [
            math.log(closes[hour] / closes[before]) for before, hour in itertools.pairwise(hours)
        ]
        rows = []
        for i in range(1, len(returns) + 1):
            window = returns[max(0, i - VOLATILITY_HOURS) : i]
            variance = sum(r * r for r in window) / len(window)
            rows.append([views.ms(hours[i]), round(math.sqrt(variance * 24 * 365) * 100, 4)])
        return rows

    # --- settlements ---------------------------------------------------------------------

    def delivery_prices(self, context: Context, params: DeliveryParams) -> dict[str, Any]:
        """Each expiry's settlement price of an underlying, newest first."""
        underlying = underlying_of_index(params.index_name)
        prices: dict[str, float] = {}
        for settlement in reversed(list(self.node.tape.settlements)):
            if settlement.instrument.partition("-")[0] != underlying:
                continue
            day = datetime.datetime.fromtimestamp(settlement.time, datetime.UTC)
            prices.setdefault(day.strftime("%Y-%m-%d"), views.price(settlement.price))
        rows = [{"date": d, "delivery_price": p} for d, p in prices.items()]
        return {
            "data": rows[params.offset : params.offset + params.count],
            "records_total": len(rows),
        }

    def settlements(self, context: Context, params: SettlementsParams) -> dict[str, Any]:
        """Deliveries at expiry, newest first, of an instrument or a currency; pages by
        ``continuation`` (how many of them to skip)."""
        if params.type not in (None, "delivery"):
            return {"settlements": [], "continuation": "none"}
        continuation = params.continuation or ""
        offset = int(continuation) if continuation.isdigit() else 0
        start = params.search_start_timestamp
        rows = [
            s
            for s in reversed(list(self.node.tape.settlements))
            if (params.instrument_name in (None, s.instrument))
            and (
                params.currency is None or s.instrument.partition("-")[0] == params.currency.upper()
            )
            and (start is None or views.ms(s.time) <= start)
        ]
        page = rows[offset : offset + params.count]
        more = len(rows) > offset + len(page)
        return {
            "settlements": [
                {
                    "type": "delivery",
                    "timestamp": views.ms(s.time),
                    "instrument_name": s.instrument,
                    "index_price": views.price(s.price),
                    "mark_price": views.price(s.price),
                    "position": s.positions,
                    "profit_loss": 0.0,
                    "session_profit_loss": 0.0,
                    "block": s.height,
                }
                for s in page
            ],
            "continuation": str(offset + len(page)) if more else "none",
        }
