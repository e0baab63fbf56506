"""The initial state of a clearing house. Everything after it happens through transactions."""

from __future__ import annotations

from paraclear.clearing.records import HouseConfig
from paraclear.state import State
from paraclear.state import keys as k


def genesis_state(config: HouseConfig) -> State:
    """A house with its configuration and nothing else: no instruments, no accounts."""
    return State({k.CONFIG: config})
