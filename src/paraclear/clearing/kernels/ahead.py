"""``run_orders``' kernels compiled ahead, in parts that other processes can take.

numba compiles a kernel with everything it calls, one function at a time per process: on
a cold cache ``run_orders`` alone was a 16 s compile, the longest of the warm-up. Its
transaction kernels and the margin check they share can be compiled first, for the exact
types ``run_orders`` passes them, in other processes (``paraclear.warmup``'s parts of the
step "clearing kernels"); ``run_orders`` then links their compiled code from numba's cache
and compiles only itself (about 2 s).

``PARTS`` are the groups, ``NEEDS`` what a group waits for: every kernel calls the margin
check (or the helpers it compiles), so compiling it once first saves compiling it again in
each group. Nothing here changes what a kernel computes; a signature that differs from the
one ``run_orders`` uses would only cost a compile (``tests/clearing/test_ahead.py``).
"""

from __future__ import annotations

import inspect
from typing import Any, Final

from numba.core import types

from paraclear.clearing.kernels.fills import fill, trade
from paraclear.clearing.kernels.funds import deposit, transfer, withdraw
from paraclear.clearing.kernels.margin import margin_shortfall
from paraclear.clearing.kernels.orders import amend, cancel, close, place
from paraclear.clearing.kernels.rows import begin_check

_TABLE: Final = types.Array(types.int64, 2, "C")
_ROW: Final = types.Array(types.int64, 1, "C")
ARGUMENT_TYPES: Final[dict[str, Any]] = {
    "tx": _ROW,
    "result": _ROW,
    "accounts": _TABLE,
    "account_positions": _TABLE,
    "positions": _TABLE,
    "orders": _TABLE,
    "instruments": _TABLE,
    "house": _ROW,
    "log": _TABLE,
    "count": _ROW,
}
"""The numba type of each array argument by its name, as ``run_orders`` passes it (its
tables are C-contiguous ``int64``; a transaction's and a result's rows are rows of
C-contiguous tables); every other argument is an ``int64``."""

PARTS: Final[dict[str, tuple[Any, ...]]] = {
    "margin": (margin_shortfall,),
    "orders": (place, amend, cancel, close),
    "fills": (fill, trade),
    "funds": (withdraw, transfer, deposit, begin_check),
}
NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "orders": ("margin",),
    "fills": ("margin",),
    "funds": ("margin",),
}


def signature(kernel: Any) -> tuple[Any, ...]:
    """The argument types of ``kernel`` (a dispatcher) as ``run_orders`` calls it."""
    names = inspect.signature(kernel.py_func).parameters
    return tuple(ARGUMENT_TYPES.get(name, types.int64) for name in names)


def compile_part(part: str) -> None:
    """Compile (or load from numba's cache) the kernels of ``PARTS[part]``.

    Raises:
        KeyError: ``part`` is not in ``PARTS``.
    """
    for kernel in PARTS[part]:
        kernel.compile(signature(kernel))
