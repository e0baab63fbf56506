"""Benchmarks behind ``paraclear bench``. Figures are medians of repeats, with the machine."""

from __future__ import annotations

import os
import platform
from typing import Final, Literal

Mix = Literal["trades", "orders"]
MIXES: Final[tuple[Mix, ...]] = ("trades", "orders")
"""What ``bench exec`` blocks hold (``bench.blocks``)."""
Margin = Literal["standard", "portfolio"]
MARGINS: Final[tuple[Margin, ...]] = ("standard", "portfolio")
"""The accounts' margin model in ``bench exec``'s blocks."""
Commit = Literal["hashed", "plain"]
COMMITS: Final[tuple[Commit, ...]] = ("hashed", "plain")
"""How ``bench exec``'s compiled engine commits: ``hashed``, its hot keys' tree paths and
value hashes computed from its tables (``BatchRunner.hashed``); ``plain``, every key
encoded and hashed by ``State.apply``, as the reference engine's are."""
WARM_UP_BLOCKS: Final = 2
"""Blocks ``bench exec`` runs after its setup block and before the measured ones, by
default."""


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
