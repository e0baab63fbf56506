"""Reproducible, parallel GBM path generation for Monte Carlo.

Random streams: the paths are cut into fixed-size *blocks* (``block_size`` paths, default
4096). Block ``b`` draws its normals from ``Generator(Philox(SeedSequence(seed).spawn(..)[b]))``
— child ``b`` of the seed's ``SeedSequence`` — so a path's normals depend only on
``(seed, block_size, its index)``: never on the thread count, the backend, or how many
blocks are generated together. Kernels run in parallel over paths and write per-path
results in place; every reduction happens afterwards in path order, so results are
bit-identical for any number of numba threads.

Antithetic pairs are interleaved: paths ``2i`` and ``2i + 1`` use ``Z`` and ``-Z``.

The model is geometric Brownian motion under the pricing measure::

    S(t + dt) = S(t) * exp((r - q - vol**2 / 2) dt + vol sqrt(dt) Z)

Per path the feature kernel returns, over the monitoring dates ``t_1 .. t_n`` (equally
spaced, ``t_n = expiry``; ``S(0)`` is not a monitoring date): the terminal price, its
pathwise vega ``dS_T/dvol``, the arithmetic mean, its pathwise vega, the geometric mean,
the running maximum and minimum, and the likelihood-ratio scores of the path density with
respect to ``spot`` and ``vol`` (for Greeks of discontinuous payoffs). Prices are in the
units of ``spot``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum

import numba
import numpy as np
import numpy.typing as npt

from paraclear.risk.errors import RiskError
from paraclear.risk.greeks import Backend

FloatArray = npt.NDArray[np.float64]

#: Default paths per random stream.
DEFAULT_BLOCK_SIZE: int = 4096
#: Upper bound on normals held in memory at once (per batch of blocks).
MAX_NORMALS_PER_BATCH: int = 1 << 23


class McInputError(RiskError, ValueError):
    """Raised on invalid Monte Carlo inputs (non-positive spot/vol/expiry, bad path counts)."""


class Feature(IntEnum):
    """Columns of the per-path feature array."""

    TERMINAL = 0  # S(t_n)
    TERMINAL_VEGA = 1  # dS(t_n)/dvol, pathwise
    MEAN = 2  # (1/n) sum S(t_i)
    MEAN_VEGA = 3  # d MEAN / dvol, pathwise
    GEOMETRIC_MEAN = 4  # exp((1/n) sum ln S(t_i))
    MAXIMUM = 5  # max_i S(t_i)
    MINIMUM = 6  # min_i S(t_i)
    DELTA_SCORE = 7  # d log(path density) / d spot = Z_1 / (spot vol sqrt(dt))
    VEGA_SCORE = 8  # d log(path density) / d vol = sum_j (Z_j^2 - 1) / vol - Z_j sqrt(dt)


N_FEATURES: int = len(Feature)


@dataclass(frozen=True, slots=True)
class GbmModel:
    """GBM under the pricing measure.

    Attributes:
        spot: initial price (> 0).
        rate: continuously compounded risk-free rate per year.
        dividend: continuous dividend / carry yield per year (use ``rate`` for a forward).
        vol: annual volatility (> 0).

    Raises:
        McInputError: if ``spot`` or ``vol`` is not positive and finite.
    """

    spot: float
    rate: float
    dividend: float
    vol: float

    def __post_init__(self) -> None:
        values = (self.spot, self.rate, self.dividend, self.vol)
        if not (all(math.isfinite(v) for v in values) and self.spot > 0 and self.vol > 0):
            raise McInputError(f"need finite inputs with spot > 0 and vol > 0: {self}")


def block_normals(
    seed: int, first_block: int, n_blocks: int, block_size: int, n_steps: int, antithetic: bool
) -> FloatArray:
    """Standard normals of blocks ``first_block .. first_block + n_blocks - 1``.

    Returns an array ``(n_blocks * block_size, n_steps)``; with ``antithetic`` each block
    draws ``block_size // 2`` rows and interleaves them with their negatives.
    """
    out = np.empty((n_blocks * block_size, n_steps))

    def fill(j: int) -> None:
        # Identical to SeedSequence(seed).spawn(...)[first_block + j], without spawning all.
        child = np.random.SeedSequence(seed, spawn_key=(first_block + j,))
        rng = np.random.Generator(np.random.Philox(child))
        rows = out[j * block_size : (j + 1) * block_size]
        if antithetic:
            half = rng.standard_normal((block_size // 2, n_steps))
            rows[0::2], rows[1::2] = half, -half
        else:
            rng.standard_normal(out=rows)

    # Each block owns its stream and its rows, so threads (numpy releases the GIL while
    # filling) cannot change the numbers, only the time.
    workers = min(numba.get_num_threads(), n_blocks)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, range(n_blocks)))
    else:
        for j in range(n_blocks):
            fill(j)
    return out


def path_features(
    z: FloatArray,
    p: int,
    spot: float,
    drift_dt: float,
    vol: float,
    sqdt: float,
    dt: float,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Fill ``out[p, :]`` with the :class:`Feature` values of path ``p`` driven by ``z[p]``.

    Plain Python compiled twice: inlined into :func:`gbm_features_cpu` below
    (``numba.njit(inline="always")``) and, as a CUDA device function, into
    ``paraclear.risk.gpu``'s kernel, so both backends run one source. Only arithmetic,
    ``math`` and ``min``/``max`` here: what both targets compile.
    """
    n_steps = z.shape[1]
    log_s, w = math.log(spot), 0.0
    s_sum, vega_sum, log_sum, vega_score = 0.0, 0.0, 0.0, 0.0
    s_max, s_min, s, s_vega = -math.inf, math.inf, spot, 0.0
    for j in range(n_steps):
        zj = z[p, j]
        w += sqdt * zj
        log_s += drift_dt + vol * sqdt * zj
        s = math.exp(log_s)
        s_vega = s * (w - vol * dt * (j + 1))
        s_sum += s
        vega_sum += s_vega
        log_sum += log_s
        s_max = max(s_max, s)
        s_min = min(s_min, s)
        vega_score += (zj * zj - 1.0) / vol - zj * sqdt
    out[p, 0] = s
    out[p, 1] = s_vega
    out[p, 2] = s_sum / n_steps
    out[p, 3] = vega_sum / n_steps
    out[p, 4] = math.exp(log_sum / n_steps)
    out[p, 5] = s_max
    out[p, 6] = s_min
    out[p, 7] = z[p, 0] / (spot * vol * sqdt)
    out[p, 8] = vega_score


_path_features_cpu = numba.njit(cache=True, nogil=True, inline="always")(path_features)


@numba.njit(cache=True, parallel=True, nogil=True)
def gbm_features_cpu(
    z: FloatArray, spot: float, drift_dt: float, vol: float, dt: float, out: FloatArray
) -> None:  # pragma: no cover - compiled
    """Fill ``out[p, :]`` for every path ``p`` (see :func:`path_features`)."""
    sqdt = math.sqrt(dt)
    for p in numba.prange(z.shape[0]):
        _path_features_cpu(z, p, spot, drift_dt, vol, sqdt, dt, out)


def _discretise(
    model: GbmModel, expiry: float, n_steps: int, n_paths: int, block_size: int, antithetic: bool
) -> tuple[float, float, int]:
    """Check the inputs shared by both simulators; return ``dt``, ``drift_dt`` and the
    number of blocks of normals."""
    if not expiry > 0:
        raise McInputError(f"expiry must be > 0 years, got {expiry}")
    if n_paths < 2 or n_steps < 1 or block_size < 2:
        raise McInputError("need n_paths >= 2, n_steps >= 1 and block_size >= 2")
    if antithetic and (n_paths % 2 or block_size % 2):
        raise McInputError("antithetic sampling needs even n_paths and block_size")
    dt = expiry / n_steps
    drift_dt = (model.rate - model.dividend - 0.5 * model.vol**2) * dt
    return dt, drift_dt, -(-n_paths // block_size)


def simulate_features(
    model: GbmModel,
    expiry: float,
    n_steps: int,
    n_paths: int,
    seed: int,
    *,
    antithetic: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    backend: Backend = "cpu",
) -> FloatArray:
    """Per-path features ``(n_paths, N_FEATURES)`` of GBM paths on ``n_steps`` equal steps.

    Raises:
        McInputError: on a non-positive expiry or bad counts.
        paraclear.risk.errors.BackendUnavailable: ``backend="cuda"`` without a usable device.
    """
    dt, drift_dt, n_blocks = _discretise(model, expiry, n_steps, n_paths, block_size, antithetic)
    kernel: Callable[..., None] = gbm_features_cpu
    if backend == "cuda":
        from paraclear.risk.gpu import gbm_features_cuda

        kernel = gbm_features_cuda
    per_batch = max(1, MAX_NORMALS_PER_BATCH // (block_size * n_steps))
    out = np.empty((n_blocks * block_size, N_FEATURES))
    for first in range(0, n_blocks, per_batch):
        count = min(per_batch, n_blocks - first)
        z = block_normals(seed, first, count, block_size, n_steps, antithetic)
        rows = slice(first * block_size, (first + count) * block_size)
        kernel(z, model.spot, drift_dt, model.vol, dt, out[rows])
    return out[:n_paths]


@numba.njit(cache=True, parallel=True, nogil=True)
def _gbm_paths_kernel(
    z: FloatArray, spot: float, drift_dt: float, vol_sqdt: float, out: FloatArray
) -> None:  # pragma: no cover - compiled
    for p in numba.prange(z.shape[0]):
        log_s = math.log(spot)
        out[p, 0] = spot
        for j in range(z.shape[1]):
            log_s += drift_dt + vol_sqdt * z[p, j]
            out[p, j + 1] = math.exp(log_s)


def simulate_gbm_paths(
    model: GbmModel,
    expiry: float,
    n_steps: int,
    n_paths: int,
    seed: int,
    *,
    antithetic: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> FloatArray:
    """Full GBM paths ``(n_paths, n_steps + 1)`` including ``S(0)``, same streams as above.

    Raises:
        McInputError: on a non-positive expiry or bad counts.
    """
    dt, drift_dt, n_blocks = _discretise(model, expiry, n_steps, n_paths, block_size, antithetic)
    z = block_normals(seed, 0, n_blocks, block_size, n_steps, antithetic)[:n_paths]
    out = np.empty((n_paths, n_steps + 1))
    _gbm_paths_kernel(z, model.spot, drift_dt, model.vol * math.sqrt(dt), out)
    return out


def mc_throughput(
    n_paths: int = 1 << 16, n_steps: int = 252, seed: int = 1, backend: Backend = "cpu"
) -> float:
    """Measured GBM throughput in path-steps per second (random numbers included).

    Runs :func:`simulate_features` once to compile/warm up, then times a second run with
    ``time.perf_counter`` (analytics only; never call from consensus code).
    """
    model = GbmModel(100.0, 0.0, 0.0, 0.5)
    simulate_features(model, 1.0, n_steps, min(n_paths, 4096), seed, backend=backend)
    start = time.perf_counter()
    simulate_features(model, 1.0, n_steps, n_paths, seed, backend=backend)
    return n_paths * n_steps / (time.perf_counter() - start)
