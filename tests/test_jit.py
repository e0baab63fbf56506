"""``paraclear.jit.helper``: one compilation per plain signature, whatever constants the
callers pass; ``literal=True`` keeps numba's one per constant; a helper without a Python
entry point refuses a call from Python instead of crashing."""

from __future__ import annotations

import numba
import pytest

from paraclear.jit import helper


@helper
def _add(a: int, b: int) -> int:
    return a + b


@helper(literal=True)
def _add_literal(a: int, b: int) -> int:
    return a + b


@numba.njit
def _plain_add(a: int, b: int) -> int:
    return a + b


@numba.njit
def _callers(x: int) -> tuple[int, int, int]:
    plain = _plain_add(x, 1) + _plain_add(x, 2) + _plain_add(3, x)
    literal = _add_literal(x, 1) + _add_literal(x, 2) + _add_literal(3, x)
    return _add(x, 1) + _add(x, 2) + _add(3, x), literal, plain


def test_a_helper_compiles_once_whatever_constants_its_callers_pass() -> None:
    assert _callers(10) == (36, 36, 36)
    assert len(_add.overloads) == 1
    assert len(_add_literal.overloads) == 3  # numba's way: one per distinct constant
    assert len(_plain_add.overloads) == 3


@helper(python=True)
def _from_python(a: int) -> int:
    return a * 2


def test_a_helper_for_python_is_called_from_python() -> None:
    assert _from_python(21) == 42


def test_a_helper_without_python_refuses_a_call_from_python() -> None:
    assert _callers(1) == (9, 9, 9)  # compiled, for compiled callers
    with pytest.raises(TypeError, match="compiled kernels only"):
        _add(1, 2)
