"""Seeded index price paths: geometric Brownian motion with rare downward jumps."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass
class PricePath:
    """One underlying's index, stepped once per block.

    ``vol`` is annual; ``jump_probability`` per step, ``jump_size`` the log-return of a jump.
    """

    price: float
    vol: float
    step_years: float
    rng: random.Random
    jump_probability: float = 0.01
    jump_size: float = -0.08

    def step(self) -> float:
        """Advance one step and return the new price."""
        deviation = self.vol * math.sqrt(self.step_years)
        log_return = -0.5 * deviation * deviation + deviation * self.rng.gauss(0.0, 1.0)
        if self.rng.random() < self.jump_probability:
            log_return += self.jump_size
        self.price *= math.exp(log_return)
        return self.price
