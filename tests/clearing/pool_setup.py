"""Set-ups for options-pool tests: an exchange with an SVI surface, an open pool, LP money."""

from __future__ import annotations

from typing import Any

from paraclear.clearing.pool import POOL, PoolRisk, pool_risk
from paraclear.clearing.records import SVI_SCALE, PoolConfig, SviSlice
from paraclear.clearing.transactions import (
    ConfigurePool,
    OracleUpdate,
    PoolDeposit,
    PoolHedge,
    PoolTrade,
    PoolWithdraw,
    Side,
)
from paraclear.execution import Receipt
from paraclear.state import StateView
from paraclear.state import keys as k

from .harness import EXPIRY, Exchange, usd


def svi(a: float = 0.02, b: float = 0.05, rho: float = -0.3, m: float = 0.0, sigma: float = 0.1):
    """One BTC slice at the harness's expiry (ATM vol about 60 %)."""
    raw = (round(x * SVI_SCALE) for x in (a, b, rho, m, sigma))
    return SviSlice(EXPIRY, *raw)


SURFACE = (svi(),)


class PoolExchange(Exchange):
    """The harness exchange with pool helpers."""

    def surface(self, index: float = 60_000, surface=SURFACE, vol_ppm: int = 600_000) -> Receipt:
        return self.run(
            OracleUpdate,
            "oracle",
            underlying="BTC",
            index_price=usd(index),
            atm_vol_ppm=vol_ppm,
            surface=surface,
        )

    def open_pool(self, config: PoolConfig | None = None) -> PoolExchange:
        self.ok(ConfigurePool, "admin", config=config or PoolConfig())
        return self

    def deposit(self, lp: str, amount: float, **fields: Any) -> Receipt:
        return self.ok(PoolDeposit, lp, amount=usd(amount), **fields)

    def redeem(self, lp: str, shares: int, **fields: Any) -> Receipt:
        return self.ok(PoolWithdraw, lp, shares=shares, **fields)

    def pool_trade(self, trader, inst, side: Side, size: int, limit=None, code=None) -> Receipt:
        if limit is None:
            limit = usd(1_000_000) if side is Side.BUY else 0
        fields = dict(instrument=inst.name, side=side, size=size, limit_price=limit)
        if code:
            return self.fails(PoolTrade, trader, code, **fields)
        return self.ok(PoolTrade, trader, **fields)

    def hedge(self, sender: str, max_size: int, code=None) -> Receipt:
        if code:
            return self.fails(PoolHedge, sender, code, underlying="BTC", max_size=max_size)
        return self.ok(PoolHedge, sender, underlying="BTC", max_size=max_size)

    def shares(self, account: str) -> int:
        return self.get(k.pool_shares(account)) or 0

    def total_shares(self) -> int:
        return self.get(k.POOL_TOTAL_SHARES) or 0

    def risk(self) -> PoolRisk:
        return pool_risk(StateView(self.state.data))

    def pool_cash(self) -> int:
        return self.collateral(POOL)


def pool_exchange(config: PoolConfig | None = None, **funds: float) -> PoolExchange:
    """BTC market with the SVI surface, the pool open, and ``funds`` deposited."""
    ex = PoolExchange().market()
    ex.surface()
    ex.open_pool(config)
    if funds:
        ex.fund(**funds)
    return ex
