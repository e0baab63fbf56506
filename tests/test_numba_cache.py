"""A cached kernel is as fresh as every kernel source of the package: changing a helper
that a kernel inlines (and nothing else) makes the kernel compile again, instead of loading
machine code with the old helper in it from numba's cache."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from paraclear import numba_cache
from paraclear.int128 import mul_div_floor

_HELPER = "import numba\n\n@numba.njit(cache=True)\ndef value():\n    return {value}\n"
_KERNEL = (
    "import numba\nfrom helper import value\n\n"
    "@numba.njit(cache=True)\ndef kernel():\n    return value() + 1000\n"
)
_RUN = """
import sys
from pathlib import Path
from paraclear import numba_cache
numba_cache.PACKAGE_DIR = Path({root!r}).resolve()
sys.path.insert(0, {root!r})
from kernel import kernel
print(kernel())
"""


def _kernel_in_fresh_process(root: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RUN.format(root=str(root)))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_a_changed_helper_recompiles_the_kernels_that_inline_it(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text(_HELPER.format(value=1))
    (tmp_path / "kernel.py").write_text(_KERNEL)
    assert _kernel_in_fresh_process(tmp_path) == 1001  # compiled and cached
    assert _kernel_in_fresh_process(tmp_path) == 1001  # loaded from the cache
    (tmp_path / "helper.py").write_text(_HELPER.format(value=2))  # kernel.py unchanged
    assert _kernel_in_fresh_process(tmp_path) == 1002


def test_the_digest_follows_kernel_sources_only(tmp_path: Path) -> None:
    (tmp_path / "kernel.py").write_text(_KERNEL)
    (tmp_path / "plain.py").write_text("VALUE = 1\n")
    first = numba_cache.kernel_sources_digest(tmp_path)
    numba_cache._digests.clear()
    (tmp_path / "plain.py").write_text("VALUE = 2\n")
    assert numba_cache.kernel_sources_digest(tmp_path) == first
    numba_cache._digests.clear()
    (tmp_path / "kernel.py").write_text(_KERNEL + "\n# changed\n")
    changed = numba_cache.kernel_sources_digest(tmp_path)
    assert changed != first
    numba_cache._digests.clear()
    (tmp_path / "helpers.py").write_text("from paraclear.jit import helper\n")  # no "numba"
    assert numba_cache.kernel_sources_digest(tmp_path) != changed


def test_the_package_kernels_carry_the_digest() -> None:
    assert mul_div_floor(6, 7, 4) == (10, True)
    locator = mul_div_floor._cache._impl._locator
    assert type(locator).__name__.startswith("Package")
    assert locator.get_source_stamp()[1] == numba_cache.kernel_sources_digest()
