"""ListInstrument, OracleUpdate, Funding: the admin and oracle transactions (DAG barriers)."""

from __future__ import annotations

from bisect import insort

import msgspec

from paraclear.clearing import errors
from paraclear.clearing.accounts import read_config, read_instrument, read_mark
from paraclear.clearing.events import (
    Event,
    FundingPaid,
    InstrumentListed,
    OraclePublished,
    PoolQuoted,
)
from paraclear.clearing.handlers.common import account_access
from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.marks import SeriesMarks, compute_marks
from paraclear.clearing.perpetuals import (
    FUNDING_INTERVAL,
    accrue,
    funding_rate,
    perpetual_mark,
    premium_ppm,
)
from paraclear.clearing.quotes import check_surface, compute_quotes
from paraclear.clearing.records import (
    IndexHistory,
    MarkData,
    OracleData,
    PremiumAccumulator,
    SettlementPrices,
    SviSlice,
)
from paraclear.clearing.transactions import Funding, ListInstrument, OracleUpdate
from paraclear.clearing.twap import BUCKET, TWAP_WINDOW, record_segment, window_average
from paraclear.execution import BlockContext
from paraclear.numbers import PPM, SIZE_SCALE
from paraclear.risk.errors import RiskError
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k


def require_role(view: StateView, account: str, role: str) -> None:
    """Raise Unauthorized unless ``account`` is the house's ``admin`` or ``oracle``."""
    config = read_config(view)
    if account != (config.admin if role == "admin" else config.oracle):
        raise errors.Unauthorized(account=account, action=role)


def marks_or_fail(
    oracle: OracleData, instruments: list[Instrument], time: int
) -> list[SeriesMarks]:
    """``compute_marks``, turning a risk-engine refusal into a typed transaction failure."""
    try:
        return compute_marks(oracle, instruments, time)
    except RiskError as error:
        underlying = instruments[0].underlying if instruments else ""
        raise errors.InvalidOracle(underlying=underlying, reason=str(error)) from None


def access_list_instrument(tx: ListInstrument) -> AccessSet:
    return account_access(
        (tx.sender,),
        reads=(k.CONFIG, k.ORACLE_LOCK),
        writes=(k.INSTRUMENTS_LOCK, k.SERIES_LOCK, k.MARK_LOCK),
    )


def apply_list_instrument(
    tx: ListInstrument, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    require_role(view, tx.sender, "admin")
    inst = tx.instrument
    _check_specification(inst, ctx)
    name = inst.name
    if view.get(k.instrument(name)) is not None:
        raise errors.InstrumentExists(instrument=name)
    view.set(k.instrument(name), inst)
    series: list[str] = list(view.get(k.series(inst.underlying)) or ())  # type: ignore[call-overload]
    insort(series, name)
    view.set(k.series(inst.underlying), tuple(series))
    oracle = view.get(k.oracle(inst.underlying))
    if isinstance(oracle, OracleData):
        marks = marks_or_fail(oracle, [inst], ctx.time)[0]
        view.set(k.mark(name), MarkData(inst, marks.price, oracle.index, 0, *marks[1:]))
    if isinstance(inst, Perpetual):
        view.set(k.premium(name), PremiumAccumulator(ctx.time, ctx.time))
    return [InstrumentListed(instrument=name)]


def _check_specification(inst: Instrument, ctx: BlockContext) -> None:
    name = inst.name

    def invalid(reason: str) -> errors.InvalidInstrument:
        return errors.InvalidInstrument(instrument=name, reason=reason)

    if min(inst.tick_size, inst.lot_size, inst.contract_size) <= 0:
        raise invalid("tick, lot and contract sizes must be positive")
    if (inst.tick_size * inst.lot_size) % SIZE_SCALE:
        raise invalid("tick × lot must be a whole number of micro-USDC")
    if isinstance(inst, Option):
        if inst.expiry <= ctx.time:
            raise invalid("expiry is not in the future")
        if inst.expiry % BUCKET:
            raise invalid("expiry must fall on a whole minute")
        if inst.strike <= 0:
            raise invalid("strike must be positive")
    elif not 0 < inst.maintenance_margin_ppm <= inst.initial_margin_ppm <= PPM:
        raise invalid("need 0 < maintenance ≤ initial ≤ 100 %")


def access_oracle_update(tx: OracleUpdate) -> AccessSet:
    return account_access(
        (tx.sender,),
        reads=(k.CONFIG, k.INSTRUMENTS_LOCK, k.SERIES_LOCK),
        writes=(k.ORACLE_LOCK, k.MARK_LOCK, k.SURFACE_LOCK, k.QUOTE_LOCK),
    )


def apply_oracle_update(
    tx: OracleUpdate, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Publish the index: fix the settlement price of every expiry passed since the last
    update, extend the index history, and recompute every mark on the underlying."""
    require_role(view, tx.sender, "oracle")
    oracle = OracleData(tx.index_price, tx.atm_vol_ppm, tx.skew_ppm, ctx.time)
    names: tuple[str, ...] = view.get(k.series(tx.underlying)) or ()  # type: ignore[assignment]
    instruments = [read_instrument(view, name) for name in names]
    settled = _record_index(view, tx.underlying, oracle, instruments)
    computed = marks_or_fail(oracle, instruments, ctx.time)
    for name, inst, marks in zip(names, instruments, computed, strict=True):
        previous = view.get(k.mark(name))
        funding = previous.funding_index if isinstance(previous, MarkData) else 0
        price = marks.price
        if isinstance(inst, Option) and inst.expiry in settled:
            price = inst.intrinsic(settled[inst.expiry])  # expired: worth its settlement
        elif isinstance(inst, Perpetual):
            price = perpetual_mark(marks.price, tx.impact_bid, tx.impact_ask)
            _accrue_premium(view, name, ctx.time, premium_ppm(price, marks.price))
        view.set(k.mark(name), MarkData(inst, price, oracle.index, funding, *marks[1:]))
    published = OraclePublished(underlying=tx.underlying, index=tx.index_price, marks=len(names))
    return [published, *_publish_quotes(view, tx, oracle, instruments, ctx.time)]


def _publish_quotes(
    view: StateView,
    tx: OracleUpdate,
    oracle: OracleData,
    instruments: list[Instrument],
    time: int,
) -> list[Event]:
    """Store the surface if the update brings one, and recompute the pool's quotes from the
    underlying's surface; once every slice has expired, remove them."""
    key = k.surface(tx.underlying)
    options = [inst for inst in instruments if isinstance(inst, Option)]
    try:
        if tx.surface:
            check_surface(tx.surface, time)
            view.set(key, tx.surface)
        slices: tuple[SviSlice, ...] = view.get(key) or ()  # type: ignore[assignment]
        quotes = compute_quotes(oracle, slices, options, time) if slices else []
    except RiskError as error:
        raise errors.InvalidOracle(underlying=tx.underlying, reason=str(error)) from None
    if quotes is None:
        for option in options:
            if view.get(k.quote(option.name)) is not None:
                view.set(k.quote(option.name), None)
        return []
    for option, quote in zip(options, quotes, strict=False):
        view.set(k.quote(option.name), quote)
    return [PoolQuoted(underlying=tx.underlying, quotes=len(quotes))] if slices else []


def _record_index(
    view: StateView, underlying: str, oracle: OracleData, instruments: list[Instrument]
) -> dict[int, int]:
    """Settle the TWAP of each listed expiry in ``(previous update, now]``, then add the
    previous update's stretch to the history and store ``oracle`` as the latest update.
    Returns the settlement prices of listed expiries, by expiry."""
    previous = view.get(k.oracle(underlying))
    latest = previous if isinstance(previous, OracleData) else None
    history = view.get(k.index_history(underlying))
    history = history if isinstance(history, IndexHistory) else IndexHistory()
    stored = view.get(k.settlement_prices(underlying))
    settled = dict(stored.prices) if isinstance(stored, SettlementPrices) else {}
    listed = {inst.expiry for inst in instruments if isinstance(inst, Option)}
    since = latest.time if latest is not None else -1
    for expiry in sorted(listed):
        if since < expiry <= oracle.time and expiry not in settled:
            start = expiry - TWAP_WINDOW
            settled[expiry] = window_average(history, latest, start, expiry, oracle.index)
    kept = tuple(sorted((e, price) for e, price in settled.items() if e in listed))
    if kept != (stored.prices if isinstance(stored, SettlementPrices) else ()):
        view.set(k.settlement_prices(underlying), SettlementPrices(kept) if kept else None)
    if latest is not None:
        view.set(k.index_history(underlying), record_segment(history, latest, oracle.time))
    view.set(k.oracle(underlying), oracle)
    return dict(kept)


def _accrue_premium(view: StateView, name: str, now: int, premium: int) -> None:
    accumulator = view.get(k.premium(name))
    if not isinstance(accumulator, PremiumAccumulator):
        accumulator = PremiumAccumulator(now, now)
    view.set(k.premium(name), accrue(accumulator, now, premium))


def access_funding(tx: Funding) -> AccessSet:
    return account_access(
        (tx.sender,),
        reads=(k.CONFIG, k.INSTRUMENTS_LOCK),
        writes=(k.MARK_LOCK,),
    )


def apply_funding(
    tx: Funding, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Pay the period's funding into the per-lot funding index and start a new period.

    Raises FundingNotDue within an hour of the period's start.
    """
    require_role(view, tx.sender, "oracle")
    inst = read_instrument(view, tx.instrument)
    if not isinstance(inst, Perpetual):
        raise errors.WrongInstrumentKind(instrument=tx.instrument, expected="perpetual")
    accumulator = view.get(k.premium(tx.instrument))
    if not isinstance(accumulator, PremiumAccumulator):
        raise errors.NoMarketData(what=f"premium of {tx.instrument}")
    due = accumulator.start + FUNDING_INTERVAL
    if ctx.time < due:
        raise errors.FundingNotDue(instrument=tx.instrument, due=due, time=ctx.time)
    rate = funding_rate(accumulator, ctx.time, read_config(view).max_funding_rate_ppm)
    mark = read_mark(view, tx.instrument)
    index_delta = rate * mark.price * inst.lot_size // (PPM * SIZE_SCALE)
    index = mark.funding_index + index_delta
    view.set(k.mark(tx.instrument), msgspec.structs.replace(mark, funding_index=index))
    view.set(
        k.premium(tx.instrument),
        PremiumAccumulator(ctx.time, ctx.time, accumulator.premium_ppm),
    )
    return [
        FundingPaid(
            instrument=tx.instrument,
            rate_ppm=rate,
            index_delta=index_delta,
            funding_index=index,
        )
    ]
