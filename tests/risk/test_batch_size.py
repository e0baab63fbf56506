"""A batch runs the serial compilation of a kernel below ``PARALLEL_MIN`` elements and the
parallel one from it: the results must not depend on which, bit for bit."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from paraclear.risk import black76_greeks, black76_price, bsm_greeks, implied_vol_black76
from paraclear.risk._threading import PARALLEL_MIN, threads_pay
from paraclear.risk.greeks import KernelMode

N = PARALLEL_MIN + 1000
CHUNK = 1000


def _options(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    expiry = rng.uniform(0.0, 2.0, N)
    expiry[::97] = 0.0  # expired: the limits (and the fast kernel's second pass)
    vol = rng.uniform(0.01, 2.0, N)
    vol[::89] = 0.0
    return {
        "under": rng.uniform(50.0, 150.0, N),
        "strike": rng.uniform(50.0, 150.0, N),
        "expiry": expiry,
        "rate": rng.uniform(0.0, 0.1, N),
        "vol": vol,
        "call": rng.random(N) < 0.5,
    }


def _chunked(run, *arrays):  # type: ignore[no-untyped-def]
    """``run`` over the arrays in chunks small enough for the serial kernels."""
    return [run(*(a[i : i + CHUNK] for a in arrays)) for i in range(0, N, CHUNK)]


def _same_bits(whole: np.ndarray, parts: list[np.ndarray]) -> bool:
    return np.array_equal(whole.view(np.int64), np.concatenate(parts).view(np.int64))


def test_the_threshold_splits_the_test_batches() -> None:
    assert threads_pay(N) and not threads_pay(CHUNK)


def _bsm(under, strike, expiry, rate, vol, call, *, mode):  # type: ignore[no-untyped-def]
    return bsm_greeks(under, strike, expiry, rate, rate / 2, vol, call, mode=mode)


@pytest.mark.parametrize("greeks", [black76_greeks, _bsm], ids=["black76", "bsm"])
def test_strict_greeks_do_not_depend_on_the_batch_size(greeks) -> None:  # type: ignore[no-untyped-def]
    o = _options(1)
    args = (o["under"], o["strike"], o["expiry"], o["rate"], o["vol"], o["call"])
    whole = greeks(*args, mode=KernelMode.STRICT)
    parts = _chunked(lambda *a: greeks(*a, mode=KernelMode.STRICT), *args)
    for field in fields(whole):
        name = field.name
        assert _same_bits(getattr(whole, name), [getattr(p, name) for p in parts]), name


def test_fast_greeks_agree_across_batch_sizes_to_an_ulp_or_two() -> None:
    """Fast-math code is not bit-reproducible: the parallel fast kernel loaded from numba's
    cache differs from a fresh compilation of it (and from the serial one) by an ulp on
    about 15 % of the elements, which numba's caching does and paraclear cannot change."""
    o = _options(1)
    args = (o["under"], o["strike"], o["expiry"], o["rate"], o["vol"], o["call"])
    whole = black76_greeks(*args, mode=KernelMode.FAST)
    parts = _chunked(lambda *a: black76_greeks(*a, mode=KernelMode.FAST), *args)
    for field in fields(whole):
        chunked = np.concatenate([getattr(p, field.name) for p in parts])
        np.testing.assert_allclose(getattr(whole, field.name), chunked, rtol=1e-12, atol=1e-12)


def test_strict_prices_do_not_depend_on_the_batch_size() -> None:
    o = _options(2)
    args = (o["under"], o["strike"], o["expiry"], o["rate"], o["vol"], o["call"])
    assert _same_bits(black76_price(*args), _chunked(black76_price, *args))


def test_implied_vols_do_not_depend_on_the_batch_size() -> None:
    o = _options(3)
    prices = black76_price(o["under"], o["strike"], o["expiry"], o["rate"], o["vol"], o["call"])
    args = (prices, o["under"], o["strike"], o["expiry"], o["rate"], o["call"])
    whole = implied_vol_black76(*args)
    parts = _chunked(implied_vol_black76, *args)
    assert _same_bits(whole.vol, [p.vol for p in parts])
    assert np.array_equal(whole.reason, np.concatenate([p.reason for p in parts]))
