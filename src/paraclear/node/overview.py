"""Whole-market reads for liquidators and the dashboard: every account's margin and Greeks,
every instrument's summary.

* ``public/get_accounts``: accounts by risk, riskiest first (highest maintenance margin per
  unit of equity; an account under water, with negative equity or none left while it owes
  margin, has ``margin_ratio`` null and ranks above all: a bankrupt account without
  positions too, so that keepers find it). Each carries its equity, collateral, margins,
  positions with marks, and Greeks.
* ``public/get_book_summary_by_currency``: Deribit's, per instrument: mark, mark IV, best
  bid and ask, recent volume, open interest.

Greeks are Black-76 at each option's mark volatility (the oracle's smile, as the marks use),
forward = index, rate 0, in Deribit's units: delta in underlying, gamma per underlying
unit, vega in USDC per vol point, theta in USDC per day. A perpetual contributes its
underlying to delta.

What an account holds changes only with blocks, so the accounts and their risk are computed
once per height, on the API's event loop; ``AccountIndex`` learns new accounts from each
block's write set instead of scanning state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from paraclear.clearing.accounts import margin_status
from paraclear.clearing.errors import NoMarketData
from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.marks import SECONDS_PER_YEAR, smile_vol
from paraclear.clearing.records import MarkData, Position
from paraclear.node import views
from paraclear.node.methods import Params
from paraclear.node.reads import NodeLike
from paraclear.node.rpc import Context, Registry, RpcError
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE
from paraclear.risk.greeks import KernelMode, black76_greeks
from paraclear.state import State, StateView
from paraclear.state import keys as k

MAX_ACCOUNTS: Final = 1_000
DAYS_PER_YEAR: Final = 365.0
VOL_POINT: Final = 0.01
GREEKS: Final = ("delta", "gamma", "vega", "theta")


class AccountsParams(Params, frozen=True):
    limit: int = 100
    sort: Literal["margin_ratio"] = "margin_ratio"


class SummaryByCurrencyParams(Params, frozen=True):
    currency: str
    kind: Literal["option", "future"] | None = None


class AccountIndex:
    """The accounts that hold collateral or positions, learnt from write sets."""

    def __init__(self) -> None:
        self._accounts: dict[str, None] = {}
        self.size = 0
        """How many accounts are known: views cached for a height also depend on it."""

    def scan(self, state: State) -> None:
        """Learn every account in ``state`` (once, at start)."""
        self.update(list(state.data))

    def update(self, keys: Any) -> None:
        """Learn the accounts among ``keys`` (a block's written keys)."""
        for key in keys:
            if key[0] == "acct" and len(key) >= 3 and key[2] in ("collateral", "portfolio"):
                self._accounts[key[1]] = None
        self.size = len(self._accounts)

    def accounts(self) -> list[str]:
        return sorted(self._accounts)


@dataclass(frozen=True)
class SeriesGreeks:
    """Greeks of one contract of a series (Deribit's units; see the module docstring)."""

    delta: float
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0


def series_greeks(
    state: State, marks: Mapping[str, MarkData], time: int
) -> dict[str, SeriesGreeks]:
    """Per-contract Greeks of the instruments of ``marks``, options in one vectorised call."""
    result: dict[str, SeriesGreeks] = {}
    options: list[tuple[str, Option, float, float]] = []
    for name, mark in marks.items():
        instrument = mark.instrument
        units = instrument.contract_size / SIZE_SCALE
        if isinstance(instrument, Perpetual):
            result[name] = SeriesGreeks(units)
            continue
        oracle = views.oracle_of(state, instrument.underlying)
        index = oracle.index if oracle is not None else mark.index
        vol = smile_vol(oracle, instrument.strike) if oracle is not None else 0.0
        options.append((name, instrument, index / PRICE_SCALE, vol))
    if options:
        greeks = black76_greeks(
            np.array([forward for _, _, forward, _ in options]),
            np.array([o.strike / PRICE_SCALE for _, o, _, _ in options]),
            np.array([max(o.expiry - time, 0) / SECONDS_PER_YEAR for _, o, _, _ in options]),
            0.0,
            np.array([vol for *_, vol in options]),
            np.array([o.is_call for _, o, _, _ in options]),
            mode=KernelMode.FAST,
        )
        for i, (name, option, _, _) in enumerate(options):
            units = option.contract_size / SIZE_SCALE
            result[name] = SeriesGreeks(
                _finite(greeks.delta[i]) * units,
                _finite(greeks.gamma[i]) * units,
                _finite(greeks.vega[i]) * VOL_POINT * units,
                _finite(greeks.theta[i]) / DAYS_PER_YEAR * units,
            )
    return result


def _finite(value: Any) -> float:
    """A Greek as a JSON-safe float (the at-the-money limits at expiry are infinite)."""
    number = float(value)
    return number if math.isfinite(number) else 0.0


class OverviewMethods:
    """``public/get_accounts`` and ``public/get_book_summary_by_currency`` of one node."""

    def __init__(self, node: NodeLike, index: AccountIndex) -> None:
        self.node = node
        self.index = index
        self._cached: tuple[tuple[int, int], list[dict[str, Any]]] | None = None

    def register(self, registry: Registry) -> None:
        registry.add("public/get_accounts", AccountsParams, self.get_accounts)
        registry.add(
            "public/get_book_summary_by_currency", SummaryByCurrencyParams, self.book_summary
        )

    def get_accounts(self, context: Context, params: AccountsParams) -> list[dict[str, Any]]:
        if not 1 <= params.limit <= MAX_ACCOUNTS:
            raise RpcError.invalid_params("limit", f"must be between 1 and {MAX_ACCOUNTS}")
        version = (self.node.height, self.index.size)
        if self._cached is None or self._cached[0] != version:
            self._cached = (version, self._ranked())
        return self._cached[1][: params.limit]

    def _ranked(self) -> list[dict[str, Any]]:
        """Every indexed account's risk view, riskiest first (then by name)."""
        state = self.node.state
        view = StateView(state.data)
        model = self.node.machine.margin_model
        rows: list[tuple[float, str, dict[str, Any]]] = []
        held: dict[str, list[tuple[str, Position, MarkData]]] = {}
        marks: dict[str, MarkData] = {}
        for account in self.index.accounts():
            positions = _positions(state, account)
            held[account] = positions
            for name, _, mark in positions:
                marks[name] = mark
        greeks = series_greeks(state, marks, self.node.block_time)
        for account, positions in held.items():
            try:
                status = margin_status(view, account, model)
            except NoMarketData:  # a mark missing mid-listing: leave the account out
                continue
            ratio = _margin_ratio(status.equity, status.maintenance)
            rows.append(
                (
                    -math.inf if ratio is None else -ratio,
                    account,
                    {
                        "account": account,
                        "equity": views.amount(status.equity),
                        "collateral": views.amount(status.collateral),
                        "initial_margin": views.amount(status.initial),
                        "maintenance_margin": views.amount(status.maintenance),
                        "margin_ratio": ratio,
                        "positions": [
                            {
                                "instrument_name": name,
                                "size": views.size(position.size),
                                "mark_price": views.price(mark.price),
                            }
                            for name, position, mark in positions
                        ],
                        "greeks": _account_greeks(positions, greeks),
                    },
                )
            )
        rows.sort(key=lambda row: row[:2])
        return [row[2] for row in rows]

    def book_summary(
        self, context: Context, params: SummaryByCurrencyParams
    ) -> list[dict[str, Any]]:
        currency = params.currency.upper()
        state = self.node.state
        listed = [
            instrument
            for instrument in views.listed_instruments(state)
            if currency in ("ANY", instrument.underlying)
            and params.kind in (None, "option" if isinstance(instrument, Option) else "future")
        ]
        if not listed and currency != "ANY" and views.oracle_of(state, currency) is None:
            raise RpcError.invalid_params("currency", f"no instruments on {params.currency!r}")
        return [self._summary(instrument) for instrument in listed]

    def _summary(self, instrument: Instrument) -> dict[str, Any]:
        name = instrument.name
        state = self.node.state
        mark = state.get(k.mark(name))
        oracle = views.oracle_of(state, instrument.underlying)
        bids, asks = self.node.depth.get(name, ([], []))
        recent = list(self.node.trades.get(name, ()))
        open_interest = state.get(k.open_interest(name), 0)
        mark_iv = None
        if isinstance(instrument, Option) and oracle is not None:
            mark_iv = round(smile_vol(oracle, instrument.strike) * 100, 4)
        summary: dict[str, Any] = {
            "instrument_name": name,
            "base_currency": instrument.underlying,
            "quote_currency": views.SETTLE,
            "kind": "option" if isinstance(instrument, Option) else "future",
            "mark_price": views.price(mark.price) if isinstance(mark, MarkData) else None,
            "underlying_price": views.price(oracle.index) if oracle is not None else None,
            "mark_iv": mark_iv,
            "bid_price": views.price(bids[0][0]) if bids else None,
            "ask_price": views.price(asks[0][0]) if asks else None,
            "last": views.price(recent[-1][2].price) if recent else None,
            "volume": views.size(sum(fill.size for _, _, fill in recent)),
            "open_interest": views.size(open_interest) if isinstance(open_interest, int) else 0.0,
            "creation_timestamp": views.ms(self.node.block_time),
        }
        if isinstance(instrument, Option):
            summary["strike"] = views.price(instrument.strike)
            summary["expiration_timestamp"] = views.ms(instrument.expiry)
            summary["option_type"] = "call" if instrument.is_call else "put"
        return summary


def _positions(state: State, account: str) -> list[tuple[str, Position, MarkData]]:
    names = state.get(k.portfolio(account)) or ()
    found = []
    for name in names if isinstance(names, tuple) else ():
        position, mark = state.get(k.position(account, name)), state.get(k.mark(name))
        if isinstance(position, Position) and isinstance(mark, MarkData) and position.size:
            found.append((name, position, mark))
    return found


def _margin_ratio(equity: int, maintenance: int) -> float | None:
    """Maintenance margin per unit of equity; None for an account under water (negative
    equity, or none left while margin is owed), which ranks above every ratio."""
    if equity < 0 or (equity == 0 and maintenance > 0):
        return None
    if maintenance <= 0:
        return 0.0
    return maintenance / equity


def _account_greeks(
    positions: list[tuple[str, Position, MarkData]], greeks: Mapping[str, SeriesGreeks]
) -> dict[str, float]:
    totals = dict.fromkeys(GREEKS, 0.0)
    for name, position, _ in positions:
        per_contract = greeks.get(name)
        if per_contract is None:
            continue
        contracts = position.size / SIZE_SCALE
        for greek in GREEKS:
            totals[greek] += contracts * getattr(per_contract, greek)
    return {greek: round(value, 8) for greek, value in totals.items()}
