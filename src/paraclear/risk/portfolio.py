"""Portfolio margin: exact integer arithmetic over scenario risk arrays.

Inputs come from :mod:`paraclear.risk.scenarios`: for every series ``i`` and scenario ``s``
the P&L of *one contract* in micro-USDC (``int64``), once for a long holder
(``long_pnl``) and once for a short holder (``short_pnl``), each already rounded against
its holder. Positions are signed integer sizes in raw units of ``1e-6`` contract
(:data:`SIZE_SCALE` raw units = one contract); a positive size is long.

For one account and scenario ``s``::

    pnl_s  = floor( sum_i |size_i| * side_pnl_i[s] / SIZE_SCALE )     (micro-USDC)
    loss_s = ceil( max(0, -pnl_s) * cover_s / COVER_SCALE )          (cover in ppm)
    maintenance = max_s loss_s
    initial     = ceil(maintenance * INITIAL_NUMERATOR / INITIAL_DENOMINATOR)

``side_pnl`` is ``long_pnl`` for a positive size and ``short_pnl`` for a negative one.
Every rounding step moves against the account (P&L down, requirements up), so a
requirement is never understated by rounding. ``cover_s`` is 100 % (1,000,000 ppm) for
the regular grid and a fraction for extended ("extreme") moves, as CME SPAN does.

Maintenance margin is the worst scenario loss; initial margin is 1.25x that by default
(our choice, not Deribit's: Deribit's published PM adds contingency terms and uses its own
initial/maintenance ratio; see :class:`MarginPolicy`).

Exactness: ``|size| * pnl`` reaches ``1e12 * 1e12``, far beyond ``int64``. Both functions
run an ``int64`` numba kernel on an account only when its float64 bound
``sum_i |size_i| * max_s |pnl_i[s]|`` is below ``2**62`` (so no partial sum can overflow;
the bound's own rounding error is far smaller than the factor-2 headroom), and recompute
the other accounts with Python integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from paraclear.risk.errors import RiskError

IntArray = npt.NDArray[np.int64]

#: Raw size units per contract (sizes are in 1e-6 contract).
SIZE_SCALE: int = 1_000_000
#: Micro-USDC per USDC.
MICRO_PER_USDC: int = 1_000_000
#: Cover fractions are in parts per million; this is 100 %.
COVER_SCALE: int = 1_000_000
#: Below this float64 bound on ``sum |size * pnl|`` the int64 kernel is exact.
INT64_SAFE_BOUND: float = float(2**62)
#: ``worst_at`` returned by the int64 kernel when its float bound says int64 could overflow.
_UNSAFE: int = -2


class PortfolioInputError(RiskError, ValueError):
    """Raised when sizes, risk arrays or cover fractions have wrong shapes, types or ranges."""


@dataclass(frozen=True, slots=True)
class MarginPolicy:
    """How initial margin derives from maintenance margin: ``ceil(mm * num / den)``."""

    initial_numerator: int = 5
    initial_denominator: int = 4

    def initial_from(self, maintenance: int) -> int:
        """Initial margin (micro-USDC) for a maintenance margin (micro-USDC), rounded up."""
        return -((-maintenance * self.initial_numerator) // self.initial_denominator)


DEFAULT_POLICY = MarginPolicy()


@dataclass(frozen=True, slots=True)
class MarginRequirement:
    """Margin of one account in micro-USDC (both >= 0, ``initial >= maintenance``).

    Attributes:
        initial: required to open or increase positions.
        maintenance: below this equity the account is liquidatable.
        worst_scenario: index of the scenario that set ``maintenance`` (-1 if no loss).
    """

    initial: int
    maintenance: int
    worst_scenario: int


def _full_cover(n_scenarios: int) -> IntArray:
    return np.full(n_scenarios, COVER_SCALE, dtype=np.int64)


def _risk_arrays(
    long_pnl: IntArray, short_pnl: IntArray, cover_ppm: IntArray | None
) -> tuple[IntArray, IntArray, IntArray]:
    """The risk arrays and cover fractions as arrays (full cover by default), checked."""
    long_pnl, short_pnl = np.asarray(long_pnl), np.asarray(short_pnl)
    cover = _full_cover(long_pnl.shape[-1]) if cover_ppm is None else np.asarray(cover_ppm)
    if long_pnl.dtype != np.int64 or short_pnl.dtype != np.int64:
        raise PortfolioInputError("risk arrays must be int64 micro-USDC")
    if long_pnl.shape != short_pnl.shape or long_pnl.ndim != 2:
        raise PortfolioInputError(f"risk arrays differ: {long_pnl.shape} vs {short_pnl.shape}")
    if cover.dtype != np.int64 or cover.shape != (long_pnl.shape[1],):
        raise PortfolioInputError("cover_ppm needs one int64 entry per scenario")
    if not _covers_in_range(cover):
        raise PortfolioInputError("cover fractions must lie in [0, 1_000_000] ppm")
    return long_pnl, short_pnl, cover


@numba.njit(cache=True, nogil=True)
def _covers_in_range(cover: IntArray) -> bool:  # pragma: no cover - compiled
    """Whether every cover fraction lies in ``[0, COVER_SCALE]`` (a loop: no temporaries)."""
    for c in cover:  # noqa: SIM110 - numba compiles loops, not generator expressions
        if c < 0 or c > COVER_SCALE:
            return False
    return True


def portfolio_margin(
    sizes: Sequence[int] | IntArray,
    long_pnl: IntArray,
    short_pnl: IntArray,
    cover_ppm: IntArray | None = None,
    policy: MarginPolicy = DEFAULT_POLICY,
) -> MarginRequirement:
    """Exact margin of one account from its positions' risk-array rows.

    Args:
        sizes: signed raw sizes (1e-6 contract), one per position.
        long_pnl: ``(n_positions, n_scenarios)`` int64, micro-USDC per contract held long.
        short_pnl: same shape, micro-USDC per contract held short.
        cover_ppm: per-scenario fraction of the loss that counts (default all 100 %).
        policy: initial-from-maintenance rule.

    Raises:
        PortfolioInputError: on mismatched shapes, non-int64 arrays or covers out of range.

    Half a contract long (500,000 raw) of a series losing 3 USDC per contract in its
    worst scenario needs 1.5 USDC maintenance and 1.875 USDC initial margin:

    >>> pnl = np.array([[-3_000_000, 0, 2_000_000]], dtype=np.int64)
    >>> portfolio_margin([500_000], pnl, -pnl)
    MarginRequirement(initial=1875000, maintenance=1500000, worst_scenario=0)
    """
    long_pnl, short_pnl, cover = _risk_arrays(long_pnl, short_pnl, cover_ppm)
    size_list = [int(s) for s in sizes]
    if len(size_list) != long_pnl.shape[0]:
        raise PortfolioInputError("need one size per risk-array row")
    worst, worst_at = -1, _UNSAFE
    if all(-(2**63) < s < 2**63 for s in size_list):
        rows = np.arange(len(size_list))
        worst, worst_at = _account_worst(
            np.array(size_list, dtype=np.int64), rows, long_pnl, short_pnl, cover
        )
    if worst_at == _UNSAFE:
        worst, worst_at = _account_worst_exact(size_list, long_pnl, short_pnl, cover)
    return MarginRequirement(policy.initial_from(worst), worst, worst_at)


def _account_worst_exact(
    sizes: list[int], long_pnl: IntArray, short_pnl: IntArray, cover: IntArray
) -> tuple[int, int]:
    """Worst covered loss and its scenario with Python integers (any magnitude)."""
    rows = [
        (abs(s), (long_pnl[i] if s > 0 else short_pnl[i]).tolist())
        for i, s in enumerate(sizes)
        if s != 0
    ]
    totals = [sum(q * row[s] for q, row in rows) for s in range(len(cover))]
    return worst_covered_loss(totals, cover.tolist())


def worst_covered_loss(totals: Sequence[int], cover: Sequence[int]) -> tuple[int, int]:
    """Worst covered loss (micro-USDC) and its scenario, from per-scenario totals
    ``Σ |size_raw| × side_pnl[s]`` (not yet divided by ``SIZE_SCALE``), in Python integers.

    Totals are additive over positions, so a caller may keep them up to date incrementally.
    """
    worst, worst_at = 0, -1
    for s, c in enumerate(cover):
        total = totals[s] // SIZE_SCALE
        loss = -((total * c) // COVER_SCALE) if total < 0 else 0
        if loss > worst:
            worst, worst_at = loss, s
    return worst, worst_at


@numba.njit(cache=True, nogil=True)
def _account_worst(
    sizes: IntArray, rows: IntArray, long_pnl: IntArray, short_pnl: IntArray, cover: IntArray
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Worst covered loss and its scenario in int64 for positions ``sizes[j]`` in series
    ``rows[j]``, or ``(-1, _UNSAFE)`` when the float64 bound ``sum |size| * max |pnl|``
    reaches ``INT64_SAFE_BOUND`` (then nothing is trusted)."""
    n_scen = long_pnl.shape[1]
    bound = 0.0
    for j in range(sizes.shape[0]):
        q, i = sizes[j], rows[j]
        if q != 0:
            row = long_pnl[i] if q > 0 else short_pnl[i]
            peak = 0.0
            for s in range(n_scen):
                peak = max(peak, abs(float(row[s])))
            bound += abs(float(q)) * peak
    if not bound < INT64_SAFE_BOUND:
        return -1, _UNSAFE
    totals = np.zeros(n_scen, dtype=np.int64)
    for j in range(sizes.shape[0]):
        q, i = sizes[j], rows[j]
        if q != 0:
            row = long_pnl[i] if q > 0 else short_pnl[i]
            qa = q if q > 0 else -q
            for s in range(n_scen):
                totals[s] += qa * row[s]
    worst, worst_at = 0, -1
    for s in range(n_scen):
        total = totals[s] // SIZE_SCALE
        if total < 0:
            loss = -((total * cover[s]) // COVER_SCALE)
            if loss > worst:
                worst, worst_at = loss, s
    return worst, worst_at


@numba.njit(cache=True, parallel=True, nogil=True)
def _worst_losses_int64(
    sizes: IntArray, long_pnl: IntArray, short_pnl: IntArray, cover: IntArray
) -> tuple[IntArray, IntArray]:  # pragma: no cover - compiled
    n_acc = sizes.shape[0]
    rows = np.arange(sizes.shape[1])
    worst = np.zeros(n_acc, dtype=np.int64)
    worst_at = np.zeros(n_acc, dtype=np.int64)
    for a in numba.prange(n_acc):
        worst[a], worst_at[a] = _account_worst(sizes[a], rows, long_pnl, short_pnl, cover)
    return worst, worst_at


@numba.njit(cache=True, parallel=True, nogil=True)
def _worst_losses_csr(
    indptr: IntArray, series: IntArray, sizes: IntArray,
    long_pnl: IntArray, short_pnl: IntArray, cover: IntArray,
) -> tuple[IntArray, IntArray]:  # pragma: no cover - compiled  # fmt: skip
    n_acc = indptr.shape[0] - 1
    worst = np.zeros(n_acc, dtype=np.int64)
    worst_at = np.zeros(n_acc, dtype=np.int64)
    for a in numba.prange(n_acc):
        lo, hi = indptr[a], indptr[a + 1]
        worst[a], worst_at[a] = _account_worst(
            sizes[lo:hi], series[lo:hi], long_pnl, short_pnl, cover
        )
    return worst, worst_at


def portfolio_margins(
    sizes: IntArray,
    long_pnl: IntArray,
    short_pnl: IntArray,
    cover_ppm: IntArray | None = None,
    policy: MarginPolicy = DEFAULT_POLICY,
) -> tuple[IntArray, IntArray]:
    """Exact ``(initial, maintenance)`` margins of many accounts, for the liquidation scan.

    Args:
        sizes: ``(n_accounts, n_series)`` int64 signed raw sizes over all series.
        long_pnl, short_pnl, cover_ppm, policy: as in :func:`portfolio_margin`, with
            ``n_series`` rows.

    Returns:
        Two int64 arrays of length ``n_accounts`` in micro-USDC, identical to calling
        :func:`portfolio_margin` per account.

    Raises:
        PortfolioInputError: on bad shapes or types, or a margin that does not fit int64.
    """
    sizes = np.asarray(sizes)
    long_pnl, short_pnl, cover = _risk_arrays(long_pnl, short_pnl, cover_ppm)
    if sizes.dtype != np.int64 or sizes.ndim != 2 or sizes.shape[1] != long_pnl.shape[0]:
        raise PortfolioInputError("sizes must be int64 of shape (n_accounts, n_series)")
    maintenance, worst_at = _worst_losses_int64(sizes, long_pnl, short_pnl, cover)
    for a in np.flatnonzero(worst_at == _UNSAFE).tolist():
        held = np.flatnonzero(sizes[a])
        maintenance[a] = _exact_int64(a, sizes[a, held], held, long_pnl, short_pnl, cover)
    return _initial_margins(maintenance, policy), maintenance


def portfolio_margins_sparse(
    indptr: IntArray,
    series: IntArray,
    sizes: IntArray,
    long_pnl: IntArray,
    short_pnl: IntArray,
    cover_ppm: IntArray | None = None,
    policy: MarginPolicy = DEFAULT_POLICY,
) -> tuple[IntArray, IntArray]:
    """:func:`portfolio_margins` for positions in compressed-sparse-row form.

    Account ``a`` holds ``sizes[indptr[a]:indptr[a + 1]]`` (signed raw sizes) of the series
    ``series[indptr[a]:indptr[a + 1]]`` (row indices into the risk arrays). The cost follows
    the number of positions, not ``n_accounts * n_series``.

    Raises:
        PortfolioInputError: on bad shapes, types or indices, or a margin beyond int64.
    """
    indptr, series, sizes = np.asarray(indptr), np.asarray(series), np.asarray(sizes)
    long_pnl, short_pnl, cover = _risk_arrays(long_pnl, short_pnl, cover_ppm)
    if any(x.dtype != np.int64 or x.ndim != 1 for x in (indptr, series, sizes)):
        raise PortfolioInputError("indptr, series and sizes must be 1-D int64 arrays")
    n = len(sizes)
    if len(series) != n or len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != n:
        raise PortfolioInputError("need len(series) == len(sizes) == indptr[-1], indptr[0] == 0")
    if np.any(np.diff(indptr) < 0) or np.any((series < 0) | (series >= long_pnl.shape[0])):
        raise PortfolioInputError("indptr must be non-decreasing and series valid row indices")
    maintenance, worst_at = _worst_losses_csr(indptr, series, sizes, long_pnl, short_pnl, cover)
    for a in np.flatnonzero(worst_at == _UNSAFE).tolist():
        part = slice(indptr[a], indptr[a + 1])
        maintenance[a] = _exact_int64(a, sizes[part], series[part], long_pnl, short_pnl, cover)
    return _initial_margins(maintenance, policy), maintenance


def _exact_int64(
    account: int, sizes: IntArray, rows: IntArray,
    long_pnl: IntArray, short_pnl: IntArray, cover: IntArray,
) -> int:  # fmt: skip
    """Exact worst loss of one account (Python ints), checked to fit int64."""
    exact, _ = _account_worst_exact(sizes.tolist(), long_pnl[rows], short_pnl[rows], cover)
    if exact >= 2**63:
        raise PortfolioInputError(f"margin of account {account} exceeds int64: {exact}")
    return exact


def _initial_margins(maintenance: IntArray, policy: MarginPolicy) -> IntArray:
    """``policy.initial_from`` over an array, in int64 when that cannot overflow."""
    top = int(maintenance.max(initial=0))
    if top * policy.initial_numerator < 2**63:
        num, den = policy.initial_numerator, policy.initial_denominator
        return np.asarray(-((-maintenance * num) // den), dtype=np.int64)
    initial = [policy.initial_from(int(m)) for m in maintenance.tolist()]
    if max(initial) >= 2**63:
        raise PortfolioInputError(f"initial margin exceeds int64: {max(initial)}")
    return np.array(initial, dtype=np.int64)
