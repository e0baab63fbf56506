"""Scenario risk arrays: the integer P&L of one contract of every series under a grid.

The grid (Deribit-like, see :data:`DEFAULT_GRID`):

* **regular**: underlying moves of -16, -12, -8, -4, 0, +4, +8, +12, +16 % times three
  volatility states {down, unchanged, up} = 27 scenarios, counted at 100 %;
* **extended**: moves of -50, -33, +33, +50 % times the same three vol states = 12
  scenarios, counted at a cover fraction of 35 % of their loss (CME SPAN's extreme-move
  convention), so that deep out-of-the-money short options still need margin.

Volatility shock. Deribit's published portfolio-margin page
(https://www.deribit.com/pages/docs/portfoliomargin) sizes its implied-vol move by expiry
as ``(30 / days to expiry) ** 0.30 * 38 %``. We use that shape as a *relative* shock with a
cap, ``s(T) = min(1.0, 0.38 * (30 / max(days, 1)) ** 0.30)``, and apply it
multiplicatively: ``vol_up = vol * (1 + s)``, ``vol_down = vol / (1 + s)`` (symmetric in log
vol, never negative). Short-dated options get larger shocks; a 1-day option hits the cap.
Determinism: apart from the Black-76 kernel and the shock size ``s(T)`` (one ``pow``),
every step is a single IEEE operation; results are bit-identical across thread counts
on one platform, and across platforms only as far as their ``exp``/``log``/``erfc``/``pow``
agree. Time does not pass between the mark and the scenarios (no theta), as in SPAN. Vols are
sticky-strike: a series keeps its own mark vol (e.g. from
``surface.VolSurface.implied_vol(strike, expiry, forward)``) under every price move, and
only the vol state shocks it.

Pricing: options are revalued with Black-76 on the forward (the other engineer's
``paraclear.risk.greeks.black76_price`` in :attr:`KernelMode.STRICT`, IEEE, no fast-math,
bit-identical across threads), each scenario moving every forward by the same relative
amount. Perpetuals (and futures) are linear: ``P&L = move * index * contract_size``.

Integers and rounding. ``x = (V_scenario - V_mark) * contract_size * 1e6`` (micro-USDC per
contract, float64) is turned into two ``int64`` arrays, both rounded against their holder::

    long  = floor(x)       short = floor(-x)       so  long + short <= 0  always.

The unshocked scenario reprices with the very inputs of the mark, so it is exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from paraclear.risk.errors import RiskError
from paraclear.risk.greeks import KernelMode, black76_price
from paraclear.risk.portfolio import COVER_SCALE, MICRO_PER_USDC
from paraclear.risk.units import DAYS_PER_YEAR

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Largest float accepted before conversion to int64 micro-USDC (2**62, ~4.6e12 USDC).
MAX_MICRO_PNL: float = float(2**62)


class ScenarioInputError(RiskError, ValueError):
    """Raised on malformed series inputs or a P&L too large for int64 micro-USDC."""


class SeriesKind(IntEnum):
    """Kind of a series, stored as ``int8`` per series."""

    LINEAR = 0  # perpetual or future: P&L linear in the index
    CALL = 1
    PUT = 2


class VolState(IntEnum):
    """Volatility state of a scenario (the exponent applied to ``1 + s``)."""

    DOWN = -1
    SAME = 0
    UP = 1


@dataclass(frozen=True, slots=True)
class VolShock:
    """Expiry-dependent relative vol shock ``s(T) = min(cap, base * (30/days)**exponent)``."""

    base: float = 0.38
    exponent: float = 0.30
    cap: float = 1.0

    def size(self, expiry: FloatArray) -> FloatArray:
        """Relative shock for expiries in years (days floored at 1)."""
        days = np.maximum(np.asarray(expiry, np.float64) * DAYS_PER_YEAR, 1.0)
        return np.minimum(self.cap, self.base * (30.0 / days) ** self.exponent)


@dataclass(frozen=True, slots=True)
class ScenarioGrid:
    """Scenarios as parallel tuples: relative move, vol state and cover fraction (ppm)."""

    moves: tuple[float, ...]
    vol_states: tuple[VolState, ...]
    cover_ppm: tuple[int, ...]
    vol_shock: VolShock = VolShock()

    def __post_init__(self) -> None:
        n = len(self.moves)
        if not (n and len(self.vol_states) == n and len(self.cover_ppm) == n):
            raise ScenarioInputError("moves, vol states and covers need equal, non-zero length")
        if not all(m > -1.0 for m in self.moves):
            raise ScenarioInputError("a move must keep the underlying positive (> -100 %)")
        if not all(0 <= c <= COVER_SCALE for c in self.cover_ppm):
            raise ScenarioInputError("cover fractions must lie in [0, 1_000_000] ppm")

    @classmethod
    def product(
        cls,
        moves: tuple[float, ...],
        extended_moves: tuple[float, ...] = (),
        extended_cover_ppm: int = 350_000,
        vol_shock: VolShock = VolShock(),
    ) -> ScenarioGrid:
        """Every move (then every extended move) times {vol down, same, up}."""
        states = (VolState.DOWN, VolState.SAME, VolState.UP)
        regular = [(m, v, COVER_SCALE) for m in moves for v in states]
        extra = [(m, v, extended_cover_ppm) for m in extended_moves for v in states]
        m, v, c = zip(*(regular + extra), strict=True)
        return cls(tuple(m), tuple(v), tuple(c), vol_shock)

    @property
    def size(self) -> int:
        """Number of scenarios."""
        return len(self.moves)

    def cover_array(self) -> IntArray:
        """Cover fractions as an int64 array, for :mod:`paraclear.risk.portfolio`."""
        return np.array(self.cover_ppm, dtype=np.int64)

    def label(self, scenario: int) -> str:
        """Human-readable name of a scenario, e.g. ``"+16% vol UP (100%)"``."""
        move, state = self.moves[scenario], self.vol_states[scenario]
        cover = self.cover_ppm[scenario] / COVER_SCALE
        return f"{move:+.0%} vol {state.name} ({cover:.0%})"


#: The default grid: 9 regular moves (+-16 %) x 3 vol states, plus +-33 %, +-50 % at 35 %.
DEFAULT_GRID: ScenarioGrid = ScenarioGrid.product(
    moves=(-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16),
    extended_moves=(-0.50, -0.33, 0.33, 0.50),
)


@dataclass(frozen=True, slots=True)
class RiskArrays:
    """Per-series, per-scenario P&L of one contract in micro-USDC.

    Attributes:
        long: ``(n_series, n_scenarios)`` int64, P&L of a long contract, floored.
        short: same shape, P&L of a short contract, floored (``long + short <= 0``).
        grid: the scenarios (columns).
    """

    long: IntArray
    short: IntArray
    grid: ScenarioGrid

    @property
    def cover_ppm(self) -> IntArray:
        """Per-scenario cover fractions, to pass to the portfolio-margin functions."""
        return self.grid.cover_array()


def _as_series(
    kind: npt.ArrayLike, *floats: npt.ArrayLike
) -> tuple[npt.NDArray[np.int8], list[FloatArray]]:
    kinds = np.asarray(kind, dtype=np.int8).reshape(-1)
    arrays = [np.broadcast_to(np.asarray(a, np.float64), kinds.shape) for a in floats]
    if not np.isin(kinds, [int(k) for k in SeriesKind]).all():
        raise ScenarioInputError("series kind must be a SeriesKind code (0, 1, 2)")
    return kinds, arrays


def scenario_pnl_usd(
    kind: npt.ArrayLike,
    underlying: npt.ArrayLike,
    strike: npt.ArrayLike,
    expiry: npt.ArrayLike,
    vol: npt.ArrayLike,
    contract_size: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    grid: ScenarioGrid = DEFAULT_GRID,
) -> FloatArray:
    """Float P&L (USD per contract) of every series under every scenario.

    Args:
        kind: :class:`SeriesKind` code per series.
        underlying: forward (options) or index (linear) price in USD, > 0.
        strike: strike in USD (ignored for linear series).
        expiry: years to expiry (ignored for linear series).
        vol: annual implied vol of the mark (ignored for linear series).
        contract_size: units of underlying per contract (e.g. 1.0 BTC).
        rate: discount rate per year for option prices.
        grid: scenarios.

    Raises:
        ScenarioInputError: on unknown kinds.
        paraclear.risk.errors.InvalidInputError: on invalid option inputs.
    """
    kinds, (f, k, t, v, size, r) = _as_series(
        kind, underlying, strike, expiry, vol, contract_size, rate
    )
    moves = np.asarray(grid.moves)
    out = np.empty((kinds.shape[0], grid.size))
    linear = kinds == SeriesKind.LINEAR
    out[linear] = (f[linear] * size[linear])[:, None] * moves[None, :]
    opt = ~linear
    if opt.any():
        is_call = kinds[opt] == SeriesKind.CALL
        shock = 1.0 + grid.vol_shock.size(t[opt])
        states = np.asarray(grid.vol_states)[None, :]
        base = np.broadcast_to(v[opt][:, None], (len(shock), grid.size))
        # one correctly rounded IEEE operation per state (no pow): v * (1+s), v, v / (1+s)
        vol_scen = np.where(states > 0, base * shock[:, None], base)
        vol_scen = np.where(states < 0, base / shock[:, None], vol_scen)
        f_scen = f[opt][:, None] * (1.0 + moves[None, :])
        args = (k[opt][:, None], t[opt][:, None], r[opt][:, None])
        strict = KernelMode.STRICT
        scen = black76_price(f_scen, *args, vol_scen, is_call[:, None], mode=strict)
        mark = black76_price(f[opt][:, None], *args, v[opt][:, None], is_call[:, None], mode=strict)
        out[opt] = (scen - mark) * size[opt][:, None]
    return out


def risk_arrays(
    kind: npt.ArrayLike,
    underlying: npt.ArrayLike,
    strike: npt.ArrayLike,
    expiry: npt.ArrayLike,
    vol: npt.ArrayLike,
    contract_size: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    grid: ScenarioGrid = DEFAULT_GRID,
) -> RiskArrays:
    """Integer risk arrays of all series at once (see the module docstring for rounding).

    Arguments as in :func:`scenario_pnl_usd`.

    Raises:
        ScenarioInputError: on unknown kinds or a P&L beyond +-2**62 micro-USDC.
        paraclear.risk.errors.InvalidInputError: on invalid option inputs.
    """
    micro = scenario_pnl_usd(kind, underlying, strike, expiry, vol, contract_size, rate, grid)
    micro = micro * float(MICRO_PER_USDC)
    if not np.all(np.abs(micro) < MAX_MICRO_PNL):
        raise ScenarioInputError("scenario P&L is not finite or exceeds 2**62 micro-USDC")
    long = np.floor(micro).astype(np.int64)
    short = np.floor(-micro).astype(np.int64)
    return RiskArrays(long, short, grid)
