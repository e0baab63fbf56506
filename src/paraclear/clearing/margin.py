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
from paraclear.numbers import PPM, SIZE_SCALE
from paraclear.risk.portfolio import DEFAULT_POLICY, MarginPolicy, portfolio_margin
from paraclear.risk.scenarios import DEFAULT_GRID


class Holding(NamedTuple):
    """One position of an account, with the market record that values it."""

    position: Position
    market: MarkData


PositionMark = tuple[Position, MarkData]
"""What a margin model takes per position: a ``Holding`` or a plain pair (the hot path)."""


@dataclass(frozen=True, slots=True)
class MarginRequirement:
    """Initial and maintenance requirements, micro-USDC."""

    initial: int
    maintenance: int


class MarginModel(Protocol):
    """Computes an account's requirements from its holdings."""

    def requirement(self, holdings: Sequence[PositionMark]) -> MarginRequirement: ...


@dataclass(frozen=True, slots=True)
class StandardMargin:
    """Standard (per-position) margin; fractions in parts per million."""

    short_option_base_ppm: int = 150_000
    short_option_floor_ppm: int = 100_000
    short_option_maintenance_ppm: int = 75_000

    def requirement(self, holdings: Sequence[PositionMark]) -> MarginRequirement:
        """Σ of each position's requirement; each is rounded up on its own."""
        scale = PPM * SIZE_SCALE
        base, floor = self.short_option_base_ppm, self.short_option_floor_ppm
        maintenance_rate = self.short_option_maintenance_ppm
        initial = maintenance = 0
        for position, market in holdings:
            inst, size, mark = market.instrument, position.size, market.price
            if not isinstance(inst, Option):
                notional = mark * abs(size)
                initial -= -notional * inst.initial_margin_ppm // scale
                maintenance -= -notional * inst.maintenance_margin_ppm // scale
            elif size > 0:
                premium = -(-mark * size // SIZE_SCALE)
                initial += premium
                maintenance += premium
            else:
                spot = market.index * inst.contract_size // SIZE_SCALE
                strike = inst.strike * inst.contract_size // SIZE_SCALE
                otm = max(strike - spot, 0) if inst.is_call else max(spot - strike, 0)
                per_contract_im = max(base * spot - PPM * otm, floor * spot) + PPM * mark
                per_contract_mm = maintenance_rate * spot + PPM * mark
                initial -= per_contract_im * size // scale  # size < 0: rounds the charge up
                maintenance -= per_contract_mm * size // scale
        return MarginRequirement(initial, maintenance)


_COVER_PPM: Final = DEFAULT_GRID.cover_array()


@dataclass(frozen=True, slots=True)
class PortfolioMargin:
    """Portfolio margin over scenario risk arrays, in exact integer arithmetic.

    Maintenance is the account's worst scenario loss, Σ position × risk array, over the
    default grid (extended moves counted at their cover fraction); initial is derived from it
    by ``policy`` (1.25× by default). See ``paraclear.risk.portfolio``.
    """

    policy: MarginPolicy = DEFAULT_POLICY

    def requirement(self, holdings: Sequence[PositionMark]) -> MarginRequirement:
        if not holdings:
            return MarginRequirement(0, 0)
        sizes = [position.size for position, _ in holdings]
        long_pnl = np.array([market.long_pnl for _, market in holdings], dtype=np.int64)
        short_pnl = np.array([market.short_pnl for _, market in holdings], dtype=np.int64)
        if long_pnl.shape != (len(holdings), _COVER_PPM.shape[0]):
            raise NoMarketData(what="risk arrays")
        result = portfolio_margin(sizes, long_pnl, short_pnl, _COVER_PPM, self.policy)
        return MarginRequirement(result.initial, result.maintenance)
