"""Run the docstring examples (Hull's textbook values among them) of the pricing modules."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from paraclear.risk import greeks, implied_vol, units


@pytest.mark.parametrize("module", [greeks, implied_vol, units], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert result.attempted > 0, "no examples found"
    assert result.failed == 0
