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
  Where a constant argument is worth its compile, ``literal=True`` keeps numba's way (no
  kernel uses it now: BLAKE2b's block length did, until its rounds were written out).
* **entry points** that nothing uses: one from Python (unboxing and boxing every argument,
  about 40 % of a small helper's compile) and one from C. ``helper`` omits both unless
  ``python=True`` (the functions tests call from Python, such as ``paraclear.int128``'s).
* **machine code** that nothing runs, and a whole-module optimisation done twice. A caller
  links a helper's LLVM module into its own, optimises the whole (inlining the helper) and
  turns it into machine code, so the helper's own machine code is never called; numba
  still optimised the helper's module on its own, emitted its machine code and cached it.
  A helper without ``python`` keeps only its LLVM module after numba's function passes
  (``_LinkOnlyLibrary``), in memory and in numba's cache (as bitcode). For the demo's
  kernels (cold cache, one process) that was 3.2 s of machine code and 3.5-4.3 s of module
  passes out of 33-39 s of CPU; the kernels run as fast (the order-flow kernels 526k/527k
  transactions a second against 520k/528k, hashing and tree inserts no slower).

Kernels called from Python stay plain ``numba.njit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar, cast, overload

import llvmlite.binding as llvm  # type: ignore[import-untyped]
import llvmlite.ir as llvmir  # type: ignore[import-untyped]
from numba.core import caching, cgutils, codegen, compiler, dispatcher, types
from numba.core.registry import CPUDispatcher

# numba's internals that a helper's compile changes, untyped (as numba is, mostly)
_llvm: Any = llvm
_llvmir: Any = llvmir
_cgutils: Any = cgutils
_compiler: Any = compiler
_JITCodeLibrary: Any = codegen.JITCodeLibrary
_FunctionCompiler: Any = dispatcher._FunctionCompiler  # type: ignore[attr-defined]
_CompileResultCacheImpl: Any = caching.CompileResultCacheImpl
_FunctionCache: Any = caching.FunctionCache

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


class _LinkOnlyLibrary(_JITCodeLibrary):  # type: ignore[misc]
    """A helper's code: an LLVM module that callers link into theirs and optimise, never
    turned into machine code of its own (nothing could call it: it has no entry point)."""

    def _finalize_final_module(self) -> None:
        # numba's own, adding to the execution engine only the module's environment
        # pointers (numba sets them once the function is compiled), not its functions
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._codegen._add_module(_environments_of(self._final_module, self.name))
        self._finalized = True

    def get_pointer_to_function(self, name: str) -> int:
        self._ensure_finalized()
        return 0

    def _optimize_final_module(self) -> None:
        # Nothing: each caller optimises the whole module it links this one into (numba's
        # function passes have run on it already, as on every module)
        return

    def serialize_using_object_code(self) -> Any:
        return self.serialize_using_bitcode()


def _environments_of(module: Any, name: str) -> Any:
    """A module defining only the environment pointers that ``module`` defines (common
    globals, null until numba sets them), as numba's own lowering declares them."""
    environments = _llvmir.Module(name=f"{name}.environments")
    for variable in module.global_variables:
        if variable.name.startswith(_ENVIRONMENT) and not variable.is_declaration:
            pointer = _llvmir.GlobalVariable(environments, _cgutils.voidptr_t, name=variable.name)
            pointer.linkage = "common"
            pointer.initializer = _cgutils.get_null_value(_cgutils.voidptr_t)
    return _llvm.parse_assembly(str(environments))


_ENVIRONMENT: Final = "_ZN08NumbaEnv"


class _LinkOnlyCompiler(_FunctionCompiler):  # type: ignore[misc]
    """numba's function compiler, lowering into a ``_LinkOnlyLibrary``."""

    def _compile_core(self, args: Any, return_type: Any) -> Any:
        flags = _compiler.Flags()
        self.targetdescr.options.parse_as_flags(flags, self.targetoptions)
        target = self.targetdescr.target_context
        library = _LinkOnlyLibrary(target.codegen(), self.py_func.__qualname__)
        cres = _compiler.compile_extra(
            self.targetdescr.typing_context, target, self.py_func, args=args,
            return_type=return_type, flags=flags, locals=self.locals, library=library,
            pipeline_class=self.pipeline_class,
        )  # fmt: skip
        if cres.typing_error is not None:
            raise cres.typing_error
        return cres


class _LinkOnlyCacheImpl(_CompileResultCacheImpl):  # type: ignore[misc]
    """Loads a cached helper into a ``_LinkOnlyLibrary`` (numba's loader makes its own
    kind of library, which would emit the machine code on load)."""

    def rebuild(self, target_context: Any, payload: Any) -> Any:
        codegen = target_context.codegen()
        codegen._library_class = _LinkOnlyLibrary  # shadows the class's, for this load
        try:
            return super().rebuild(target_context, payload)
        finally:
            del codegen._library_class


class _LinkOnlyCache(_FunctionCache):  # type: ignore[misc]
    _impl_class = _LinkOnlyCacheImpl


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
        if not python:
            link_only: Any = dispatcher
            link_only._compiler = _LinkOnlyCompiler(
                func, dispatcher.targetdescr, options, {}, _compiler.Compiler
            )
            link_only._cache = _LinkOnlyCache(func)
        return cast(_F, dispatcher)

    return wrap if func is None else wrap(func)
