"""ConfigurePool, PoolDeposit, PoolWithdraw: opening the options pool and LP share flows.

An LP transaction names two account locks, the LP's and the pool's (the one hot lock of
the pool), and reads market data; share prices follow ``paraclear.clearing.pool_shares``.
"""

from __future__ import annotations

from typing import Final

import msgspec

from paraclear.clearing import errors
from paraclear.clearing.accounts import change_cash
from paraclear.clearing.events import Event, PoolConfigured, PoolDeposited, PoolWithdrawn
from paraclear.clearing.handlers.common import MARKET_READS, account_access
from paraclear.clearing.handlers.funds import debit_free_collateral
from paraclear.clearing.handlers.market import require_role
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.pool import POOL, check_limits, pool_risk, read_pool_config
from paraclear.clearing.pool_shares import (
    MAX_TOTAL_SHARES,
    assets_for_redeem,
    shares_for_deposit,
)
from paraclear.clearing.records import PoolConfig
from paraclear.clearing.transactions import ConfigurePool, PoolDeposit, PoolWithdraw
from paraclear.execution import BlockContext
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k

POOL_READS: Final = (*MARKET_READS, k.POOL_CONFIG, k.QUOTE_LOCK)
"""What every pool transaction reads: market data, the pool's parameters and its quotes."""


def access_configure_pool(tx: ConfigurePool) -> AccessSet:
    return account_access((tx.sender,), reads=(k.CONFIG,), writes=(k.POOL_CONFIG,))


def apply_configure_pool(
    tx: ConfigurePool, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    require_role(view, tx.sender, "admin")
    try:  # a rejected configuration never enters a block; if one does, it must not stick
        msgspec.convert(msgspec.to_builtins(tx.config), PoolConfig)
    except msgspec.ValidationError as error:
        raise errors.Malformed(field="config", reason=str(error)) from None
    view.set(k.POOL_CONFIG, tx.config)
    return [PoolConfigured()]


def access_pool_deposit(tx: PoolDeposit) -> AccessSet:
    return account_access((tx.sender, POOL), reads=POOL_READS)


def apply_pool_deposit(
    tx: PoolDeposit, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Mint shares for the deposit at the NAV's ceiling (rounded down), from free collateral."""
    read_pool_config(view)
    risk = pool_risk(view)
    if risk.nav_floor < 0:
        raise errors.PoolInsolvent(nav=risk.nav_floor)
    total = view.get_int(k.POOL_TOTAL_SHARES)
    shares = shares_for_deposit(tx.amount, total, risk.nav_ceil)
    if shares == 0:
        raise errors.PoolDepositTooSmall(amount=tx.amount)
    if shares < tx.min_shares:
        raise errors.PoolSlippage(minimum=tx.min_shares, actual=shares)
    if total + shares > MAX_TOTAL_SHARES:
        raise errors.ShareLimit(total=total + shares, limit=MAX_TOTAL_SHARES)
    debit_free_collateral(view, tx.sender, tx.amount, model)
    change_cash(view, POOL, tx.amount)
    view.set(k.pool_shares(tx.sender), view.get_int(k.pool_shares(tx.sender)) + shares)
    view.set(k.POOL_TOTAL_SHARES, total + shares)
    return [
        PoolDeposited(
            account=tx.sender,
            amount=tx.amount,
            shares=shares,
            nav=risk.nav_ceil,
            total_shares=total + shares,
        )
    ]


def access_pool_withdraw(tx: PoolWithdraw) -> AccessSet:
    return account_access((tx.sender, POOL), reads=POOL_READS)


def apply_pool_withdraw(
    tx: PoolWithdraw, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    """Pay the shares' value at the NAV's floor (rounded down) from the pool's cash, as long
    as the pool stays within every risk limit afterwards."""
    config = read_pool_config(view)
    held = view.get_int(k.pool_shares(tx.sender))
    if tx.shares > held:
        raise errors.InsufficientShares(account=tx.sender, held=held, requested=tx.shares)
    risk = pool_risk(view)
    if risk.nav_floor <= 0:
        raise errors.PoolInsolvent(nav=risk.nav_floor)
    total = view.get_int(k.POOL_TOTAL_SHARES)
    amount = assets_for_redeem(tx.shares, total, risk.nav_floor)
    if amount == 0:
        raise errors.PoolRedeemTooSmall(shares=tx.shares)
    if amount < tx.min_amount:
        raise errors.PoolSlippage(minimum=tx.min_amount, actual=amount)
    check_limits(config, model, risk.less_cash(amount))
    change_cash(view, POOL, -amount)
    balance = change_cash(view, tx.sender, amount)
    if balance >= 0 and view.get(k.bankruptcy(tx.sender)) is not None:
        view.set(k.bankruptcy(tx.sender), None)
    view.set(k.pool_shares(tx.sender), held - tx.shares)
    view.set(k.POOL_TOTAL_SHARES, total - tx.shares)
    return [
        PoolWithdrawn(
            account=tx.sender,
            shares=tx.shares,
            amount=amount,
            nav=risk.nav_floor,
            total_shares=total - tx.shares,
        )
    ]
