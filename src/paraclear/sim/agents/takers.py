"""Takers: directional traders and vol traders, who cross the makers' quotes.

Directional traders hold the perpetual at a leverage of their own (2× to 40× of their
equity) in the direction of a signal: momentum or mean reversion of the price since they
last looked, a bias of their own (most lean long, as crypto traders do) and seeded noise.
When they act (a few times an hour each) they read the perpetual's ticker, their account
summary and their position, and trade the difference to their target with an
immediate-or-cancel order; now and then they buy an out-of-the-money option on their view.
The most leveraged longs are the ones a crash liquidates.

Vol traders read the index every tick and keep an exponentially weighted realised vol. When
they act they read the at-the-money call and put of the nearest expiry, back out the
implied vol of their marks (``paraclear.risk.implied_vol_black76``) and buy the straddle
when realised vol is well above implied, sell it when well below (short options need the
most margin, so a vol spike hurts them).
"""

from __future__ import annotations

import math
import random
from typing import Final

import numpy as np

from paraclear.clearing.instruments import Option
from paraclear.clearing.marks import SECONDS_PER_YEAR
from paraclear.clearing.transactions import OrderType, Side
from paraclear.client.envelope import Keypair
from paraclear.numbers import PRICE_SCALE, USDC_SCALE
from paraclear.risk import implied_vol_black76
from paraclear.sim.agents.base import Agent, ceil_to, floor_to, raw_price, raw_size

MINUTES_PER_YEAR: Final = SECONDS_PER_YEAR / 60
LEVERAGES: Final = (2, 3, 5, 8, 10, 12, 15, 20, 25, 30, 40)
SLIPPAGE: Final = 0.004
"""How far through the best price an immediate-or-cancel order may fill."""


class DirectionalTrader(Agent):
    """Trades the perpetual (and sometimes options) on a signal; see the module docstring."""

    role = "directional"

    def __init__(self, name: str, keypair: Keypair, rng: random.Random, deposit: int) -> None:
        super().__init__(name, keypair, rng, deposit)
        self.leverage = rng.choice(LEVERAGES)
        self.momentum = rng.random() < 0.6
        self.bias = rng.gauss(0.6, 0.6)
        self.activity = rng.uniform(0.08, 0.25)
        self.last_price: float | None = None

    async def act(self, tick: int) -> None:
        if self.rng.random() >= self.activity:
            return
        assert self.market is not None
        noise = self.rng.gauss(0.0, 1.0)
        wants_option = self.rng.random() < 0.15
        perp = self.market.perpetual
        ticker = await self.ticker(perp.name)
        price = ticker["mark_price"]
        if price is None:
            return
        move = 0.0 if self.last_price is None else math.log(price / self.last_price) * 200
        self.last_price = price
        signal = self.bias + noise + (move if self.momentum else -move)
        summary = await self.summary()
        equity = float(summary["equity"])
        if equity <= 0:
            return
        if wants_option:
            await self._option_bet(signal, equity, price)
            return
        held = (await self.positions()).get(perp.name, 0.0)
        target = math.copysign(self.leverage * equity / price, signal) * min(abs(signal), 1.0)
        change = target - held
        if abs(change) * price < 0.1 * equity:
            return
        free = float(summary["available_funds"])
        if change * held >= 0:  # adding risk: only as far as the free margin allows
            change = math.copysign(min(abs(change), 25 * max(free, 0.0) / price), change)
        size = floor_to(raw_size(abs(change)), perp.lot_size)
        if size <= 0:
            return
        side = Side.BUY if change > 0 else Side.SELL
        best = ticker["best_ask_price"] if side is Side.BUY else ticker["best_bid_price"]
        if best is None:
            return
        bound = best * (1 + SLIPPAGE) if side is Side.BUY else best * (1 - SLIPPAGE)
        self.place(perp, side, size, _tick_price(bound, perp.tick_size, side), OrderType.IOC)

    async def _option_bet(self, signal: float, equity: float, index: float) -> None:
        """Buy an out-of-the-money call (bullish) or put (bearish) with a bit of equity."""
        assert self.market is not None
        is_call = signal > 0
        candidates = [
            o
            for o in self.market.options
            if o.is_call == is_call
            and (o.strike / PRICE_SCALE > index if is_call else o.strike / PRICE_SCALE < index)
        ]
        if not candidates:
            return
        option = candidates[self.rng.randrange(len(candidates))]
        ticker = await self.ticker(option.name)
        ask = ticker["best_ask_price"]
        if ask is None or ask <= 0:
            return
        contracts = min(0.02 * equity / ask, 1.0)
        size = floor_to(raw_size(contracts), option.lot_size)
        if size <= 0:
            return
        bound = _tick_price(ask * 1.02, option.tick_size, Side.BUY)
        self.place(option, Side.BUY, size, bound, OrderType.IOC)


class VolTrader(Agent):
    """Trades at-the-money straddles on realised against implied vol."""

    role = "vol"

    def __init__(self, name: str, keypair: Keypair, rng: random.Random, deposit: int) -> None:
        super().__init__(name, keypair, rng, deposit)
        self.threshold = rng.uniform(0.1, 0.3)
        self.activity = rng.uniform(0.1, 0.3)
        self.contracts = rng.choice((0.2, 0.5, 1.0))
        self.variance: float | None = None
        self.last_index: float | None = None
        self.seen = 0

    async def act(self, tick: int) -> None:
        index = await self.read_index()
        if self.last_index is not None:
            square = math.log(index / self.last_index) ** 2 * MINUTES_PER_YEAR
            self.variance = square if self.variance is None else 0.9 * self.variance + 0.1 * square
            self.seen += 1
        self.last_index = index
        if self.seen < 5 or self.variance is None or self.rng.random() >= self.activity:
            return
        straddle = self._straddle(index)
        if straddle is None:
            return
        tickers = [await self.ticker(option.name) for option in straddle]
        marks = [t["mark_price"] for t in tickers]
        if any(mark is None or mark <= 0 for mark in marks):
            return
        implied = self._implied(straddle, marks, index, tickers[0]["timestamp"] // 1000)
        realised = math.sqrt(self.variance)
        if realised > implied * (1 + self.threshold):
            side = Side.BUY
        elif realised < implied * (1 - self.threshold):
            side = Side.SELL
        else:
            return
        if side is Side.SELL and not await self._margin_for_short(index):
            return
        for option, ticker in zip(straddle, tickers, strict=True):
            best = ticker["best_ask_price" if side is Side.BUY else "best_bid_price"]
            if best is None:
                continue
            bound = best * (1.02 if side is Side.BUY else 0.98)
            size = floor_to(raw_size(self.contracts), option.lot_size)
            price = _tick_price(bound, option.tick_size, side)
            if price > 0 and size > 0:
                self.place(option, side, size, price, OrderType.IOC)

    def _straddle(self, index: float) -> tuple[Option, Option] | None:
        assert self.market is not None
        near = self.market.expiries[0]
        chain = [o for o in self.market.options if o.expiry == near]
        if not chain:
            return None
        strike = min({o.strike for o in chain}, key=lambda s: abs(s / PRICE_SCALE - index))
        call = next(o for o in chain if o.strike == strike and o.is_call)
        put = next(o for o in chain if o.strike == strike and not o.is_call)
        return call, put

    def _implied(
        self, straddle: tuple[Option, Option], marks: list[float], index: float, time: int
    ) -> float:
        option = straddle[0]
        years = max(option.expiry - time, 60) / SECONDS_PER_YEAR
        strikes = np.array([o.strike / PRICE_SCALE for o in straddle])
        calls = np.array([o.is_call for o in straddle])
        result = implied_vol_black76(np.array(marks), index, strikes, years, 0.0, calls)
        vols = result.vol[result.ok]
        return float(vols.mean()) if vols.size else math.inf

    async def _margin_for_short(self, index: float) -> bool:
        """Whether free margin covers the straddle's short initial margin, with room."""
        summary = await self.summary()
        needed = 2 * 0.25 * index * self.contracts
        return float(summary["available_funds"]) > needed


def _tick_price(value: float, tick: int, side: Side) -> int:
    """A limit price on the tick grid, rounded away from the trade (a buyer's up)."""
    raw = raw_price(value)
    price = ceil_to(raw, tick) if side is Side.BUY else floor_to(raw, tick)
    return max(price, tick)


def deposit_between(rng: random.Random, low: int, high: int) -> int:
    """A deposit in micro-USDC, whole USDC between ``low`` and ``high``."""
    return rng.randrange(low, high) * USDC_SCALE
