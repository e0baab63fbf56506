"""State as JSON: pure functions from clearing records to API objects.

Objects are shaped like ccxt's unified structures wherever a field exists there (``id``,
``symbol``, ``base``, ``quote``, ``settle``, ``type``, ``strike``, ``optionType``, ``expiry``,
``contractSize``, ``precision``, ``limits``), and also carry Deribit's names
(``instrument_name``, ``tick_size``, ``min_trade_amount``, ``kind``, ``settlement_period``,
``is_active``), so both kinds of client find what they look for. The API server and the
dashboard share them; the lookups the chain needs too (listed instruments, oracle records,
order ids) are ``paraclear.chain.lookups``'s, named here as well.

Numbers leave fixed point here: prices and sizes become JSON numbers in USDC and contracts
(decimal values with at most six places, exact in a double's shortest representation).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Sequence
from typing import Any, Final

from paraclear.chain.lookups import listed_instruments as listed_instruments
from paraclear.chain.lookups import listed_names as listed_names
from paraclear.chain.lookups import oracle_of as oracle_of
from paraclear.chain.lookups import order_id as order_id
from paraclear.chain.lookups import parse_order_id as parse_order_id
from paraclear.clearing.events import OrderFilled
from paraclear.clearing.instruments import (
    Instrument,
    InstrumentNameError,
    Option,
    Perpetual,
    format_expiry,
    parse_instrument,
)
from paraclear.clearing.records import HouseConfig, MarkData, OracleData
from paraclear.numbers import PPM, PRICE_SCALE, SIZE_SCALE, USDC_SCALE, notional
from paraclear.state import State
from paraclear.state import keys as k

SETTLE: Final = "USDC"
FRIDAY: Final = 4


def price(raw: int) -> float:
    """Raw price units as USDC (display only)."""
    return raw / PRICE_SCALE


def size(raw: int) -> float:
    """Raw size units as contracts (display only)."""
    return raw / SIZE_SCALE


def amount(raw: int) -> float:
    """Micro-USDC as USDC (display only)."""
    return raw / USDC_SCALE


def ms(seconds: int) -> int:
    return seconds * 1000


@functools.lru_cache(maxsize=4096)
def iso8601(seconds: int) -> str:
    """``2026-06-26T08:00:00.000Z``, as ccxt writes datetimes (the latest few thousand
    kept: every fill of a block has its block's time)."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def settlement_period(expiry: int) -> str:
    """Deribit's period of an option series: ``month`` (last Friday of a month), ``week``
    (another Friday) or ``day``."""
    day = datetime.datetime.fromtimestamp(expiry, datetime.UTC)
    if day.weekday() != FRIDAY:
        return "day"
    next_week = day + datetime.timedelta(days=7)
    return "month" if next_week.month != day.month else "week"


def instrument_view(
    instrument: Instrument, *, active: bool = True, config: HouseConfig | None = None
) -> dict[str, Any]:
    """One instrument as a ccxt market with Deribit's instrument fields; with the house's
    ``config``, its fee rates as Deribit's ``maker_commission`` and ``taker_commission``
    (fractions: of the notional for a perpetual, of the index per contract for an option,
    whose fee is also capped at a fraction of the premium)."""
    base = instrument.underlying
    is_option = isinstance(instrument, Option)
    view: dict[str, Any] = {
        "id": instrument.name,
        "symbol": symbol(instrument),
        "base": base,
        "quote": SETTLE,
        "settle": SETTLE,
        "baseId": base,
        "quoteId": SETTLE,
        "settleId": SETTLE,
        "type": "option" if is_option else "swap",
        "spot": False,
        "margin": False,
        "swap": not is_option,
        "future": False,
        "option": is_option,
        "active": active,
        "contract": True,
        "linear": True,
        "inverse": False,
        "contractSize": size(instrument.contract_size),
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {"amount": size(instrument.lot_size), "price": price(instrument.tick_size)},
        "limits": {
            "amount": {"min": size(instrument.lot_size), "max": None},
            "price": {"min": price(instrument.tick_size), "max": None},
            "cost": {"min": None, "max": None},
            "leverage": {"min": None, "max": None},
        },
        "instrument_name": instrument.name,
        "kind": "option" if is_option else "future",
        "tick_size": price(instrument.tick_size),
        "min_trade_amount": size(instrument.lot_size),
        "contract_size": size(instrument.contract_size),
        "is_active": active,
        "base_currency": base,
        "quote_currency": SETTLE,
        "counter_currency": SETTLE,
        "settlement_currency": SETTLE,
        "instrument_type": "linear",
        "price_index": f"{base.lower()}_usdc",
        "rfq": False,
    }
    if isinstance(instrument, Option):
        view.update(_option_fields(instrument))
    else:
        view.update(_perpetual_fields(instrument))
    if config is not None:
        maker, taker = (
            (config.option_fee_ppm, config.option_fee_ppm)
            if is_option
            else (config.maker_fee_ppm, config.taker_fee_ppm)
        )
        view.update(
            maker=maker / PPM,
            taker=taker / PPM,
            maker_commission=maker / PPM,
            taker_commission=taker / PPM,
            block_trade_commission=taker / PPM,
        )
    return view


def house_config(state: State) -> HouseConfig | None:
    """The house's configuration (fee rates), if the chain has one."""
    config = state.data.get(k.CONFIG)
    return config if isinstance(config, HouseConfig) else None


def symbol(instrument: Instrument) -> str:
    """ccxt's unified symbol: ``BTC/USDC:USDC`` or ``BTC/USDC:USDC-260626-60000-C``."""
    prefix = f"{instrument.underlying}/{SETTLE}:{SETTLE}"
    if isinstance(instrument, Perpetual):
        return prefix
    day = datetime.datetime.fromtimestamp(instrument.expiry, datetime.UTC).strftime("%y%m%d")
    strike = instrument.name.split("-")[2]
    return f"{prefix}-{day}-{strike}-{instrument.right.value}"


def _option_fields(option: Option) -> dict[str, Any]:
    return {
        "expiry": ms(option.expiry),
        "expiryDatetime": iso8601(option.expiry),
        "strike": price(option.strike),
        "optionType": "call" if option.is_call else "put",
        "option_type": "call" if option.is_call else "put",
        "expiration_timestamp": ms(option.expiry),
        "settlement_period": settlement_period(option.expiry),
        "expiry_name": format_expiry(option.expiry),
    }


def _perpetual_fields(perpetual: Perpetual) -> dict[str, Any]:
    return {
        "settlement_period": "perpetual",
        "expiration_timestamp": 32_503_708_800_000,
        "future_type": "linear",
        "max_leverage": PPM // perpetual.initial_margin_ppm,
        "initial_margin": perpetual.initial_margin_ppm / 1_000_000,
        "maintenance_margin": perpetual.maintenance_margin_ppm / 1_000_000,
    }


def index_price_view(oracle: OracleData) -> dict[str, Any]:
    """Deribit's ``public/get_index_price`` result."""
    return {
        "index_price": price(oracle.index),
        "estimated_delivery_price": price(oracle.index),
        "timestamp": ms(oracle.time),
    }


# --- reading state ---------------------------------------------------------------------------


def select_instruments(
    instruments: Iterable[Instrument],
    currency: str = "any",
    kind: str | None = None,
    expired: bool = False,
    time: int | None = None,
) -> list[Instrument]:
    """Deribit's ``get_instruments`` filter. ``time``: now, Unix seconds (expiry test)."""
    chosen = []
    for instrument in instruments:
        if currency.upper() not in ("ANY", instrument.underlying):
            continue
        is_option = isinstance(instrument, Option)
        if kind is not None and kind != ("option" if is_option else "future"):
            continue
        if isinstance(instrument, Option):
            if time is not None and (instrument.expiry <= time) != expired:
                continue
        elif expired:
            continue
        chosen.append(instrument)
    return chosen


# --- books and trades ---------------------------------------------------------------------

Level = tuple[int, int]
"""A book level: raw price and raw open size."""


def book_view(
    instrument: str,
    bids: Sequence[Level],
    asks: Sequence[Level],
    *,
    depth: int,
    height: int,
    time: int,
    mark: MarkData | None = None,
) -> dict[str, Any]:
    """Deribit's ``get_order_book`` with ccxt's order book fields; ``change_id`` is the
    height of the block that left the book so."""
    bid_rows = [[price(p), size(s)] for p, s in bids[:depth]]
    ask_rows = [[price(p), size(s)] for p, s in asks[:depth]]
    view = {
        "symbol": symbol_of(instrument),
        "instrument_name": instrument,
        "bids": bid_rows,
        "asks": ask_rows,
        "timestamp": ms(time),
        "datetime": iso8601(time),
        "nonce": height,
        "change_id": height,
        "state": "open",
        **_best(bids, asks),
    }
    view.update(_mark_fields(mark))
    return view


def ticker_view(
    instrument: str,
    bids: Sequence[Level],
    asks: Sequence[Level],
    *,
    last: int | None,
    volume: int,
    time: int,
    mark: MarkData | None = None,
) -> dict[str, Any]:
    """Deribit's ``ticker`` with ccxt's ticker fields. ``last``: raw price of the latest
    trade; ``volume``: raw size traded in the last 24 hours."""
    best = _best(bids, asks)
    view = {
        "symbol": symbol_of(instrument),
        "instrument_name": instrument,
        "timestamp": ms(time),
        "datetime": iso8601(time),
        "bid": best["best_bid_price"],
        "ask": best["best_ask_price"],
        "bidVolume": best["best_bid_amount"],
        "askVolume": best["best_ask_amount"],
        "last": None if last is None else price(last),
        "last_price": None if last is None else price(last),
        "baseVolume": size(volume),
        "stats": {"volume": size(volume)},
        "state": "open",
        **best,
    }
    view.update(_mark_fields(mark))
    view["mark"] = view["mark_price"]
    view["index"] = view["index_price"]
    return view


def trade_view(
    height: int, time: int, number: int, fill: OrderFilled, *, seq: int | None = None
) -> dict[str, Any]:
    """A fill as a ccxt trade with Deribit's trade fields; ``side`` is the taker's.

    ``number`` is the fill's number among its block's fills of the instrument (the trade's
    id is its block, instrument and number); ``seq``, Deribit's ``trade_seq``, counts the
    instrument's fills since the chain began (``number`` if not known)."""
    identifier = f"{height}-{fill.instrument}-{number}"
    return {
        "id": identifier,
        "trade_id": identifier,
        "trade_seq": number if seq is None else seq,
        "symbol": symbol_of(fill.instrument),
        "instrument_name": fill.instrument,
        "timestamp": ms(time),
        "datetime": iso8601(time),
        "side": fill.taker_side,
        "direction": fill.taker_side,
        "takerOrMaker": "taker",
        "price": price(fill.price),
        "amount": size(fill.size),
        "cost": amount(notional(fill.price, fill.size)),
        "taker_order_id": order_id(fill.taker, fill.taker_order),
        "maker_order_id": order_id(fill.maker, fill.maker_order),
        "block": height,
    }


def _best(bids: Sequence[Level], asks: Sequence[Level]) -> dict[str, Any]:
    return {
        "best_bid_price": price(bids[0][0]) if bids else None,
        "best_bid_amount": size(bids[0][1]) if bids else 0.0,
        "best_ask_price": price(asks[0][0]) if asks else None,
        "best_ask_amount": size(asks[0][1]) if asks else 0.0,
    }


def _mark_fields(mark: MarkData | None) -> dict[str, Any]:
    if mark is None:
        return {"mark_price": None, "index_price": None}
    return {"mark_price": price(mark.price), "index_price": price(mark.index)}


@functools.lru_cache(maxsize=4096)
def symbol_of(name: str) -> str:
    """ccxt's unified symbol of an instrument name (the name itself if it is none)."""
    try:
        return symbol(parse_instrument(name))
    except InstrumentNameError:
        return name
