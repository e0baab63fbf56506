"""The scalar reference Greeks agree with the vectorised strict kernel."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraclear.risk.greeks import black76_greeks
from paraclear.risk.reference import black76_greeks_scalar


@given(
    st.floats(10.0, 1e6),
    st.floats(0.2, 5.0),
    st.floats(1e-3, 3.0),
    st.floats(0.01, 3.0),
    st.booleans(),
)
def test_scalar_greeks_agree_with_the_strict_kernel(
    forward: float, moneyness: float, expiry: float, vol: float, is_call: bool
) -> None:
    strike = forward * moneyness
    kernel = black76_greeks(forward, strike, expiry, 0.0, vol, is_call)
    scalar = black76_greeks_scalar(forward, strike, expiry, vol, is_call)
    expected = [float(kernel.delta), float(kernel.gamma), float(kernel.vega), float(kernel.theta)]
    assert scalar == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_at_expiry_only_delta_is_left() -> None:
    assert black76_greeks_scalar(110.0, 100.0, 0.0, 0.5, True) == (1.0, 0.0, 0.0, 0.0)
    assert black76_greeks_scalar(90.0, 100.0, 0.0, 0.5, False) == (-1.0, 0.0, 0.0, 0.0)
    assert black76_greeks_scalar(90.0, 100.0, 1.0, 0.0, True) == (0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        black76_greeks_scalar(-1.0, 100.0, 1.0, 0.2, True)
