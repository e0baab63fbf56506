"""The liquidation scan: every account under maintenance margin, vectorised over all accounts.

An off-chain pass, run after each oracle update by whoever builds the next block. One walk
over state gathers every position into flat arrays (account, series, size, quote, funding
index) and every series' mark into per-series arrays; equity and maintenance margin of all
accounts are then a handful of numpy operations and ``np.bincount`` sums:

* equity in float64, ``collateral + Σ option value + Σ perp (quote + value − pending
  funding)``;
* standard margin in float64, the same per-position formulas as ``StandardMargin``;
* portfolio margin exactly, by ``paraclear.risk.portfolio.portfolio_margins_sparse`` over
  the series' integer risk arrays (compressed-sparse-row positions).

Floats only screen. With a tolerance far above float error, an account is clearly under,
clearly healthy, or borderline; borderline accounts are settled by the exact integer
``margin_status`` that consensus uses. Consensus re-checks every account in each Liquidate
regardless, so a screening mistake could only cost a failed transaction, never a wrong one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

import numpy as np
import numpy.typing as npt

from paraclear.clearing.accounts import margin_status
from paraclear.clearing.instruments import Option
from paraclear.clearing.margin import MarginModel, PortfolioMargin, StandardMargin
from paraclear.clearing.records import MarkData, Position
from paraclear.execution.gc import paused_gc
from paraclear.numbers import PPM, SIZE_SCALE
from paraclear.risk.portfolio import portfolio_margins_sparse
from paraclear.risk.scenarios import DEFAULT_GRID
from paraclear.state import Key, StateView
from paraclear.state import keys as k
from paraclear.state.keys import Field, account_field_of, position_of

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RELATIVE_TOLERANCE: Final = 1e-9
"""Screening slack relative to an account's equity and margin (float error is ~1e-16)."""
ABSOLUTE_TOLERANCE: Final = 1_000.0
"""Screening slack in micro-USDC."""

_KIND_PERP, _KIND_CALL, _KIND_PUT = 0, 1, 2


@dataclass(frozen=True)
class PositionTable:
    """Every account and position of a state, as flat arrays.

    ``accounts`` holds every account with a position or a non-zero collateral, sorted;
    ``account``/``series``/``size``/``quote``/``funding`` are per position, grouped by
    account in that order; ``series_names`` and ``marks`` are per series.
    """

    accounts: list[str]
    collateral: FloatArray
    account: IntArray
    series: IntArray
    size: IntArray
    quote: FloatArray
    funding: FloatArray
    series_names: list[str]
    marks: list[MarkData]

    def holders(self, name: str) -> list[str]:
        """Accounts that held a position in ``name`` when the table was built."""
        if name not in self.series_names:
            return []
        index = self.series_names.index(name)
        return [self.accounts[a] for a in self.account[self.series == index].tolist()]


def position_table(data: Mapping[Key, object]) -> PositionTable:
    """One walk over state: collateral, positions and marks into arrays."""
    collateral: dict[str, int] = {}
    rows: list[tuple[str, str, Position]] = []
    for key, value in data.items():
        account = account_field_of(key, Field.COLLATERAL)
        if account is not None:
            collateral[account] = value  # type: ignore[assignment]
            continue
        held = position_of(key)
        if held is not None:
            rows.append((held.account, held.instrument, value))  # type: ignore[arg-type]
    accounts = sorted(set(collateral) | {account for account, _, _ in rows})
    account_index = {a: i for i, a in enumerate(accounts)}
    series_names = sorted({name for _, name, _ in rows})
    series_index = {n: i for i, n in enumerate(series_names)}
    rows.sort(key=itemgetter(0, 1))  # by account, then instrument: the accounts' order
    marks: list[MarkData] = [data[k.mark(name)] for name in series_names]  # type: ignore[misc]
    return PositionTable(
        accounts=accounts,
        collateral=np.array([collateral.get(a, 0) for a in accounts], dtype=np.float64),
        account=np.array([account_index[a] for a, _, _ in rows], dtype=np.int64),
        series=np.array([series_index[n] for _, n, _ in rows], dtype=np.int64),
        size=np.array([p.size for _, _, p in rows], dtype=np.int64),
        quote=np.array([p.quote for _, _, p in rows], dtype=np.float64),
        funding=np.array([p.funding_index for _, _, p in rows], dtype=np.float64),
        series_names=series_names,
        marks=marks,
    )


def _series_arrays(marks: list[MarkData]) -> dict[str, npt.NDArray[np.float64 | np.int64]]:
    kind = np.zeros(len(marks), dtype=np.int64)
    strike = np.zeros(len(marks))
    mm_ppm = np.zeros(len(marks))
    lot = np.ones(len(marks))
    for i, mark in enumerate(marks):
        inst = mark.instrument
        lot[i] = inst.lot_size
        if isinstance(inst, Option):
            kind[i] = _KIND_CALL if inst.is_call else _KIND_PUT
            strike[i] = inst.strike
        else:
            mm_ppm[i] = inst.maintenance_margin_ppm
    return {
        "kind": kind,
        "price": np.array([m.price for m in marks], dtype=np.float64),
        "spot": np.array(
            [m.index * m.instrument.contract_size // SIZE_SCALE for m in marks], dtype=np.float64
        ),
        "funding": np.array([m.funding_index for m in marks], dtype=np.float64),
        "strike": strike,
        "mm_ppm": mm_ppm,
        "lot": lot,
    }


def account_equity(
    table: PositionTable, arrays: dict[str, npt.NDArray[np.float64 | np.int64]]
) -> FloatArray:
    """Equity of every account (float64 micro-USDC)."""
    s = table.series
    size = table.size.astype(np.float64)
    value = arrays["price"][s] * size / SIZE_SCALE
    perp = arrays["kind"][s] == _KIND_PERP
    pending = np.where(perp, size / arrays["lot"][s] * (arrays["funding"][s] - table.funding), 0.0)
    per_position = value + np.where(perp, table.quote, 0.0) - pending
    sums = np.bincount(table.account, weights=per_position, minlength=len(table.accounts))
    return table.collateral + sums


def standard_maintenance(
    table: PositionTable,
    arrays: dict[str, npt.NDArray[np.float64 | np.int64]],
    model: StandardMargin,
) -> FloatArray:
    """``StandardMargin`` maintenance of every account (float64 micro-USDC)."""
    s = table.series
    size = table.size.astype(np.float64)
    price, kind = arrays["price"][s], arrays["kind"][s]
    perp = np.abs(size) * price * arrays["mm_ppm"][s] / (PPM * SIZE_SCALE)
    long_option = price * size / SIZE_SCALE
    per_contract = model.short_option_maintenance_ppm * arrays["spot"][s] + PPM * price
    short_option = per_contract * np.abs(size) / (PPM * SIZE_SCALE)
    requirement = np.where(kind == _KIND_PERP, perp, np.where(size > 0, long_option, short_option))
    sums: FloatArray = np.bincount(
        table.account, weights=requirement, minlength=len(table.accounts)
    ).astype(np.float64)
    return sums


def portfolio_maintenance(table: PositionTable, model: PortfolioMargin) -> FloatArray:
    """Exact ``PortfolioMargin`` maintenance of every account, by the sparse kernel."""
    if not table.marks:
        return np.zeros(len(table.accounts))
    long_pnl = np.array([m.long_pnl for m in table.marks], dtype=np.int64)
    short_pnl = np.array([m.short_pnl for m in table.marks], dtype=np.int64)
    counts = np.bincount(table.account, minlength=len(table.accounts))
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    _, maintenance = portfolio_margins_sparse(
        indptr, table.series, table.size, long_pnl, short_pnl, DEFAULT_GRID.cover_array(),
        model.policy,
    )  # fmt: skip
    return maintenance.astype(np.float64)


@dataclass(frozen=True)
class Shortfall:
    """An account found under maintenance: its equity and maintenance margin, micro-USDC.
    Exact (``margin_status``) when the float screen was within tolerance of the threshold,
    the rounded float values otherwise (only used to order the work)."""

    equity: int
    maintenance: int
    exact: bool


@dataclass(frozen=True)
class ScanResult:
    """Accounts under maintenance, and bankrupt accounts with no positions left (the
    insurance fund's to cover), both sorted by name."""

    under_maintenance: dict[str, Shortfall]
    bankrupt_without_positions: list[str]
    table: PositionTable
    confirmed: int
    """How many borderline accounts the exact integer check had to settle."""


def scan(data: Mapping[Key, object], model: MarginModel) -> ScanResult:
    """Find every account under maintenance margin in ``data`` (committed state).

    Accounts clearly under (float shortfall beyond the tolerance) are taken as found;
    borderline ones are settled by the exact integer check; the rest are clearly healthy.
    The cyclic garbage collector is paused meanwhile, as executors pause it for a block.
    """
    with paused_gc():
        return _scan(data, model)


def _scan(data: Mapping[Key, object], model: MarginModel) -> ScanResult:
    table = position_table(data)
    arrays = _series_arrays(table.marks)
    equity = account_equity(table, arrays)
    if isinstance(model, StandardMargin):
        maintenance = standard_maintenance(table, arrays, model)
    elif isinstance(model, PortfolioMargin):
        maintenance = portfolio_maintenance(table, model)
    else:  # an unknown model: every holder is borderline
        maintenance = np.full(len(table.accounts), np.inf)
    slack = RELATIVE_TOLERANCE * (np.abs(equity) + maintenance) + ABSOLUTE_TOLERANCE
    holds = np.bincount(table.account, minlength=len(table.accounts)) > 0
    margin = equity - maintenance
    clearly_under = holds & (margin < -slack)
    borderline = holds & ~clearly_under & (margin < slack)
    under: dict[str, Shortfall] = {
        table.accounts[i]: Shortfall(round(equity[i]), round(maintenance[i]), exact=False)
        for i in np.flatnonzero(clearly_under).tolist()
    }
    view = StateView(data)
    confirmed = np.flatnonzero(borderline).tolist()
    for index in confirmed:
        account = table.accounts[index]
        status = margin_status(view, account, model)
        if status.equity < status.maintenance:
            under[account] = Shortfall(status.equity, status.maintenance, exact=True)
    bankrupt = [table.accounts[i] for i in np.flatnonzero(~holds & (table.collateral < 0)).tolist()]
    return ScanResult(dict(sorted(under.items())), bankrupt, table, len(confirmed))
