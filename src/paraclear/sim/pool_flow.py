"""Options-pool activity for the simulation workload: the pool as contended shared state.

With ``WorkloadConfig.pool_share > 0`` the setup block opens the pool and a few LPs fund it,
every oracle update carries an SVI surface fitted to the oracle's own smile, and that share
of each block's transactions goes to the pool: trades against it (most), LP deposits and
redemptions, and delta hedges sent by the liquidators. Every one of them writes the pool's
one lock, so the more of them a block holds, the longer its chain of conflicts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Final

from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.pool import pool_risk
from paraclear.clearing.records import SVI_SCALE, PoolConfig, PoolQuote, SviSlice
from paraclear.clearing.transactions import (
    ConfigurePool,
    PoolDeposit,
    PoolHedge,
    PoolTrade,
    PoolWithdraw,
    Side,
    Transaction,
)
from paraclear.numbers import USDC_SCALE
from paraclear.state import State, StateView
from paraclear.state import keys as k

POOL_MIX: Final = {"trade": 0.75, "deposit": 0.1, "withdraw": 0.1, "hedge": 0.05}
"""What the pool's share of a block is made of."""
FOUNDING_LPS: Final = 20
FOUNDING_DEPOSIT: Final = 10_000 * USDC_SCALE
SECONDS_PER_YEAR: Final = 365 * 86_400
SVI_RHO: Final = -0.5
SVI_SIGMA: Final = 0.1


def svi_surface(
    atm_vol: float, skew: float, expiries: Sequence[int], time: int
) -> tuple[SviSlice, ...]:
    """SVI slices (m = 0) matching the oracle's smile ``atm_vol + skew × k`` at the money:
    ``w(0) = atm_vol² T`` and ``w'(0) = 2 atm_vol skew T``, for each expiry after ``time``."""
    slices = []
    for expiry in sorted(e for e in expiries if e > time):
        years = (expiry - time) / SECONDS_PER_YEAR
        b = 2 * atm_vol * skew * years / SVI_RHO
        a = atm_vol * atm_vol * years - b * SVI_SIGMA
        raw = (round(x * SVI_SCALE) for x in (a, b, SVI_RHO, 0.0, SVI_SIGMA))
        slices.append(SviSlice(expiry, *raw))
    return tuple(slices)


class PoolFlow:
    """Makes the pool's transactions of a workload, from its random stream and nonces."""

    def __init__(
        self,
        rng: random.Random,
        nonce: Callable[[str], int],
        accounts: Sequence[str],
        keepers: Sequence[str],
    ) -> None:
        self.rng = rng
        self.nonce = nonce
        self.accounts = accounts
        self.keepers = keepers
        self.lps: dict[str, None] = {}
        """Accounts the flow has sent pool deposits for, in first-deposit order."""

    def setup(self, admin: str) -> list[Transaction]:
        """Open the pool and let the first accounts fund it (after their own deposits)."""
        txs: list[Transaction] = [
            ConfigurePool(sender=admin, nonce=self.nonce(admin), config=PoolConfig())
        ]
        for lp in self.accounts[:FOUNDING_LPS]:
            txs.append(self._deposit(lp, FOUNDING_DEPOSIT))
        return txs

    def make(self, view: StateView, live: Sequence[Instrument]) -> Transaction:
        kind = self.rng.choices(list(POOL_MIX), list(POOL_MIX.values()))[0]
        account = self.rng.choice(self.accounts)
        if kind == "deposit" or (kind == "withdraw" and not self.lps):
            return self._deposit(account, self.rng.randrange(1_000, 20_000) * USDC_SCALE)
        if kind == "withdraw":
            account = self.rng.choice(list(self.lps))
            held = view.get_int(k.pool_shares(account))
            shares = max(held // self.rng.randint(1, 4), 1)
            return PoolWithdraw(sender=account, nonce=self.nonce(account), shares=shares)
        if kind == "hedge":
            keeper = self.rng.choice(self.keepers)
            underlying = self.rng.choice(sorted({i.underlying for i in live}))
            return PoolHedge(
                sender=keeper, nonce=self.nonce(keeper), underlying=underlying, max_size=10**9
            )
        return self._trade(view, account, [i for i in live if isinstance(i, Option)])

    def _deposit(self, lp: str, amount: int) -> Transaction:
        self.lps[lp] = None
        return PoolDeposit(sender=lp, nonce=self.nonce(lp), amount=amount)

    def _trade(self, view: StateView, account: str, options: list[Option]) -> Transaction:
        option = self.rng.choice(options)
        quote = view.get(k.quote(option.name))
        theo = quote.theo if isinstance(quote, PoolQuote) else USDC_SCALE
        side = Side.BUY if self.rng.random() < 0.5 else Side.SELL
        limit = 2 * theo + 10 * USDC_SCALE if side is Side.BUY else 0
        return PoolTrade(
            sender=account,
            nonce=self.nonce(account),
            instrument=option.name,
            side=side,
            size=self.rng.randint(1, 5) * option.lot_size,
            limit_price=limit,
        )


def pool_summary(state: State) -> dict[str, object] | None:
    """The pool at the end of a run (USDC figures in micro-USDC); ``None`` if never opened."""
    view = StateView(state.data)
    if view.get(k.POOL_CONFIG) is None:
        return None
    risk = pool_risk(view)
    return {
        "nav": risk.nav_floor,
        "cash": view.get_int(k.collateral(k.POOL_ACCOUNT)),
        "total_shares": view.get_int(k.POOL_TOTAL_SHARES),
        "positions": len(risk.held),
        "volume": view.get_int(k.POOL_VOLUME),
        "spread_earned": view.get_int(k.POOL_SPREAD),
        "greeks": {
            underlying: {"delta": net.delta, "gamma": net.gamma, "vega": net.vega}
            for underlying, net in risk.greeks.items()
        },
    }
