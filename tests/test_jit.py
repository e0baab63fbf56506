"""``paraclear.jit.helper``: one compilation per plain signature, whatever constants the
callers pass; ``literal=True`` keeps numba's one per constant; a helper without a Python
entry point refuses a call from Python instead of crashing, and keeps no machine code of
its own (its callers link its LLVM module), in memory or in numba's cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_a_helper_without_python_keeps_no_machine_code_of_its_own() -> None:
    assert _callers(2) == (12, 12, 12)
    (linked,) = _add.overloads.values()
    (called,) = _from_python.overloads.values()
    assert type(linked.library).__name__ == "_LinkOnlyLibrary"
    assert linked.library.get_pointer_to_function(linked.fndesc.mangled_name) == 0
    assert type(called.library).__name__ != "_LinkOnlyLibrary"
    assert called.library.get_pointer_to_function(called.fndesc.mangled_name) != 0


_CACHED = """
import sys
import numba
from paraclear.jit import helper

@helper
def scaled(a, b):
    if a < 0:
        raise ValueError("negative")
    return a * b + 1

@numba.njit(cache=True)
def first(a):
    return scaled(a, 3)

@numba.njit(cache=True)
def second(a):
    return scaled(a, 5) + scaled(a + 1, 7)

def hits(dispatcher):
    return sum(dispatcher.stats.cache_hits.values())

kernel = first if sys.argv[1] == "first" else second
print(kernel(4), hits(kernel), hits(scaled))
try:
    kernel(-1)
except ValueError as error:
    print("raised", error)
"""


def test_a_cached_helper_links_into_a_kernel_compiled_in_another_process(tmp_path: Path) -> None:
    """The helper is compiled and cached (as LLVM bitcode) by one process; another process
    compiles a new kernel that calls it, loading the helper from the cache, and a third
    loads that kernel from the cache: each computes the same, exceptions included."""
    directory = tmp_path
    (directory / "cached_helper.py").write_text(_CACHED)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(directory / "cache")}

    def run(kernel: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "cached_helper.py", kernel],
            cwd=directory, env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        return done.stdout.split("\n")

    assert run("first")[:2] == ["13 0 0", "raised negative"]  # both compiled
    assert run("second")[:2] == ["57 0 1", "raised negative"]  # the helper from the cache
    assert run("second")[:2] == ["57 1 0", "raised negative"]  # the kernel from the cache
    cached = os.listdir(directory / "cache" / os.listdir(directory / "cache")[0])
    assert any(name.startswith("cached_helper.scaled") for name in cached)
