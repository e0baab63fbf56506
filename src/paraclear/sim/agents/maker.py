"""Market makers: two-sided quotes on every option series and the perpetual.

Each tick a maker reads the oracle's index and SVI surface (``public/get_volatility_surface``),
its positions and its open orders through the API, and prices the whole chain at once with
``paraclear.risk`` (the surface's vols, then ``black76_greeks``): theoretical value, delta and
vega per contract. Its book's
Greeks are Σ position × Greeks (the perpetual adds its size to delta).

Quotes: around a reservation price shifted against inventory,

    r = theo − h · clip(Δ/Δmax · δ/|δ|max + V/Vmax · ν/νmax, −1, 1)

(a long-delta book lowers its bids and asks where the option adds delta; a long-vega book
lowers the prices of vega), half-spread ``h`` of a few vol points of vega with a floor of a
tick and a fraction of the premium; post-only, so that makers do not trade with each other
on arrival. A resting quote whose price moved by at least ``requote_ticks`` ticks, or that
was partly filled, is amended (``private/edit``); a filled one is placed again.

Beyond three vega limits a maker stops quoting (cancels) the side that would add to its vega.

Delta hedge: beyond ``hedge_delta`` BTC of book delta the maker sends an immediate-or-cancel
order on the perpetual for most of it, against the book.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from paraclear.clearing.marks import SECONDS_PER_YEAR
from paraclear.clearing.transactions import AmendOrder, OrderType, PlaceOrder, Side
from paraclear.client.envelope import Keypair
from paraclear.numbers import PRICE_SCALE
from paraclear.risk import KernelMode, black76_greeks
from paraclear.risk.surface import VolSurface
from paraclear.risk.svi import SviParams
from paraclear.sim.agents.base import (
    UNDERLYING,
    Agent,
    Answer,
    Market,
    ceil_to,
    floor_to,
    raw_price,
    raw_size,
)
from paraclear.sim.agents.oracle import VolRegime
from paraclear.sim.records import Greeks

VOL_POINT: Final = 0.01
PERP_LEVELS: Final = 3
PERP_STEP: Final = 0.0004
"""Perpetual quotes: levels 4 bp apart from a 3 bp half-spread."""
VEGA_STOP: Final = 3.0
"""Beyond this many vega limits a maker stops quoting the side that adds to its vega."""
REQUOTE_SHARE: Final = 0.1
"""An option quote is amended once its price moved by a tenth of its half-spread."""


@dataclass(frozen=True)
class MakerStyle:
    """One maker's parameters, drawn from its seed."""

    spread_vol_points: float
    quote_contracts: float
    perp_contracts: float
    delta_limit: float
    vega_limit: float
    hedge_delta: float
    requote_ticks: int

    @classmethod
    def draw(cls, rng: random.Random) -> MakerStyle:
        return cls(
            spread_vol_points=rng.uniform(1.0, 2.5),
            quote_contracts=rng.choice((0.5, 1.0, 1.5, 2.0)),
            perp_contracts=rng.choice((1.0, 2.0, 3.0)),
            delta_limit=rng.uniform(8.0, 15.0),
            vega_limit=rng.uniform(10_000.0, 20_000.0),
            hedge_delta=rng.uniform(3.0, 6.0),
            requote_ticks=rng.choice((3, 5, 8)),
        )


@dataclass
class Quote:
    """A resting quote of the maker's: its order nonce, price and open size (raw)."""

    order: int
    price: int
    size: int


def surface_vols(market: Market, surface: dict[str, Any]) -> tuple[np.ndarray, float, int]:
    """Implied vols of every option of ``market`` from ``public/get_volatility_surface``'s
    answer, with its index and time (seconds)."""
    time = surface["timestamp"] // 1000
    index = float(surface["index_price"])
    live = sorted(
        (row["expiration_timestamp"] // 1000, row)
        for row in surface["slices"]
        if row["expiration_timestamp"] // 1000 > time
    )
    options = market.options
    strikes = np.array([o.strike / PRICE_SCALE for o in options])
    years = np.array([max(o.expiry - time, 1) / SECONDS_PER_YEAR for o in options])
    if not live:
        return np.full(len(options), float(surface["atm_vol"])), index, time
    vol_surface = VolSurface(
        tuple((expiry - time) / SECONDS_PER_YEAR for expiry, _ in live),
        tuple(SviParams(r["a"], r["b"], r["rho"], r["m"], r["sigma"]) for _, r in live),
    )
    return vol_surface.implied_vol(strikes, years, index), index, time


def regime_vols(market: Market, regime: VolRegime, index: float) -> np.ndarray:
    """Implied vols of every option of ``market`` in ``regime`` (the oracle's own view)."""
    strikes = np.array([o.strike / PRICE_SCALE for o in market.options])
    return regime.vols(np.log(strikes / index))


def chain_greeks(
    market: Market, vols: np.ndarray, index: float, time: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(theo, delta, gamma, vega, theta) per contract of every option of ``market`` at
    ``vols``, in one vectorised call (vega per 1.00 of vol, theta per year). Strict
    arithmetic: the kernel the pool's quotes use, so a first run compiles one Greeks
    kernel, not two (fast-math saves nothing measurable on a chain of tens of options)."""
    options = market.options
    strikes = np.array([o.strike / PRICE_SCALE for o in options])
    years = np.array([max(o.expiry - time, 1) / SECONDS_PER_YEAR for o in options])
    calls = np.array([o.is_call for o in options])
    g = black76_greeks(index, strikes, years, 0.0, vols, calls, mode=KernelMode.STRICT)
    return g.price, g.delta, g.gamma, g.vega, g.theta


def book_greeks(
    market: Market, vols: np.ndarray, index: float, time: int, held: dict[str, float]
) -> Greeks:
    """The summed Greeks of positions ``held`` (contracts by instrument)."""
    _, delta, gamma, vega, theta = chain_greeks(market, vols, index, time)
    sizes = np.array([held.get(o.name, 0.0) for o in market.options])
    return Greeks(
        delta=float(sizes @ delta) + held.get(market.perpetual.name, 0.0),
        gamma=float(sizes @ gamma),
        vega=float(sizes @ vega),
        theta=float(sizes @ theta),
    )


class MarketMaker(Agent):
    """Quotes the chain and the perpetual; see the module docstring."""

    role = "maker"

    def __init__(self, name: str, keypair: Keypair, rng: random.Random, deposit: int) -> None:
        super().__init__(name, keypair, rng, deposit)
        self.style = MakerStyle.draw(rng)
        self.quotes: dict[tuple[str, Side, int], Quote] = {}
        self.greeks = Greeks()

    async def act(self, tick: int) -> None:
        assert self.market is not None
        surface = await self.client.call("public/get_volatility_surface", {"currency": UNDERLYING})
        held = await self.positions()
        rows = await self.client.call("private/get_open_orders")
        self._forget_closed(rows)
        vols, index, time = surface_vols(self.market, surface)
        theo, delta, _, vega, _ = chain_greeks(self.market, vols, index, time)
        self.greeks = book_greeks(self.market, vols, index, time, held)
        self._quote_options(theo, delta, vega)
        self._quote_perpetual(index)
        self._hedge(index)

    def _forget_closed(self, rows: list[dict[str, Any]]) -> None:
        """Drop quotes that are no longer open; note the open size of the rest."""
        open_sizes = {int(r["order_id"].rpartition("-")[2]): raw_size(r["remaining"]) for r in rows}
        for key, quote in list(self.quotes.items()):
            remaining = open_sizes.get(quote.order)
            if remaining is None:
                del self.quotes[key]
            else:
                quote.size = remaining

    def _quote_options(self, theo: np.ndarray, delta: np.ndarray, vega: np.ndarray) -> None:
        assert self.market is not None
        style = self.style
        skew = np.clip(
            self.greeks.delta / style.delta_limit * delta / max(np.abs(delta).max(), 1e-9)
            + self.greeks.vega / style.vega_limit * vega / max(vega.max(), 1e-9),
            -1.0,
            1.0,
        )
        half = np.maximum(style.spread_vol_points * VOL_POINT * vega, 0.03 * theo)
        reservation = theo - half * skew
        size = raw_size(style.quote_contracts)
        vega_used = self.greeks.vega / style.vega_limit
        sides = {Side.BUY: vega_used < VEGA_STOP, Side.SELL: vega_used > -VEGA_STOP}
        for i, option in enumerate(self.market.options):
            tick = option.tick_size
            half_raw = max(raw_price(half[i]), tick)
            centre = raw_price(reservation[i])
            bid = floor_to(centre - half_raw, tick)
            ask = max(ceil_to(centre + half_raw, tick), bid + tick)
            lot_size = max(floor_to(size, option.lot_size), option.lot_size)
            moved = max(self.style.requote_ticks * tick, raw_price(half[i] * REQUOTE_SHARE))
            for side, price in ((Side.BUY, bid), (Side.SELL, max(ask, tick))):
                if sides[side] and price >= tick:
                    self._keep(option.name, side, 0, price, lot_size, moved)
                else:
                    self._pull(option.name, side)

    def _quote_perpetual(self, index: float) -> None:
        assert self.market is not None
        perp = self.market.perpetual
        lean = np.clip(self.greeks.delta / self.style.delta_limit, -1.0, 1.0) * 0.0005
        centre = index * (1 - lean)
        size = floor_to(raw_size(self.style.perp_contracts), perp.lot_size)
        for level in range(PERP_LEVELS):
            offset = 0.0003 + PERP_STEP * level
            bid = floor_to(raw_price(centre * (1 - offset)), perp.tick_size)
            ask = ceil_to(raw_price(centre * (1 + offset)), perp.tick_size)
            moved = max(self.style.requote_ticks * perp.tick_size, raw_price(index * 0.0001))
            self._keep(perp.name, Side.BUY, level, bid, size, moved)
            self._keep(perp.name, Side.SELL, level, ask, size, moved)

    def _keep(self, name: str, side: Side, level: int, price: int, size: int, moved: int) -> None:
        """Place the quote, or amend the resting one if its price moved by ``moved`` or more
        (raw) or it was partly filled."""
        assert self.market is not None
        key = (name, side, level)
        quote = self.quotes.get(key)
        if quote is None:
            instrument = next(i for i in self.market.instruments if i.name == name)
            order = self.place(instrument, side, size, price, OrderType.POST_ONLY, "quote")
            self.quotes[key] = Quote(order, price, size)
        elif abs(quote.price - price) >= moved or quote.size < size:
            self.amend(quote.order, size, price)
            quote.price, quote.size = price, size

    def _pull(self, name: str, side: Side) -> None:
        """Cancel the resting quote of ``name`` on ``side``, if there is one."""
        quote = self.quotes.pop((name, side, 0), None)
        if quote is not None:
            self.cancel(name, quote.order)

    def _hedge(self, index: float) -> None:
        assert self.market is not None
        excess = self.greeks.delta
        if abs(excess) < self.style.hedge_delta:
            return
        perp = self.market.perpetual
        size = floor_to(raw_size(abs(excess) * 0.8), perp.lot_size)
        if size <= 0:
            return
        side = Side.SELL if excess > 0 else Side.BUY
        bound = index * (0.99 if side is Side.SELL else 1.01)
        price = floor_to(raw_price(bound), perp.tick_size)
        self.place(perp, side, size, price, OrderType.IOC, "hedge")

    def on_answer(self, answer: Answer) -> None:
        """A quote that failed (margin) or closed at once (post-only crossing) is forgotten,
        so that it is placed again next tick."""
        tx = answer.tx
        if isinstance(tx, PlaceOrder) and answer.kind == "quote":
            order = tx.nonce
        elif isinstance(tx, AmendOrder):
            order = tx.order
        else:
            return
        state = (answer.result or {}).get("order", {}).get("order_state")
        if answer.error is not None or state not in (None, "open"):
            for key, quote in list(self.quotes.items()):
                if quote.order == order:
                    del self.quotes[key]
