"""Numba's threading layer for the risk kernels, chosen before any parallel kernel runs, and
the batch size from which the parallel compilation of a kernel runs instead of the serial.

GNU OpenMP cannot survive ``fork()``, and the parallel executor forks its workers from a
process that has already computed marks; so, unless the user chose through numba's own
environment variables, prefer layers that can: tbb if installed, else workqueue.
"""

from __future__ import annotations

import os
from typing import Final

import numba

PARALLEL_MIN: Final = 8192
"""Batches of at least this many elements run a kernel's parallel compilation; smaller ones
its serial one. Below it starting the threads costs about what they save (measured on 2
cores: strict Greeks of 4,096 options 213 µs serial vs 288 µs on 2 threads, 1.3 vs 0.8 ms
at 16,384), and a serial kernel compiles 2-3x faster: the first run of the demo, whose
batches are at most 2,048 elements, compiles only serial kernels. Both give identical bits
(elements are independent; tested)."""


def threads_pay(n: int) -> bool:
    """Whether a batch of ``n`` elements runs on the parallel kernel."""
    return n >= PARALLEL_MIN


_SETTINGS = ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY")

if not any(name in os.environ for name in _SETTINGS):
    numba.config.THREADING_LAYER_PRIORITY = ["tbb", "workqueue", "omp"]  # type: ignore[attr-defined]
