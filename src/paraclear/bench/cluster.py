"""Figures of ``paraclear.cluster``'s two jobs, measured side by side in one run.

``bench_stress``: the same scenarios on 1 and on N local workers (scenarios/s, and the
scenario's own time as its worker measured it), then on an embedded Ray instance of each
worker count, already started and its workers warm, so that what is left is Ray's cost per
scenario: ``(wall × workers − Σ scenario time) / scenarios``, which also counts idle workers
at the end of the run. Ray's start is reported apart.

``bench_replay``: a seeded chain with a snapshot every ``snapshot_every`` blocks, replayed
from genesis by the sequential replay and verified by segments on 1 and N local workers.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from paraclear.bench import machine
from paraclear.bench.store import write_chain
from paraclear.chain.replay import replay
from paraclear.chain.segments import Segment, replay_segments, verify_segment
from paraclear.chain.storage import BlockStore
from paraclear.cluster import Backend
from paraclear.cluster.ray_backend import import_ray
from paraclear.sim.stress import sample
from paraclear.sim.stress_run import StressRun, run_stress, warm_up

Say = Callable[[str], None]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _stress_row(run: StressRun, workers: int) -> dict[str, object]:
    n = run.ran
    own = run.worker_seconds / n if n else 0.0
    overhead = (run.wall_seconds * workers - run.worker_seconds) / n if n else 0.0
    return {
        "backend": run.backend,
        "workers": workers,
        "scenarios": n,
        "wall_seconds": round(run.wall_seconds, 3),
        "scenarios_per_second": round(n / run.wall_seconds, 3) if run.wall_seconds else 0,
        "scenario_seconds": round(own, 4),
        "overhead_per_scenario_seconds": round(overhead, 4),
        "overhead_share": round(overhead / own, 4) if own else 0,
        "failures": len(run.failures),
        "load_average": _load(),
    }


def bench_stress(
    scenarios: int, traders: int, workers: list[int], ray: bool, say: Say = lambda _: None
) -> dict[str, object]:
    """Rows per backend and worker count; every run's results are checked equal."""
    plan = sample(scenarios, 1, traders=traders)
    warm_up()
    rows, baseline = [], None
    for count in workers:
        say(f"local, {count} workers")
        run = run_stress(plan, Backend(count))
        baseline = _check_same(baseline, run)
        rows.append(_stress_row(run, count))
    if ray:
        ray_module = import_ray()
        for count in workers:
            say(f"Ray, {count} workers")
            started = time.perf_counter()
            ray_module.init(num_cpus=count, include_dashboard=False, logging_level="ERROR")
            try:
                run_stress(plan[: 2 * count], Backend(count, ray=True))  # start the workers
                start_seconds = time.perf_counter() - started
                run = run_stress(plan, Backend(count, ray=True))
            finally:
                ray_module.shutdown()
            baseline = _check_same(baseline, run)
            rows.append({**_stress_row(run, count), "ray_start_seconds": round(start_seconds, 3)})
    return {"machine": machine(), "traders": traders, "rows": rows}


def _check_same(baseline: StressRun | None, run: StressRun) -> StressRun:
    if baseline is not None and not all(
        a.same_outcome(b) for a, b in zip(baseline.results, run.results, strict=True)
    ):
        raise RuntimeError(f"{run.backend} gave other results than {baseline.backend}")
    return baseline or run


def bench_replay(
    blocks: int,
    snapshot_every: int,
    txs_per_block: int,
    accounts: int,
    workers: list[int],
    say: Say = lambda _: None,
) -> dict[str, object]:
    """The sequential replay and the segment replays of one chain, in one run."""
    with tempfile.TemporaryDirectory(prefix="paraclear-bench-replay-") as tmp:
        data_dir = Path(tmp)
        say(f"writing {blocks} blocks")
        write_chain(
            data_dir,
            accounts,
            blocks - 1,
            txs_per_block,
            snapshot_every=snapshot_every,
            keep_snapshots=blocks // snapshot_every + 2,
        )
        verify_segment(Segment(str(data_dir), 0, min(2, blocks)))  # warm the kernels
        say("sequential replay from genesis")
        with BlockStore.open(data_dir) as store:
            _, sequential = replay(store, "genesis")
        rows: list[dict[str, object]] = [
            {
                "how": "sequential replay",
                "workers": 1,
                "seconds": round(sequential.seconds, 3),
                "ok": sequential.ok,
                "load_average": _load(),
            }
        ]
        for count in workers:
            say(f"segments on {count} workers")
            report = replay_segments(data_dir, Backend(count))
            rows.append(
                {
                    "how": "segments",
                    "workers": count,
                    "seconds": round(report.seconds, 3),
                    "segments": len(report.segments),
                    "ok": report.ok,
                    "speedup": round(sequential.seconds / report.seconds, 3),
                    "load_average": _load(),
                }
            )
    return {
        "machine": machine(),
        "blocks": sequential.blocks,
        "txs": sequential.txs,
        "snapshot_every": snapshot_every,
        "rows": rows,
    }
