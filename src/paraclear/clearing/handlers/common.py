"""Access-set building blocks shared by the handlers."""

from __future__ import annotations

from typing import Final

from paraclear.state import AccessSet, Lock
from paraclear.state import keys as k

MARKET_READS: Final[frozenset[Lock]] = frozenset(k.MARKET_LOCKS)
"""One shared set object: every access set that reads the market reuses it (and its hash)."""
FEE_POOL_LOCK: Final[Lock] = k.lock_of(k.FEE_POOL)


def account_access(
    accounts: tuple[str, ...],
    *,
    reads: frozenset[Lock] | tuple[Lock, ...] = (),
    writes: tuple[Lock, ...] = (),
    deltas: tuple[Lock, ...] = (),
) -> AccessSet:
    """Write locks on ``accounts`` (the sender first), plus the fee pool as a delta."""
    return AccessSet(
        reads=reads,
        writes=[k.account_lock(account) for account in accounts] + list(writes),
        deltas=(FEE_POOL_LOCK, *deltas),
    )
