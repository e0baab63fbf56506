"""The warm-up steps and the steps each command needs (see :mod:`paraclear.warmup`).

A step runs one area's kernels on tiny inputs through the same public functions that real
work calls, so that the argument types are the real ones. A step may have **parts**: kernels
it calls, compiled ahead on a cold cache by other processes, which the step then loads from
the kernel cache instead of compiling them itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np


def _state_tree() -> None:
    from paraclear.state.compiled import warm

    warm()


def _schedule() -> None:
    from paraclear.execution import plan_block

    plan_block([], 1, lambda lock: 0)


def _clearing_kernels() -> None:
    """The compiled engine's order-flow kernels."""
    from paraclear.clearing import ClearingMachine

    runner = ClearingMachine(engine="compiled").batch_runner
    assert runner is not None
    runner.warm_up()


def _clearing_part(part: str) -> Callable[[], None]:
    """The transaction kernels of ``run_orders`` in ``clearing.kernels.ahead.PARTS[part]``."""

    def run() -> None:
        from paraclear.clearing.kernels.ahead import compile_part

        compile_part(part)

    return run


_STRIKES: Final = np.array([90.0, 100.0, 110.0])
_CALLS: Final = np.array([True, False, True])
_EXPIRIES: Final = np.array([0.25, 0.25, 0.0])
"""The last option has expired: the fast kernel's second pass (limits) runs too."""


def _marks() -> None:
    """The oracle update's strict prices and risk arrays."""
    from paraclear.risk import risk_arrays
    from paraclear.risk.greeks import KernelMode, black76_price

    black76_price(100.0, _STRIKES, 0.25, 0.0, 0.5, _CALLS, mode=KernelMode.STRICT)
    risk_arrays([1, 2, 0], 100.0, [90.0, 110.0, 0.0], 0.25, 0.5, 1.0)


def _greeks() -> None:
    """Strict Greeks (the pool's quotes, the market makers' books)."""
    from paraclear.risk.greeks import KernelMode, black76_greeks

    black76_greeks(100.0, _STRIKES, 0.25, 0.0, 0.5, _CALLS, mode=KernelMode.STRICT)


def _fast_greeks() -> None:
    """Fast-math Greeks (analytics: ``paraclear bench risk``)."""
    from paraclear.risk.greeks import KernelMode, black76_greeks

    black76_greeks(100.0, _STRIKES, _EXPIRIES, 0.0, 0.5, _CALLS, mode=KernelMode.FAST)


def _implied_vol() -> None:
    from paraclear.risk import implied_vol_black76

    implied_vol_black76(np.array([11.0, 2.0, 1.5]), 100.0, _STRIKES, 0.25, 0.0, _CALLS)


def _large_batches() -> None:
    """The parallel compilations of the risk kernels (batches of ``PARALLEL_MIN`` or more)."""
    from paraclear.risk import implied_vol_black76
    from paraclear.risk._threading import PARALLEL_MIN
    from paraclear.risk.greeks import KernelMode, black76_greeks, black76_price

    strikes, expiries, calls = (np.resize(a, PARALLEL_MIN) for a in (_STRIKES, _EXPIRIES, _CALLS))
    black76_price(100.0, strikes, 0.25, 0.0, 0.5, calls, mode=KernelMode.STRICT)
    for mode in KernelMode:
        black76_greeks(100.0, strikes, expiries, 0.0, 0.5, calls, mode=mode)
    implied_vol_black76(np.resize([11.0, 2.0, 1.5], PARALLEL_MIN), 100.0, strikes, 0.25, 0.0, calls)


def _portfolio_margin() -> None:
    """Portfolio margin of one account and of many (the liquidation scan)."""
    from paraclear.risk.portfolio import (
        portfolio_margin,
        portfolio_margins,
        portfolio_margins_sparse,
    )

    pnl = np.array([[-3_000_000, 0, 2_000_000]], dtype=np.int64)
    portfolio_margin([500_000], pnl, -pnl)
    portfolio_margins(np.array([[500_000]], dtype=np.int64), pnl, -pnl)
    one = np.array([0, 1], dtype=np.int64)
    portfolio_margins_sparse(one, one[:1], np.array([500_000], dtype=np.int64), pnl, -pnl)


def _monte_carlo() -> None:
    from paraclear.risk import GbmModel, simulate_features, simulate_gbm_paths

    model = GbmModel(spot=100.0, rate=0.0, dividend=0.0, vol=0.5)
    simulate_features(model, 0.25, 2, 4, seed=1, block_size=4)
    simulate_gbm_paths(model, 0.25, 2, 4, seed=1, block_size=4)


def _exact_arithmetic() -> None:
    """The exact int64 arithmetic (``paraclear.int128``) that compiled kernels call."""
    from paraclear.int128 import warm

    warm()


STEPS: Final[dict[str, Callable[[], None]]] = {
    "state tree": _state_tree,
    "block schedule": _schedule,
    "clearing kernels": _clearing_kernels,
    "marks": _marks,
    "greeks": _greeks,
    "fast greeks": _fast_greeks,
    "implied vol": _implied_vol,
    "risk, large batches": _large_batches,
    "portfolio margin": _portfolio_margin,
    "monte carlo": _monte_carlo,
    "exact arithmetic": _exact_arithmetic,
}
"""Every step by name, in the order they run."""


def _row_encoders() -> None:
    """The compiled engine's encoders of its rows for the commit."""
    from paraclear.clearing.kernels.hashed import warm

    warm()


_TRANSACTION_PARTS: Final = {
    f"clearing kernels: {part}": _clearing_part(part)
    for part in ("margin", "orders", "fills", "funds")
}
PARTS: Final[dict[str, Callable[[], None]]] = {
    **_TRANSACTION_PARTS,
    "clearing kernels: commit": _row_encoders,
}
"""Parts of steps, compiled ahead only on a cold cache (a part's name starts with its step's)."""

NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "clearing kernels": tuple(PARTS),
    **{part: ("clearing kernels: margin",) for part in tuple(_TRANSACTION_PARTS)[1:]},
}
"""What a step or part waits for on a cold cache (the margin check that every transaction
kernel calls is compiled once, first)."""

WEIGHTS: Final[dict[str, float]] = {
    "state tree": 8.9,
    "block schedule": 7.0,
    "clearing kernels": 2.0,
    "clearing kernels: margin": 4.9,
    "clearing kernels: orders": 3.7,
    "clearing kernels: fills": 3.2,
    "clearing kernels: funds": 1.8,
    "clearing kernels: commit": 3.0,
    "marks": 0.4,
    "greeks": 0.8,
    "fast greeks": 2.7,
    "implied vol": 2.5,
    "risk, large batches": 14.9,
    "portfolio margin": 4.8,
    "monte carlo": 1.8,
    "exact arithmetic": 1.5,
}
"""CPU seconds to compile each step and part on a cold cache (``paraclear warmup --json
--processes 1`` on the 2-core development machine): the order in which processes claim
them (``warmup_claims``). Only the order depends on them."""

_NODE: Final = ("state tree", "block schedule", "clearing kernels", "marks", "greeks")
COMMANDS: Final[dict[str, tuple[str, ...]]] = {
    "demo": (*_NODE, "implied vol"),
    "serve": _NODE,
    "replay": _NODE,
    "simulate": ("state tree", "clearing kernels", "marks"),
    "all": tuple(STEPS),
}
"""The steps each command needs: the node's (commit, schedule, the compiled engine, the
oracle update's marks and the pool's quotes), plus the agents' analytics in the demo. The
simulation's depend on its options (``cli.simulate.warmup_steps``); this is its default."""
