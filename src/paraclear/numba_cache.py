"""Where numba keeps compiled kernels when it cannot write its cache anywhere.

numba caches a ``cache=True`` kernel next to its source (``__pycache__``), else in the
user's cache directory (``~/.cache/numba``), or in ``NUMBA_CACHE_DIR`` when that is set.
When none of them is writable (a read-only install without a writable home), numba refuses
to define the kernel at all, and importing paraclear would fail. :func:`install` adds a
last resort after numba's own choices: a private temporary directory for this process,
removed at exit, announced once on standard error. Kernels then compile on every start.

It also makes a cached kernel as fresh as **every** kernel source of the package. numba
stamps a cached kernel with its own source file only, and compiles the helpers it calls
(``paraclear.int128``, the margin functions) into it: after a helper changes (a ``git
pull`` in an editable install changes only the files that changed), a kernel whose own file
did not would load its old machine code, with the old helper inlined: a silent fork between
nodes with a warm cache and nodes without. Kernels of this package are stamped with a
digest of every package source that uses numba as well (``kernel_sources_digest``), so any
change to any of them compiles them all again.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from numba.core import caching


def _numba_name(*names: str) -> Any:
    """The first of ``names`` that numba's caching module has (older versions: ``_``)."""
    return next(getattr(caching, name) for name in names if hasattr(caching, name))


_Base = _numba_name("UserProvidedCacheLocator", "_UserProvidedCacheLocator")
_directory: list[str] = []
_F = TypeVar("_F", bound=Callable[..., Any])


def _process_directory() -> str:
    """This process's private cache directory, made (and announced) on first use."""
    if not _directory:
        path = tempfile.mkdtemp(prefix="paraclear-numba-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _directory.append(path)
        print(
            "paraclear: numba cannot write its cache (next to the package, in the user cache "
            "directory or NUMBA_CACHE_DIR); kernels compile on every start. Set "
            "NUMBA_CACHE_DIR to a writable directory to keep them.",
            file=sys.stderr,
        )
    return _directory[0]


class TemporaryCacheLocator(_Base):  # type: ignore[misc,valid-type]
    """numba's last cache locator: a temporary directory private to this process."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(
            _process_directory(), self.get_suitable_cache_subpath(py_file)
        )

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        # numba's source-file locator logic, without the NUMBA_CACHE_DIR condition
        return super(_Base, cls).from_function(py_func, py_file)


PACKAGE_DIR = Path(__file__).resolve().parent
_digests: dict[Path, str] = {}


def kernel_sources_digest(root: Path | None = None) -> str:
    """BLAKE2b of every ``.py`` file under ``root`` (the package by default) that mentions
    numba or compiles with ``paraclear.jit`` (path and bytes), computed once per process."""
    root = root or PACKAGE_DIR
    digest = _digests.get(root)
    if digest is None:
        hasher = hashlib.blake2b(digest_size=16)
        for path in sorted(root.rglob("*.py")):
            data = path.read_bytes()
            if b"numba" in data or b"paraclear.jit" in data:
                hasher.update(str(path.relative_to(root)).encode() + b"\0" + data)
        digest = _digests[root] = hasher.hexdigest()
    return digest


def _package_stamped(base: Any) -> Any:
    """``base``, a numba cache locator, for the package's kernels only, stamping them
    with ``kernel_sources_digest`` beside their own file's stamp."""

    class Locator(base):  # type: ignore[misc]
        def get_source_stamp(self) -> Any:
            return (super().get_source_stamp(), kernel_sources_digest())

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if not Path(py_file).resolve().is_relative_to(PACKAGE_DIR):
                return None
            return super().from_function(py_func, py_file)

    Locator.__name__ = Locator.__qualname__ = f"Package{base.__name__.lstrip('_')}"
    return Locator


_STAMPED: list[Any] = []


def private() -> bool:
    """Whether kernels are cached in this process's private directory (no other process can
    load what this one compiles)."""
    return bool(_directory)


def renamed(func: _F, name: str) -> _F:
    """``func`` under another name, for compiling one loop twice with different options.

    numba keys its cache by a function's module, name, line and bytecode, not by the
    options it was compiled with: a serial and a parallel compilation of the same function
    would load each other's code. The copy shares code, globals and line with ``func``.
    """
    code = func.__code__.replace(co_name=name, co_qualname=name)
    copy = types.FunctionType(code, func.__globals__, name, func.__defaults__, func.__closure__)
    copy.__qualname__ = name
    copy.__doc__ = func.__doc__
    return cast(_F, copy)


def install() -> None:
    """Put the package-stamped versions of numba's source-file locators before numba's
    own, and :class:`TemporaryCacheLocator` after them (once)."""
    locators = _numba_name("CacheImpl", "_CacheImpl")._locator_classes
    if TemporaryCacheLocator not in locators:
        bases = [
            _numba_name(name, f"_{name}")
            for name in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
        ]
        _STAMPED.extend(_package_stamped(base) for base in bases)
        locators[:0] = _STAMPED
        locators.append(_package_stamped(TemporaryCacheLocator))
        locators.append(TemporaryCacheLocator)
