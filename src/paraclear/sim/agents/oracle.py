"""The oracle agent and the market's volatility: the index path, the vol regime, the surface.

The index follows ``paraclear.sim.prices.PricePath`` (GBM with rare jumps) at the regime's
at-the-money vol, one step per simulated minute, with a scheduled shake-out (a one-tick dip
half way to the crash) and a scheduled crash: the index falls ``crash_drop`` in
``crash_ticks`` equal steps while the ATM vol doubles and the skew steepens; both decay back
towards calm afterwards.

Each tick the oracle (the house's operator key) publishes one ``OracleUpdate``: the index,
the ATM vol and skew (the marks' linear smile), the perpetual's impact prices measured on
its book as the API shows it, and an SVI surface whose slices follow the same regime::

    w(k) = T (A + B (rho k + sqrt(k^2 + s^2))),  B = 2 atm skew / rho,  A = atm^2 - B s

so that every slice has the regime's ATM vol and skew (the marks' smile is its tangent at
the money), total variance grows with expiry, and the wings are convex. Market makers read
the surface back through the API (``public/get_volatility_surface``) and price from it.
Funding is posted once an hour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from paraclear.clearing.marks import SECONDS_PER_YEAR
from paraclear.clearing.perpetuals import IMPACT_NOTIONAL
from paraclear.clearing.records import SVI_SCALE, SviSlice
from paraclear.clearing.transactions import Funding, OracleUpdate
from paraclear.client.envelope import Keypair
from paraclear.numbers import PPM
from paraclear.sim.agents.base import UNDERLYING, Agent, raw_price, raw_size
from paraclear.sim.impact import impact_price
from paraclear.sim.prices import PricePath

SVI_SIGMA: Final = 0.1
"""The surface's smoothing at the money (log-moneyness)."""
CALM_RHO: Final = -0.5
CRASH_RHO: Final = -0.75
FUNDING_TICKS: Final = 60
"""Funding is paid hourly: every 60 simulated minutes."""
BOOK_DEPTH: Final = 50


@dataclass(frozen=True)
class VolRegime:
    """ATM vol (annual, 0.6 = 60 %), skew (vol per unit of ln(K/F)) and SVI rho."""

    atm: float
    skew: float
    rho: float

    def slice_params(self) -> tuple[float, float, float, float, float]:
        """(A, B, rho, m, s) of the per-year SVI slice ``w(k) / T``."""
        b = 2 * self.atm * self.skew / self.rho
        return self.atm**2 - b * SVI_SIGMA, b, self.rho, 0.0, SVI_SIGMA

    def vols(self, log_moneyness: np.ndarray) -> np.ndarray:
        """Implied vols of the surface (the same for every expiry) at ``ln(K/F)``."""
        a, b, rho, m, s = self.slice_params()
        k = log_moneyness - m
        vols: np.ndarray = np.sqrt(a + b * (rho * k + np.sqrt(k * k + s * s)))
        return vols

    def surface(self, expiries: tuple[int, ...], time: int) -> tuple[SviSlice, ...]:
        """The SVI slices of the live ``expiries`` at ``time``, integers for the chain."""
        a, b, rho, m, s = self.slice_params()
        slices = []
        for expiry in expiries:
            years = (expiry - time) / SECONDS_PER_YEAR
            if years <= 0:
                continue
            slices.append(
                SviSlice(
                    expiry=expiry,
                    a=round(a * years * SVI_SCALE),
                    b=max(round(b * years * SVI_SCALE), 0),
                    rho=round(rho * SVI_SCALE),
                    m=round(m * SVI_SCALE),
                    sigma=round(s * SVI_SCALE),
                )
            )
        return tuple(slices)


@dataclass
class Scenario:
    """The scheduled path: calm, a crash at ``crash_tick`` over ``crash_ticks`` ticks, decay."""

    start_index: float = 60_000.0
    calm: VolRegime = VolRegime(atm=0.6, skew=-0.15, rho=CALM_RHO)
    crash_tick: int = 72
    crash_ticks: int = 3
    crash_drop: float = 0.25
    vol_spike: float = 2.0
    spike_skew: float = -0.45
    decay_ticks: float = 20.0
    """Half-life of the vol spike, in ticks."""
    dip_tick: int = 36
    """A shake-out before the crash: the index drops ``dip_drop`` in one tick (the most
    leveraged longs are liquidated with equity left, and their penalties seed the
    insurance fund that the crash then draws on)."""
    dip_drop: float = 0.035


@dataclass
class IndexPath:
    """The index and vol regime tick by tick, from one seed."""

    scenario: Scenario
    rng: random.Random
    regime: VolRegime = field(init=False)
    path: PricePath = field(init=False)
    spike: float = 0.0
    """How much of the crash's vol spike is left (1 right after it, decaying to 0)."""

    def __post_init__(self) -> None:
        self.regime = self.scenario.calm
        self.path = PricePath(
            self.scenario.start_index,
            self.scenario.calm.atm,
            60 / SECONDS_PER_YEAR,
            self.rng,
            jump_probability=0.002,
            jump_size=-0.02,
        )

    def step(self, tick: int) -> float:
        """Advance to ``tick`` and return the index."""
        s = self.scenario
        crashing = s.crash_tick <= tick < s.crash_tick + s.crash_ticks
        if crashing:
            self.spike = 1.0
        elif tick >= s.crash_tick + s.crash_ticks:
            self.spike *= 0.5 ** (1 / s.decay_ticks)
        calm = s.calm
        atm = calm.atm * (1 + (s.vol_spike - 1) * self.spike)
        skew = calm.skew + (s.spike_skew - calm.skew) * self.spike
        rho = calm.rho + (CRASH_RHO - calm.rho) * self.spike
        self.regime = VolRegime(atm, skew, rho)
        self.path.vol = atm
        price = self.path.step()
        if crashing:
            price *= (1 - s.crash_drop) ** (1 / s.crash_ticks)
        if tick == s.dip_tick and s.dip_tick < s.crash_tick:
            price *= 1 - s.dip_drop
        self.path.price = price
        return price


class OracleAgent(Agent):
    """Publishes the index, the smile, the surface and the perpetual's impact prices."""

    role = "oracle"

    def __init__(self, keypair: Keypair, path: IndexPath, expiries: tuple[int, ...]) -> None:
        super().__init__("oracle", keypair, random.Random(0), 0)
        self.path = path
        self.expiries = expiries
        self.index = path.scenario.start_index
        self.published: tuple[SviSlice, ...] = ()
        self.time = 0
        """Block time of the latest update."""

    async def publish(self, tick: int, time: int) -> None:
        """Fire the tick's oracle update (and funding, hourly) for block time ``time``."""
        if tick >= 0:
            self.index = self.path.step(tick)
        bid, ask = await self._impact_prices() if tick >= 0 else (0, 0)
        regime = self.path.regime
        self.time = time
        self.published = regime.surface(self.expiries, time)
        self.send(
            "oracle",
            OracleUpdate,
            underlying=UNDERLYING,
            index_price=raw_price(self.index),
            atm_vol_ppm=round(regime.atm * PPM),
            skew_ppm=round(regime.skew * PPM),
            impact_bid=bid,
            impact_ask=ask,
            surface=self.published,
        )
        if tick > 0 and (tick + 1) % FUNDING_TICKS == 0:
            self.send("funding", Funding, instrument=f"{UNDERLYING}-PERP")

    async def _impact_prices(self) -> tuple[int, int]:
        """Impact bid and ask of the perpetual's book, or (0, 0) while it is too thin."""
        book = await self.client.call(
            "public/get_order_book", {"instrument_name": f"{UNDERLYING}-PERP", "depth": BOOK_DEPTH}
        )
        bids = [(raw_price(p), raw_size(s)) for p, s in book["bids"]]
        asks = [(raw_price(p), raw_size(s)) for p, s in book["asks"]]
        bid = impact_price(bids, IMPACT_NOTIONAL, is_bid=True)
        ask = impact_price(asks, IMPACT_NOTIONAL, is_bid=False)
        return (bid, ask) if bid and ask and bid <= ask else (0, 0)


def smile(regime: VolRegime, forward: float, strikes: np.ndarray) -> list[tuple[float, float]]:
    """(strike, implied vol) points of the regime's surface (for the report)."""
    vols = regime.vols(np.log(strikes / forward))
    return [(float(k), float(v)) for k, v in zip(strikes, vols, strict=True)]
