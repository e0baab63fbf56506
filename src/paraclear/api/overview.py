"""Whole-market reads for liquidators and the dashboard: every account's margin and Greeks,
every instrument's summary.

* ``public/get_accounts``: accounts by risk, riskiest first (highest maintenance margin per
  unit of equity; an account under water, with negative equity or none left while it owes
  margin, has ``margin_ratio`` null and ranks above all: a bankrupt account without
  positions too, so that keepers find it). Each carries its equity, collateral, margins,
  positions with marks, and Greeks.
* ``public/get_book_summary_by_currency``: Deribit's, per instrument: mark, mark IV, best
  bid and ask, 24 h statistics, open interest.

Greeks are ``paraclear.api.option_views``'s: Black-76 at each option's mark volatility, in
Deribit's units. Summaries are ``deribit_views.book_summary``'s.

The accounts' risk is kept by ``paraclear.api.account_risk.AccountRisk``: per block, only
for the accounts the block touched (every account after an oracle update), on a worker
thread, once per height. A call gets the newest ranking at once, or waits for the ranking of
``min_height`` (the keepers' agents, which act on the latest oracle update); views are built
for its page only (``count`` rows from ``offset``). Each connection (each peer over HTTP) may call
``get_accounts`` at most ``ACCOUNTS_RATE_PER_S`` times a second, ``ACCOUNTS_BURST`` at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from paraclear.api import deribit_views, views
from paraclear.api.account_risk import AccountRisk, AccountRow
from paraclear.api.limits import TokenBucket
from paraclear.api.methods import Params
from paraclear.api.option_views import SeriesGreeks, series_greeks
from paraclear.api.reads import NodeLike
from paraclear.api.rpc import TOO_MANY_REQUESTS, Context, Registry, RpcError
from paraclear.clearing.instruments import Option
from paraclear.clearing.records import MarkData, Position
from paraclear.numbers import SIZE_SCALE

MAX_ACCOUNTS: Final = 1_000
"""Most rows of ``get_accounts`` in one call."""
MAX_OFFSET: Final = 10_000_000
ACCOUNTS_RATE_PER_S: Final = 20.0
ACCOUNTS_BURST: Final = 20
MAX_CALLERS: Final = 10_000
"""Callers whose ``get_accounts`` rate is remembered (the oldest is forgotten first)."""
DAYS_PER_YEAR: Final = 365.0
VOL_POINT: Final = 0.01
GREEKS: Final = ("delta", "gamma", "vega", "theta")


class AccountsParams(Params, frozen=True):
    limit: int = 100
    """Rows to return (Deribit's ``count``, if given, instead)."""
    count: int | None = None
    offset: int = 0
    """Rows to skip: ``offset`` and ``count`` page through the ranking."""
    min_height: int | None = None
    """Wait for the ranking of this height or later (at most the latest block's); without
    it, the newest ranking computed comes at once (each row's ``block`` says its height)."""
    sort: Literal["margin_ratio"] = "margin_ratio"


class SummaryByCurrencyParams(Params, frozen=True):
    currency: str
    kind: Literal["option", "future"] | None = None


class OverviewMethods:
    """``public/get_accounts`` and ``public/get_book_summary_by_currency`` of one node."""

    def __init__(self, node: NodeLike, risk: AccountRisk) -> None:
        self.node = node
        self.risk = risk
        self._buckets: dict[object, TokenBucket] = {}

    def register(self, registry: Registry) -> None:
        registry.add("public/get_accounts", AccountsParams, self.get_accounts)
        registry.add(
            "public/get_book_summary_by_currency", SummaryByCurrencyParams, self.book_summary
        )

    async def get_accounts(self, context: Context, params: AccountsParams) -> list[dict[str, Any]]:
        name, count = ("limit", params.limit) if params.count is None else ("count", params.count)
        if not 1 <= count <= MAX_ACCOUNTS:
            raise RpcError.invalid_params(name, f"must be between 1 and {MAX_ACCOUNTS}")
        if not 0 <= params.offset <= MAX_OFFSET:
            raise RpcError.invalid_params("offset", f"must be between 0 and {MAX_OFFSET}")
        height = self.node.height
        if params.min_height is not None and not 0 <= params.min_height <= height:
            raise RpcError.invalid_params("min_height", f"must be between 0 and {height}")
        self._take(context)
        if params.min_height is None:
            ranking = await self.risk.newest(height)
        else:
            ranking = await self.risk.ranking(params.min_height)
        page = ranking.rows[params.offset : params.offset + count]
        marks = {name: mark for row in page for name, _, mark in row.positions}
        greeks = series_greeks(self.node.state, marks, self.node.block_time)
        return [account_view(row, greeks, ranking.height) for row in page]

    def _take(self, context: Context) -> None:
        """Spend one of the caller's ``get_accounts`` tokens. Raises RpcError."""
        caller: object = context.session if context.session is not None else context.peer
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= MAX_CALLERS:
                del self._buckets[next(iter(self._buckets))]
            bucket = self._buckets[caller] = TokenBucket(ACCOUNTS_RATE_PER_S, ACCOUNTS_BURST)
        if not bucket.take():
            raise RpcError(
                TOO_MANY_REQUESTS,
                "too many get_accounts calls",
                {"retry_after_ms": bucket.retry_after_ms()},
            )

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
        return [deribit_views.book_summary(self.node, instrument) for instrument in listed]


def account_view(
    row: AccountRow, greeks: Mapping[str, SeriesGreeks], height: int
) -> dict[str, Any]:
    """One row of ``public/get_accounts``, ranked at block ``height``."""
    return {
        "account": row.account,
        "block": height,
        "equity": views.amount(row.equity),
        "collateral": views.amount(row.collateral),
        "initial_margin": views.amount(row.initial),
        "maintenance_margin": views.amount(row.maintenance),
        "margin_ratio": row.ratio,
        "positions": [
            {
                "instrument_name": name,
                "size": views.size(position.size),
                "mark_price": views.price(mark.price),
            }
            for name, position, mark in row.positions
        ],
        "greeks": _account_greeks(list(row.positions), greeks),
    }


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
