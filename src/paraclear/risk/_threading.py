"""Numba's threading layer for the risk kernels, chosen before any parallel kernel runs.

GNU OpenMP cannot survive ``fork()``, and the parallel executor forks its workers from a
process that has already computed marks; so, unless the user chose through numba's own
environment variables, prefer layers that can: tbb if installed, else workqueue.
"""

from __future__ import annotations

import os

import numba

_SETTINGS = ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY")

if not any(name in os.environ for name in _SETTINGS):
    numba.config.THREADING_LAYER_PRIORITY = ["tbb", "workqueue", "omp"]  # type: ignore[attr-defined]
