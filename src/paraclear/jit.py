"""``helper``: how a function that compiled kernels call is compiled, at the least cost.

numba compiles a jitted function called from another one as a unit of its own, and its
cost is mostly fixed: numba's passes, an LLVM module optimized and turned into machine
code, a cache entry. Measured here (``paraclear warmup``, 2 cores at load 4) a small helper
costs 60-100 ms of CPU, and two habits of numba multiply them:

* **a compile per constant.** A caller passing a constant (``fail(result, E_BANKRUPT, 0,
  0, 0)``, ``mul_div_floor(a, b, SIZE_SCALE)``) gets a copy of the helper specialised for
  that value (``Literal[int](3)``): ``rows.fail`` was compiled 18 times, ``int128._mul_div``
  6 times. A helper here is typed with its arguments' plain types (``int64``, ``bool``)
  whatever its callers pass, so it compiles once per signature. It computes the same: a
  literal argument has its plain type inside the helper anyway, and LLVM can still fold
  the constant where it inlines the helper into its caller (the order-flow kernels ran no
  slower: 1.03 against 1.18 us per transaction in ``bench exec --mix orders``).
  Where a constant argument is worth its compile (BLAKE2b's block length, which lets LLVM
  unroll the message load: hashing is 20 % faster), ``literal=True`` keeps numba's way.
* **entry points** that nothing uses: one from Python (unboxing and boxing every argument,
  about 40 % of a small helper's compile) and one from C. ``helper`` omits both unless
  ``python=True`` (the functions tests call from Python, such as ``paraclear.int128``'s).

Kernels called from Python stay plain ``numba.njit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from numba.core import types
from numba.core.registry import CPUDispatcher

_F = TypeVar("_F", bound=Callable[..., Any])


class _HelperDispatcher(CPUDispatcher):
    """A ``CPUDispatcher`` that compiles for its arguments' plain types when called from
    compiled code (unless ``literal``) and, without ``python``, refuses a call from Python
    (there is no entry point to call: numba would crash the process)."""

    literal = False
    python = False

    def get_call_template(self, args: Any, kws: Any) -> Any:
        if not self.literal:
            args = tuple(_plain(arg) for arg in args)
            kws = {name: _plain(t) for name, t in kws.items()}
        return super().get_call_template(args, kws)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.python:
            name = self.py_func.__qualname__
            raise TypeError(f"{name} is called from compiled kernels only (paraclear.jit.helper)")
        return super().__call__(*args, **kwargs)


def _plain(numba_type: Any) -> Any:
    """``Literal[int](3)`` -> ``int64``; other types unchanged."""
    return types.unliteral(numba_type)  # type: ignore[no-untyped-call]


@overload
def helper(
    func: _F, *, python: bool = False, literal: bool = False, boundscheck: bool | None = None
) -> _F: ...


@overload
def helper(
    *, python: bool = False, literal: bool = False, boundscheck: bool | None = None
) -> Callable[[_F], _F]: ...


def helper(
    func: Any = None,
    *,
    python: bool = False,
    literal: bool = False,
    boundscheck: bool | None = None,
) -> Any:
    """``numba.njit(cache=True, nogil=True, boundscheck=boundscheck)`` for a function called
    from compiled kernels: one compilation per plain signature (per literal one if
    ``literal``), and entry points from Python and C only if ``python``."""

    def wrap(func: _F) -> _F:
        options = {"nopython": True, "nogil": True, "boundscheck": boundscheck}
        if not python:
            options.update(no_cpython_wrapper=True, no_cfunc_wrapper=True)
        dispatcher = _HelperDispatcher(py_func=func, locals={}, targetoptions=options)
        dispatcher.literal, dispatcher.python = literal, python
        dispatcher.enable_caching()
        return cast(_F, dispatcher)

    return wrap if func is None else wrap(func)
