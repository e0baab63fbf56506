"""The ``MarginModel`` seam, and standard margin in USDC.

A model turns an account's holdings (positions with their instruments, marks and index
prices) into initial and maintenance requirements in micro-USDC, rounded up. Account equity
is computed elsewhere (``accounts.equity``) and is the same whatever the model.

Standard margin (Deribit's USDC rules, per contract, ``S`` the index value of one contract):

* short option: IM = max(0.15 − OTM/S, 0.10) × S + mark, MM = 0.075 × S + mark;
* long option: IM = MM = its mark (only the premium; its value counts in equity);
* perpetual: IM and MM are the instrument's fractions of notional at the mark.

Portfolio margin (``PortfolioMargin``) takes the worst scenario loss of the whole account
from the risk arrays every oracle update stores with the marks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

import numpy as np

from paraclear.clearing.errors import NoMarketData
from paraclear.clearing.instruments import Option
from paraclear.clearing.records import MarkData, Position
from paraclear.numbers import PPM, SIZE_SCALE, div_ceil
from paraclear.risk.portfolio import DEFAULT_POLICY, MarginPolicy, portfolio_margin
from paraclear.risk.scenarios import DEFAULT_GRID


class Holding(NamedTuple):
    """One position of an account, with the market record that values it."""

    position: Position
    market: MarkData


@dataclass(frozen=True, slots=True)
class MarginRequirement:
    """Initial and maintenance requirements, micro-USDC."""

    initial: int
    maintenance: int


class MarginModel(Protocol):
    """Computes an account's requirements from its holdings."""

    def requirement(self, holdings: Sequence[Holding]) -> MarginRequirement: ...


@dataclass(frozen=True, slots=True)
class StandardMargin:
    """Standard (per-position) margin; fractions in parts per million."""

    short_option_base_ppm: int = 150_000
    short_option_floor_ppm: int = 100_000
    short_option_maintenance_ppm: int = 75_000

    def requirement(self, holdings: Sequence[Holding]) -> MarginRequirement:
        initial = maintenance = 0
        for holding in holdings:
            im, mm = self._one(holding)
            initial += im
            maintenance += mm
        return MarginRequirement(initial, maintenance)

    def _one(self, holding: Holding) -> tuple[int, int]:
        market = holding.market
        inst, size, mark = market.instrument, holding.position.size, market.price
        scale = PPM * SIZE_SCALE
        if not isinstance(inst, Option):
            notional = mark * abs(size)
            return (
                div_ceil(notional * inst.initial_margin_ppm, scale),
                div_ceil(notional * inst.maintenance_margin_ppm, scale),
            )
        if size > 0:
            premium = div_ceil(mark * size, SIZE_SCALE)
            return premium, premium
        spot = market.index * inst.contract_size // SIZE_SCALE
        strike = inst.strike * inst.contract_size // SIZE_SCALE
        otm = max(strike - spot, 0) if inst.is_call else max(spot - strike, 0)
        im_per_contract = max(
            self.short_option_base_ppm * spot - PPM * otm, self.short_option_floor_ppm * spot
        )
        mm_per_contract = self.short_option_maintenance_ppm * spot
        contracts = -size
        return (
            div_ceil((im_per_contract + PPM * mark) * contracts, scale),
            div_ceil((mm_per_contract + PPM * mark) * contracts, scale),
        )


_COVER_PPM: Final = DEFAULT_GRID.cover_array()


@dataclass(frozen=True, slots=True)
class PortfolioMargin:
    """Portfolio margin over scenario risk arrays, in exact integer arithmetic.

    Maintenance is the account's worst scenario loss, Σ position × risk array, over the
    default grid (extended moves counted at their cover fraction); initial is derived from it
    by ``policy`` (1.25× by default). See ``paraclear.risk.portfolio``.
    """

    policy: MarginPolicy = DEFAULT_POLICY

    def requirement(self, holdings: Sequence[Holding]) -> MarginRequirement:
        if not holdings:
            return MarginRequirement(0, 0)
        sizes = [position.size for position, _ in holdings]
        long_pnl = np.array([market.long_pnl for _, market in holdings], dtype=np.int64)
        short_pnl = np.array([market.short_pnl for _, market in holdings], dtype=np.int64)
        if long_pnl.shape != (len(holdings), _COVER_PPM.shape[0]):
            raise NoMarketData(what="risk arrays")
        result = portfolio_margin(sizes, long_pnl, short_pnl, _COVER_PPM, self.policy)
        return MarginRequirement(result.initial, result.maintenance)
