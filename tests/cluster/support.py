"""Tasks for the runner tests: importable, so that workers can unpickle them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from paraclear.sim.stress import Scenario, ScenarioResult, run_scenario


class DiesOnce:
    """Runs the scenario, except that the first worker to reach scenario ``victim`` kills its
    own process (SIGKILL, as the OOM killer or a lost machine would) before answering."""

    def __init__(self, victim: int, marker: Path) -> None:
        self.victim = victim
        self.marker = marker

    def __call__(self, scenario: Scenario) -> ScenarioResult:
        if scenario.index == self.victim:
            try:
                self.marker.open("x").close()
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return run_scenario(scenario)


def fails_on_odd(value: int) -> int:
    if value % 2:
        raise ValueError(f"odd {value}")
    return value * 10
