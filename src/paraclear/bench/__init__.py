"""Benchmarks behind ``paraclear bench``. Figures are medians of repeats, with the machine."""

from __future__ import annotations

import os
import platform
from typing import Final, Literal

Mix = Literal["trades", "orders"]
MIXES: Final[tuple[Mix, ...]] = ("trades", "orders")
"""What ``bench exec`` blocks hold (``bench.blocks``)."""


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
