"""The compiled tree compiled for a baseline x86-64 (no AVX, no AVX-512) gives the same root
as the readable reference: ``blake2b.compress_lanes`` is written as 8-lane vector IR, which
this machine's compiler turns into AVX-512 and another machine's into narrower vectors. A
fresh process compiles the kernels with ``NUMBA_CPU_NAME=generic`` into an empty cache."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paraclear.state.smt import SparseMerkleTree

_SCRIPT = """
import sys
import numpy as np
from paraclear.state.compiled import CompiledTree

rng = np.random.default_rng(11)
paths = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
paths[:40, :31] = paths[0, :31]  # a deep shared prefix: a chain of branches down to nibble 62
tree = CompiledTree()
tree.update_rows(paths, rng.integers(0, 256, (3000, 32), dtype=np.uint8), np.zeros(3000, bool))
tree.update_rows(paths[::3].copy(), rng.integers(0, 256, (1000, 32), dtype=np.uint8),
                 np.arange(1000) % 4 == 0)
sys.stdout.write(tree.root().hex())
"""


def _reference_root() -> str:
    rng = np.random.default_rng(11)
    paths = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    paths[:40, :31] = paths[0, :31]
    values = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    tree = SparseMerkleTree()
    tree.update([(p.tobytes(), v.tobytes()) for p, v in zip(paths, values, strict=True)])
    again = paths[::3]
    values = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    deleted = np.arange(1000) % 4 == 0
    tree.update(
        [
            (p.tobytes(), None if gone else v.tobytes())
            for p, v, gone in zip(again, values, deleted, strict=True)
        ]
    )
    return tree.root().hex()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 targets")
def test_the_tree_compiled_for_a_baseline_cpu_gives_the_reference_root(tmp_path: Path) -> None:
    env = os.environ | {"NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == _reference_root()
