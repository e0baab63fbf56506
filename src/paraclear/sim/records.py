"""What an agent market run records, tick by tick, for ``paraclear demo``'s report.

The agent market (``paraclear.sim.market``) fills these in; the report
(``paraclear.sim.report``) reads them together with the node's block log. Floats here are
analytics only: nothing in this module enters consensus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Greeks:
    """Summed Greeks of a set of positions: delta in units of the underlying, gamma per
    unit of index squared, vega in USD per 1.0 (100 vol points) of implied vol, theta in
    USD per year, as the risk engine returns them."""

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0


@dataclass(frozen=True)
class TickRecord:
    """One tick of the market: the oracle moved, every agent acted, blocks ran."""

    tick: int
    time: int
    """Block time of the tick, seconds since the epoch (simulated clock)."""
    index: float
    atm_vol: float
    """The oracle's at-the-money implied vol this tick (annual, 0.6 = 60 %)."""
    height: int
    """The chain's height after the tick's blocks."""
    blocks: int
    """Blocks the tick took (more than one when the builder deferred some transactions)."""
    orders: int
    """Order operations the agents sent this tick (place, amend, cancel)."""
    refused: int
    """Of everything the agents sent, how many the node refused at admission."""
    failed: int
    """Included transactions whose receipt carries an error (margin, post-only, ...)."""
    fills: int
    liquidations: int
    backstops: int
    deleverages: int
    insurance_fund: float
    """The insurance fund's balance after the tick, USDC."""
    mm_greeks: Greeks
    """The market makers' books together, after the tick."""
    seconds: float
    """Wall time of the tick."""
    txs: int = 0
    """Transactions in the tick's blocks (oracle, orders, fills, closes, liquidations)."""
    covered: float = 0.0
    """What the insurance fund paid this tick towards bankrupt accounts' deficits, USDC."""


@dataclass
class MarketRun:
    """A finished run: the ticks, the data directory holding its block log, the smiles."""

    seed: int
    accounts: int
    data_dir: Path
    ticks: list[TickRecord] = field(default_factory=list)
    crash_tick: int = -1
    """The tick the crash (jump down with a volatility spike) happened at."""
    smiles: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Implied-vol smile of one expiry, (strike, vol) points: keys "before" and "after"
    (the crash)."""
    smile_expiry: str = ""
    wall_seconds: float = 0.0
    final_root: str = ""
    """Hex state root after the last block."""
    roles: dict[str, int] = field(default_factory=dict)
    """Agents per role (maker, liquidator, vol, directional)."""
    names: dict[str, str] = field(default_factory=dict)
    """Each agent's name (``maker-0``, ``liquidator-0``, ...) and the operator's
    (``oracle``) by account, for reports."""
    errors: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per role (and the oracle), failed or refused requests by error code."""
    stalls: int = 0
    """Times the driver gave up waiting for requests to reach the node (0 in a sound run;
    the run is then not reproducible)."""
    lost: int = 0
    """Requests the API refused before they reached the node (0 in a sound run)."""

    @property
    def orders(self) -> int:
        return sum(tick.orders for tick in self.ticks)

    @property
    def blocks(self) -> int:
        return self.ticks[-1].height if self.ticks else 0

    @property
    def liquidations(self) -> int:
        return sum(tick.liquidations for tick in self.ticks)
