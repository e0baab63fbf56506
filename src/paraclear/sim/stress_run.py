"""A stress run: the scenarios not yet in the result file, on a backend, as they finish."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paraclear.cluster import Backend, run_tasks
from paraclear.sim.stress import Scenario, ScenarioResult, run_scenario
from paraclear.sim.stress_file import ResultFile


@dataclass
class StressRun:
    """Results of a run in scenario order (those resumed from the file included)."""

    scenarios: list[Scenario]
    results: list[ScenarioResult]
    failures: dict[int, str] = field(default_factory=dict)
    """Scenario index to the error its task raised (not written: a rerun retries it)."""
    resumed: int = 0
    """Results read back from the file instead of run."""
    wall_seconds: float = 0.0
    """Wall time of the scenarios run this time (not the resumed ones)."""
    worker_seconds: float = 0.0
    """Σ of those scenarios' own times, as their workers measured them."""
    backend: str = ""

    @property
    def ran(self) -> int:
        return len(self.results) - self.resumed


Progress = Callable[[StressRun, ScenarioResult | None], None]
"""Called after each scenario finishes (``None``: it failed)."""


def run_stress(
    scenarios: Sequence[Scenario],
    backend: Backend,
    results_path: str | Path | None = None,
    progress: Progress | None = None,
) -> StressRun:
    """Run every scenario whose result ``results_path`` does not hold yet, appending each
    result to it as it arrives."""
    file = ResultFile(results_path) if results_path is not None else None
    known = file.load() if file is not None else {}
    done = {s.key: known[s.key] for s in scenarios if s.key in known}
    todo = [s for s in scenarios if s.key not in done]
    run = StressRun(list(scenarios), list(done.values()), resumed=len(done))
    run.backend = backend.describe()
    started = time.perf_counter()
    if todo and not backend.ray:
        warm_up()
        started = time.perf_counter()
    if todo:
        for outcome in run_tasks(run_scenario, todo, backend):
            scenario = todo[outcome.index]
            result = outcome.value
            if result is None:
                run.failures[scenario.index] = outcome.error or "no result"
            else:
                if file is not None:
                    file.append(result)
                done[scenario.key] = result
                run.results.append(result)
                run.worker_seconds += outcome.worker_seconds
            run.wall_seconds = time.perf_counter() - started
            if progress is not None:
                progress(run, result)
    run.results = [done[s.key] for s in scenarios if s.key in done]
    return run


def warm_up() -> None:
    """Run two tiny scenarios (both margin models) so that forked workers inherit every
    kernel compiled and every lazy import done, instead of paying for it each."""
    for margin in ("standard", "portfolio"):
        run_scenario(Scenario(index=-1, sample_seed=0, seed=1, traders=12, margin=margin))
