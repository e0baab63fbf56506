"""CUDA backend: kernel logic under numba's CUDA simulator; real-GPU checks skip without one.

The simulator must be switched on before numba is imported, so those checks run in a
subprocess with ``NUMBA_ENABLE_CUDASIM=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from paraclear.risk.errors import BackendUnavailable
from paraclear.risk.gpu import black76_greeks_cuda, cuda_available
from paraclear.risk.greeks import black76_greeks
from paraclear.risk.mc_paths import GbmModel, simulate_features

SIMULATED_CHECKS = textwrap.dedent(
    """
    import numpy as np
    from numba import cuda
    from paraclear.risk.errors import InvalidInputError
    from paraclear.risk.gpu import black76_greeks_cuda, cuda_available
    from paraclear.risk.greeks import black76_greeks
    from paraclear.risk.mc_paths import GbmModel, simulate_features

    assert cuda.simulator_enabled if hasattr(cuda, "simulator_enabled") else True
    assert cuda_available()
    rng = np.random.default_rng(7)
    n = 300
    fwd = rng.uniform(50.0, 150.0, n)
    strike = rng.uniform(50.0, 150.0, n)
    expiry = rng.uniform(0.0, 2.0, n)
    vol = rng.uniform(0.05, 1.5, n)
    rate = rng.uniform(-0.01, 0.08, n)
    calls = rng.random(n) < 0.5
    # limits: expired, zero vol, exactly at the money at expiry
    expiry[:3], vol[3:5], strike[0], strike[3] = 0.0, 0.0, fwd[0], fwd[3]
    gpu = black76_greeks_cuda(fwd, strike, expiry, rate, vol, calls)
    cpu = black76_greeks(fwd, strike, expiry, rate, vol, calls)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga"):
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=1e-12,
                                   atol=1e-12, err_msg=name)
    bad = fwd.copy(); bad[5] = -1.0; bad[9] = np.nan
    try:
        black76_greeks_cuda(bad, strike, expiry, rate, vol, calls)
        raise SystemExit("invalid input was not rejected")
    except InvalidInputError as exc_gpu:
        try:
            black76_greeks(bad, strike, expiry, rate, vol, calls)
        except InvalidInputError as exc_cpu:
            assert exc_gpu.indices == exc_cpu.indices == [5, 9]
            assert exc_gpu.reasons == exc_cpu.reasons

    model = GbmModel(100.0, 0.03, 0.0, 0.4)
    kw = dict(antithetic=True, block_size=32)
    f_gpu = simulate_features(model, 0.5, 5, 96, 13, backend="cuda", **kw)
    f_cpu = simulate_features(model, 0.5, 5, 96, 13, backend="cpu", **kw)
    np.testing.assert_allclose(f_gpu, f_cpu, rtol=1e-13)
    print("SIMULATED-OK")
    """
)


def test_cuda_kernels_match_cpu_under_the_simulator() -> None:
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    done = subprocess.run(
        [sys.executable, "-c", SIMULATED_CHECKS],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "SIMULATED-OK" in done.stdout


@pytest.mark.skipif(cuda_available(), reason="a CUDA device is present")
def test_cuda_backend_without_device_raises_backend_unavailable() -> None:
    with pytest.raises(BackendUnavailable):
        black76_greeks_cuda(100.0, 100.0, 1.0, 0.0, 0.5, True)
    with pytest.raises(BackendUnavailable):
        simulate_features(GbmModel(100.0, 0.0, 0.0, 0.5), 1.0, 4, 64, 1, backend="cuda")


@pytest.mark.skipif(not cuda_available(), reason="no CUDA device")
def test_real_gpu_matches_cpu_to_a_few_ulps() -> None:  # pragma: no cover - needs a GPU
    rng = np.random.default_rng(3)
    n = 100_000
    args = (
        rng.uniform(50, 150, n), rng.uniform(50, 150, n), rng.uniform(0.01, 2, n),
        rng.uniform(0, 0.05, n), rng.uniform(0.05, 1.5, n), rng.random(n) < 0.5,
    )  # fmt: skip
    np.testing.assert_allclose(
        black76_greeks_cuda(*args).price, black76_greeks(*args).price, rtol=1e-12, atol=1e-12
    )
    model = GbmModel(100.0, 0.03, 0.0, 0.4)
    gpu = simulate_features(model, 1.0, 16, 8192, 5, backend="cuda")
    cpu = simulate_features(model, 1.0, 16, 8192, 5)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-12)
