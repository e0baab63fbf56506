"""``paraclear bench stress`` and ``paraclear bench replay``: the cluster jobs' figures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from paraclear.cli.args import int_in, int_list


def register(which: Any) -> None:
    stress = which.add_parser(
        "stress",
        help="stress scenarios/s on 1 and N workers, locally and on Ray, and Ray's overhead",
        description=(
            "Runs the same sample of crash scenarios on each local worker count, then (with "
            "--ray) on an embedded Ray instance of each count, started and warmed up first. "
            "Each row: scenarios/s, the scenario's own time, and the overhead per scenario "
            "(wall x workers - the scenarios' own time, per scenario), with the load average. "
            "Fails if any two runs give different results."
        ),
    )
    stress.add_argument(
        "--scenarios", type=int_in(1, 100_000), default=40, help="scenarios per run (default 40)"
    )
    stress.add_argument(
        "--traders",
        type=int_in(2, 100_000),
        default=400,
        help="accounts per scenario (default 400)",
    )
    stress.add_argument(
        "--workers",
        type=int_list(1, 4096),
        default=[1, 2],
        help="worker counts, comma-separated (default 1,2)",
    )
    stress.add_argument("--ray", action="store_true", help="also run on Ray")
    stress.add_argument("--json", action="store_true", help="print one JSON object")
    stress.set_defaults(run=_run_stress)
    replay = which.add_parser(
        "replay",
        help="parallel replay by segments between snapshots vs the sequential replay",
        description=(
            "Writes a seeded chain with a snapshot every --snapshot-every blocks, replays it "
            "from genesis with the sequential replay, then verifies it by segments on each "
            "worker count, in one run. Each row: seconds, speedup over sequential, load."
        ),
    )
    replay.add_argument(
        "--blocks",
        type=int_in(2, 1_000_000),
        default=2_000,
        help="blocks in the chain, the setup block included (default 2000)",
    )
    replay.add_argument(
        "--snapshot-every",
        type=int_in(1, 1_000_000),
        default=100,
        help="blocks between snapshots (default 100)",
    )
    replay.add_argument(
        "--txs-per-block",
        type=int_in(1, 100_000),
        default=25,
        help="transactions per block (default 25)",
    )
    replay.add_argument(
        "--accounts", type=int_in(2, 1_000_000), default=1_000, help="accounts (default 1000)"
    )
    replay.add_argument(
        "--workers",
        type=int_list(1, 4096),
        default=[1, 2],
        help="worker counts, comma-separated (default 1,2)",
    )
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.set_defaults(run=_run_replay)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _run_stress(args: argparse.Namespace) -> int:
    from paraclear.bench.cluster import bench_stress

    result = bench_stress(args.scenarios, args.traders, args.workers, args.ray, _say)
    if args.json:
        print(json.dumps(result))
        return 0
    for row in result["rows"]:  # type: ignore[attr-defined]
        print(
            f"{row['backend']}: {row['scenarios_per_second']} scenarios/s, "
            f"{row['scenario_seconds']} s each, overhead {row['overhead_per_scenario_seconds']}"
            f" s per scenario ({row['overhead_share']:.1%}), load {row['load_average']}"
        )
    return 0


def _run_replay(args: argparse.Namespace) -> int:
    from paraclear.bench.cluster import bench_replay

    result = bench_replay(
        args.blocks, args.snapshot_every, args.txs_per_block, args.accounts, args.workers, _say
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['blocks']:,} blocks, {result['txs']:,} txs, a snapshot every "
        f"{result['snapshot_every']}"
    )
    for row in result["rows"]:  # type: ignore[attr-defined]
        speedup = f", {row['speedup']}x" if "speedup" in row else ""
        print(
            f"{row['how']} on {row['workers']}: {row['seconds']} s{speedup}, ok "
            f"{row['ok']}, load {row['load_average']}"
        )
    return 0
