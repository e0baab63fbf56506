"""ERC-4626 share math of the options pool: integers, every rounding in the pool's favour.

An LP deposits USDC for shares and redeems shares for USDC at the pool's net asset value
(NAV). The formulas follow OpenZeppelin's ``ERC4626`` (v4.9 and later), which defends the
first deposit against the inflation ("donation") attack with *virtual* shares and assets::

    shares = assets × (total_shares + VIRTUAL_SHARES) // (nav + VIRTUAL_ASSETS)
    assets = shares × (nav + VIRTUAL_ASSETS) // (total_shares + VIRTUAL_SHARES)

with a decimals offset of 3 (``VIRTUAL_SHARES = 10**3``): an attacker who inflates the NAV
before a victim's deposit loses about a thousand times what the rounding takes from the
victim. Both divisions round down, and the NAV is priced at its exact ceiling for deposits
and its floor for redemptions, so no deposit-then-redeem round trip returns more than it
put in and no deposit lowers the value of a share held by earlier LPs.
"""

from __future__ import annotations

from typing import Final

SHARE_DECIMALS_OFFSET: Final = 3
VIRTUAL_SHARES: Final = 10**SHARE_DECIMALS_OFFSET
"""Shares no one holds, which own part of the NAV (OpenZeppelin's ``10 ** _decimalsOffset``)."""
VIRTUAL_ASSETS: Final = 1
"""Micro-USDC of NAV the virtual shares count on (OpenZeppelin's ``+ 1``)."""
MAX_TOTAL_SHARES: Final = 2**62
"""Most shares that may exist, so that share counts stay 64-bit integers in state."""


def shares_for_deposit(assets: int, total_shares: int, nav_ceil: int) -> int:
    """Shares minted for ``assets`` micro-USDC, rounded down; ``nav_ceil`` ≥ 0."""
    return assets * (total_shares + VIRTUAL_SHARES) // (nav_ceil + VIRTUAL_ASSETS)


def assets_for_redeem(shares: int, total_shares: int, nav_floor: int) -> int:
    """Micro-USDC paid for redeeming ``shares``, rounded down; ``nav_floor`` ≥ 0."""
    return shares * (nav_floor + VIRTUAL_ASSETS) // (total_shares + VIRTUAL_SHARES)
