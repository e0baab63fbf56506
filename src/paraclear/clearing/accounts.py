"""Reading and changing accounts through a ``StateView``: cash, positions, equity, margin.

Collateral is USDC cash. A perpetual position carries its own ``quote`` cash, into which
funding is settled, and which is realised into collateral when the position closes. So an
account's equity is::

    collateral + Σ options size × mark + Σ perps (quote + size × mark − pending funding)

with values rounded against the holder. Only liquidation and expiry may leave collateral
negative, and they record a bankruptcy when the insurance fund cannot cover it.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass

from paraclear.clearing import errors
from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.margin import MarginModel, PositionMark
from paraclear.clearing.records import HouseConfig, MarkData, Position
from paraclear.numbers import MAX_BALANCE, SIZE_SCALE
from paraclear.state import StateView
from paraclear.state import keys as k


def read_config(view: StateView) -> HouseConfig:
    config = view.get(k.CONFIG)
    if config is None:
        raise errors.NoMarketData(what="config")
    return config  # type: ignore[return-value]


def read_instrument(view: StateView, name: str) -> Instrument:
    inst = view.get(k.instrument(name))
    if inst is None:
        raise errors.UnknownInstrument(instrument=name)
    return inst  # type: ignore[return-value]


def read_mark(view: StateView, name: str) -> MarkData:
    """Mark, index and funding index of a listed instrument. Raises NoMarketData."""
    mark = view.get(k.mark(name))
    if mark is None:
        raise errors.NoMarketData(what=f"mark of {name}")
    return mark  # type: ignore[return-value]


def holdings(view: StateView, account: str) -> list[PositionMark]:
    """Every position of ``account`` with its instrument, mark, index and funding index."""
    names: tuple[str, ...] = view.get(k.portfolio(account)) or ()  # type: ignore[assignment]
    if not names:
        return []
    values = view.get_many(
        [("acct", account, "pos", name) for name in names]
        + [("market", "mark", name) for name in names]
    )
    count = len(names)
    if None in values[count:]:
        raise errors.NoMarketData(what=f"marks of {', '.join(names)}")
    return list(zip(values[:count], values[count:], strict=True))  # type: ignore[arg-type]


def pending_funding(position: Position, market: MarkData) -> int:
    """Funding a perpetual position owes and has not settled yet (negative: is owed)."""
    inst = market.instrument
    if isinstance(inst, Option):
        return 0
    return (position.size // inst.lot_size) * (market.funding_index - position.funding_index)


def equity(collateral: int, account_holdings: list[PositionMark]) -> int:
    """Collateral plus the value of every position at its mark, rounded against the holder."""
    total = collateral
    for position, market in account_holdings:
        value = market.price * position.size // SIZE_SCALE
        if isinstance(market.instrument, Option):
            total += value
        else:
            total += position.quote + value - pending_funding(position, market)
    return total


@dataclass(frozen=True, slots=True)
class MarginStatus:
    """An account's collateral, equity and requirements, micro-USDC."""

    collateral: int
    equity: int
    initial: int
    maintenance: int


def margin_status(view: StateView, account: str, model: MarginModel) -> MarginStatus:
    account_holdings = holdings(view, account)
    collateral = view.get_int(k.collateral(account))
    requirement = model.requirement(account_holdings)
    return MarginStatus(
        collateral,
        equity(collateral, account_holdings),
        requirement.initial,
        requirement.maintenance,
    )


def require_initial_margin(
    view: StateView, account: str, model: MarginModel, *, extra: int = 0
) -> None:
    """Raise InsufficientMargin unless equity covers the initial requirement, the margin
    reserved for the account's open orders, and ``extra`` (a new order's reservation)."""
    status = margin_status(view, account, model)
    required = status.initial + view.get_int(k.reserved(account)) + extra
    if status.equity < required:
        raise errors.InsufficientMargin(account=account, required=required, available=status.equity)


def change_cash(view: StateView, account: str, amount: int, *, allow_negative: bool = False) -> int:
    """Add ``amount`` (signed) to collateral; returns the new balance.

    Unless ``allow_negative``, raises InsufficientCollateral if the balance would fall below
    zero (or further below, for a bankrupt account). Raises BalanceLimit above MAX_BALANCE.
    """
    key = k.collateral(account)
    before = view.get_int(key)
    after = before + amount
    if after < 0 and amount < 0 and not allow_negative:
        raise errors.InsufficientCollateral(account=account, required=-amount, available=before)
    if after > MAX_BALANCE and amount > 0:
        raise errors.BalanceLimit(account=account, balance=after, limit=MAX_BALANCE)
    view.set(key, after)
    return after


def fill(
    view: StateView,
    account: str,
    name: str,
    inst: Instrument,
    delta: int,
    cash: int,
    *,
    allow_negative: bool = False,
) -> tuple[int, int]:
    """Add ``delta`` to the account's position, paying ``cash`` (signed) for it.

    Options pay from collateral. Perpetuals pay into the position's quote after settling its
    funding, and realise the quote into collateral when the position closes. Keeps the
    portfolio index and open interest in step. Returns (old size, new size).
    """
    key = k.position(account, name)
    position: Position | None = view.get(key)  # type: ignore[assignment]
    old = position.size if position else 0
    new = old + delta
    new_position: Position | None
    if isinstance(inst, Option):
        change_cash(view, account, -cash, allow_negative=allow_negative)
        new_position = Position(new) if new else None
    else:
        market = read_mark(view, name)
        quote = -cash
        if position is not None:
            quote += position.quote - pending_funding(position, market)
        if new == 0:
            change_cash(view, account, quote, allow_negative=allow_negative)
            new_position = None
        else:
            new_position = Position(new, quote, market.funding_index)
    view.set(key, new_position)
    if (old == 0) != (new == 0):
        _update_portfolio(view, account, name, add=new != 0)
    open_interest_change = max(new, 0) - max(old, 0)
    if open_interest_change:
        view.add(k.open_interest(name), open_interest_change)
    return old, new


def _update_portfolio(view: StateView, account: str, name: str, *, add: bool) -> None:
    key = k.portfolio(account)
    names: list[str] = list(view.get(key) or ())  # type: ignore[call-overload]
    if add:
        insort(names, name)
    else:
        names.remove(name)
    view.set(key, tuple(names) if names else None)
