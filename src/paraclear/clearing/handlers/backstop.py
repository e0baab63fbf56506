"""Backstop (the insurance fund covers a bankrupt account) and Deleverage (auto-deleveraging
when the fund cannot); see ``paraclear.clearing.liquidation`` for the sequence."""

from __future__ import annotations

from fractions import Fraction

from paraclear.clearing import errors
from paraclear.clearing.accounts import (
    change_cash,
    fill,
    holdings,
    margin_status,
    read_instrument,
    read_mark,
)
from paraclear.clearing.events import (
    BankruptcyRecorded,
    Deleveraged,
    Event,
    InsuranceCovered,
)
from paraclear.clearing.handlers.common import MARKET_READS, account_access
from paraclear.clearing.instruments import Instrument
from paraclear.clearing.liquidation import (
    adl_score,
    deficit_shares,
    first_to_liquidate,
    may_liquidate,
)
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import Bankruptcy, MarkData, Position
from paraclear.clearing.transactions import Backstop, Deleverage
from paraclear.execution import BlockContext
from paraclear.numbers import SIZE_SCALE, div_floor
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k

_FUND_LOCK = k.lock_of(k.INSURANCE_FUND)


def sync_bankruptcy(view: StateView, account: str, ctx: BlockContext) -> list[Event]:
    """Record a bankruptcy for negative collateral, clear the record otherwise."""
    balance = view.get_int(k.collateral(account))
    record = k.bankruptcy(account)
    if balance < 0:
        view.set(record, Bankruptcy(ctx.height, -balance))
        return [BankruptcyRecorded(account=account, deficit=-balance)]
    if view.get(record) is not None:
        view.set(record, None)
    return []


def cover_deficit(view: StateView, account: str, ctx: BlockContext) -> list[Event]:
    """Cover the negative collateral of an account with no positions from the insurance
    fund as far as it goes, then keep the bankruptcy record in step. Needs the fund's
    write lock."""
    balance = view.get_int(k.collateral(account))
    events: list[Event] = []
    cover = min(max(-balance, 0), max(view.get_int(k.INSURANCE_FUND), 0))
    if cover and view.get(k.portfolio(account)) is None:
        view.add(k.INSURANCE_FUND, -cover)
        change_cash(view, account, cover, allow_negative=True)
        events.append(InsuranceCovered(account=account, amount=cover))
    return events + sync_bankruptcy(view, account, ctx)


def access_backstop(tx: Backstop) -> AccessSet:
    return account_access((tx.sender, tx.account), writes=(_FUND_LOCK,))


def apply_backstop(
    tx: Backstop, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Raises NotUnderwater, PositionsOpen or InsuranceFundEmpty."""
    balance = view.get_int(k.collateral(tx.account))
    if balance >= 0:
        raise errors.NotUnderwater(account=tx.account, equity=balance)
    names = view.get(k.portfolio(tx.account))
    if names:
        raise errors.PositionsOpen(account=tx.account, positions=len(names))  # type: ignore[arg-type]
    fund = view.get_int(k.INSURANCE_FUND)
    if fund <= 0:
        raise errors.InsuranceFundEmpty(fund=fund, deficit=-balance)
    return cover_deficit(view, tx.account, ctx)


def access_deleverage(tx: Deleverage) -> AccessSet:
    return account_access(
        (tx.sender, tx.account, *tx.counterparties),
        reads=MARKET_READS,
        writes=(_FUND_LOCK,),
        deltas=(k.open_interest(tx.instrument),),
    )


def apply_deleverage(
    tx: Deleverage, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """The fund pays what it has into the account, then each counterparty closes part of the
    position at the mark plus its share of the remaining deficit (so that closing all of a
    position brings the account's equity to exactly zero).

    Raises NotUnderwater, PerpetualsFirst, NotMultiple, PositionTooSmall,
    InsuranceFundSufficient, NotOpposite, AdlRankOrder, InsufficientCounterparties,
    CounterpartyUnderwater, InsufficientCollateral.
    """
    if tx.account == tx.sender or tx.account in tx.counterparties:
        raise errors.Malformed(field="counterparties", reason="the account cannot be one")
    if len(set(tx.counterparties)) != len(tx.counterparties):
        raise errors.Malformed(field="counterparties", reason="listed twice")
    deficit, inst, held = _check_deleverage(tx, view, model)
    fund = view.get_int(k.INSURANCE_FUND)
    if fund >= deficit:
        raise errors.InsuranceFundSufficient(fund=fund, deficit=deficit)
    events: list[Event] = []
    if fund > 0:
        view.add(k.INSURANCE_FUND, -fund)
        change_cash(view, tx.account, fund, allow_negative=True)
        events.append(InsuranceCovered(account=tx.account, amount=fund))
        deficit -= fund
    mark = read_mark(view, tx.instrument)
    takes = _counterparty_takes(tx, view, model, held, mark)
    shares = deficit_shares(div_ceil_share(deficit, tx.size, abs(held)), takes)
    delta_total = cash_total = 0
    for counterparty, take, share in zip(tx.counterparties, takes, shares, strict=True):
        delta = take if held > 0 else -take
        cash = div_floor(mark.price * delta, SIZE_SCALE) + share
        fill(view, counterparty, tx.instrument, inst, delta, cash)
        equity = margin_status(view, counterparty, model).equity
        if equity < 0:
            raise errors.CounterpartyUnderwater(account=counterparty, equity=equity)
        delta_total += delta
        cash_total += cash
        events.append(
            Deleveraged(
                account=tx.account,
                counterparty=counterparty,
                instrument=tx.instrument,
                size=take,
                price=mark.price,
                loss=share,
            )
        )
    fill(view, tx.account, tx.instrument, inst, -delta_total, -cash_total, allow_negative=True)
    return events + sync_bankruptcy(view, tx.account, ctx)


def require_liquidation_order(view: StateView, account: str, name: str) -> None:
    """Raise PerpetualsFirst if ``name`` is an option and ``account`` holds a perpetual."""
    account_holdings = holdings(view, account)
    if not may_liquidate(account_holdings, name):
        first = first_to_liquidate(account_holdings) or ""
        raise errors.PerpetualsFirst(account=account, instrument=name, perpetual=first)


def div_ceil_share(deficit: int, size: int, held: int) -> int:
    """The part of ``deficit`` that closing ``size`` of ``held`` absorbs, rounded up."""
    return -(-deficit * size // held)


def _check_deleverage(
    tx: Deleverage, view: StateView, model: MarginModel
) -> tuple[int, Instrument, int]:
    """(deficit, instrument, held size) of a valid request."""
    status = margin_status(view, tx.account, model)
    if status.equity >= 0:
        raise errors.NotUnderwater(account=tx.account, equity=status.equity)
    require_liquidation_order(view, tx.account, tx.instrument)
    inst = read_instrument(view, tx.instrument)
    position = view.get(k.position(tx.account, tx.instrument))
    held = position.size if isinstance(position, Position) else 0
    if tx.size % inst.lot_size:
        raise errors.NotMultiple(field="size", value=tx.size, step=inst.lot_size)
    if tx.size > abs(held):
        raise errors.PositionTooSmall(
            account=tx.account, instrument=tx.instrument, position=held, requested=tx.size
        )
    return -status.equity, inst, held


def _counterparty_takes(
    tx: Deleverage, view: StateView, model: MarginModel, held: int, mark: MarkData
) -> list[int]:
    """How much each listed counterparty closes, after checking that each holds an opposite
    position, that they come in non-increasing ADL rank and that each one is needed."""
    takes: list[int] = []
    remaining = tx.size
    previous, previous_score = "", Fraction(-1)
    for counterparty in tx.counterparties:
        position = view.get(k.position(counterparty, tx.instrument))
        size = position.size if isinstance(position, Position) else 0
        if size == 0 or (size > 0) == (held > 0):
            raise errors.NotOpposite(account=counterparty, instrument=tx.instrument, position=size)
        assert isinstance(position, Position)
        score = adl_score(position, mark, margin_status(view, counterparty, model).equity)
        if previous and score > previous_score:
            raise errors.AdlRankOrder(account=counterparty, after=previous)
        previous, previous_score = counterparty, score
        if remaining == 0:
            raise errors.Malformed(field="counterparties", reason="more than the size needs")
        take = min(remaining, abs(size))
        takes.append(take)
        remaining -= take
    if remaining:
        raise errors.InsufficientCounterparties(
            instrument=tx.instrument, requested=tx.size, available=tx.size - remaining
        )
    return takes
