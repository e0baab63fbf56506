"""``paraclear stress``: many seeded crash scenarios, locally or on a Ray cluster."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import msgspec

from paraclear.cli.args import int_in
from paraclear.cli.cluster_args import add_ray_option, backend
from paraclear.cli.progress import ProgressLine
from paraclear.cli.simulate import crash_text
from paraclear.cluster import MissingRay, WorkerLost
from paraclear.sim.crash import run_crash
from paraclear.sim.stress import PARAMETERS, RANGES, Range, Scenario, ScenarioResult, sample
from paraclear.sim.stress_report import summarise, text, usdc
from paraclear.sim.stress_run import StressRun, run_stress

DEFAULT_RESULTS = "paraclear-stress.jsonl"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "stress",
        help="run many seeded crash scenarios (locally or on Ray) and report the tail",
        description=(
            "Draw SCENARIOS crash scenarios (index move and its speed, volatility shock, skew "
            "change, leverage, margin model and perpetual maintenance rate, liquidation "
            "penalty, insurance fund, seed) and run each through the clearing house: "
            "liquidation, insurance fund, auto-deleveraging, invariants after every block. "
            "Results are appended to a file as they arrive; a rerun skips the scenarios "
            "already there. Reports liquidations, ADL, the fund paid out, bad debt, the "
            "largest loss of an account, a loss exceedance curve, the worst scenarios (each "
            "rerunnable alone with --rerun) and the Cover-1/Cover-2 verdict. Runs on all "
            "cores of this machine, or with --ray on a Ray cluster "
            "(pip install 'paraclear[cluster]'). Exits 0 if every scenario ran with its "
            "invariants holding, 1 otherwise."
        ),
    )
    parser.add_argument(
        "--scenarios",
        type=int_in(1, 10_000_000),
        default=100,
        help="how many scenarios to draw (default 100)",
    )
    parser.add_argument(
        "--sample-seed",
        type=int_in(0, 2**63 - 1),
        default=1,
        help="seed of the sample: scenario i is the same for any --scenarios (default 1)",
    )
    parser.add_argument(
        "--traders",
        type=int_in(2, 100_000),
        default=400,
        help="accounts per scenario (default 400)",
    )
    parser.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH",
        help="override a parameter's range: LOW:HIGH integers, one value to fix it, or a "
        "list V1,V2,... to choose from (margin=standard,portfolio). Parameters and defaults: "
        + "; ".join(f"{n} {_range_text(r)}" for n, r in RANGES.items()),
    )
    parser.add_argument(
        "--grid",
        action="store_true",
        help="the parameters given as lists (--vary NAME=V1,V2,...) take every combination in "
        "turn instead of random choices; the others are still drawn per scenario",
    )
    parser.add_argument(
        "--workers",
        type=int_in(0, 4096),
        default=0,
        help="local worker processes, or CPUs of an embedded Ray instance (default 0: every core)",
    )
    add_ray_option(parser, "run the scenarios")
    parser.add_argument(
        "--results",
        default=DEFAULT_RESULTS,
        metavar="FILE",
        help=f"result file to append to and resume from (default {DEFAULT_RESULTS})",
    )
    parser.add_argument(
        "--worst", type=int_in(1, 1000), default=10, help="worst scenarios to list (default 10)"
    )
    parser.add_argument("--html", metavar="FILE", help="also write an HTML report with plots")
    parser.add_argument(
        "--heatmap",
        default="crash_ppm,insurance_fund",
        metavar="X,Y",
        help="the two parameters of the HTML heat map (default crash_ppm,insurance_fund)",
    )
    parser.add_argument(
        "--rerun",
        metavar="JSON",
        help="run one scenario (as a report's worst list prints it) and show the crash in full",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.rerun is not None:
        return _rerun(args)
    heatmap = _heatmap(args.heatmap)
    scenarios = sample(
        args.scenarios, args.sample_seed, _ranges(args.vary), args.traders, grid=args.grid
    )
    line = ProgressLine(enabled=not args.quiet)
    try:
        run = run_stress(scenarios, backend(args), args.results, _progress(line, len(scenarios)))
    except MissingRay as error:
        print(f"paraclear stress: {error}", file=sys.stderr)
        return 2
    except WorkerLost as error:
        print(f"paraclear stress: {error}; rerun to resume from {args.results}", file=sys.stderr)
        return 1
    summary = summarise(run, args.worst)
    if args.html:
        from paraclear.sim.stress_html import write_html

        write_html(run, summary, heatmap, args.html)
    print(json.dumps(summary) if args.json else text(summary))
    ok = not run.failures and not summary["invariants_violated"]
    return 0 if ok and len(run.results) == len(scenarios) else 1


def _progress(line: ProgressLine, total: int) -> Any:
    worst: list[ScenarioResult] = []

    def show(run: StressRun, result: ScenarioResult | None) -> None:
        if result is not None and (not worst or result.shortfall > worst[0].shortfall):
            worst[:] = [result]
        done = len(run.results)
        rate = run.ran / run.wall_seconds if run.wall_seconds else 0.0
        eta = (total - done - len(run.failures)) / rate if rate else 0.0
        top = (
            f"worst shortfall {usdc(worst[0].shortfall)} USDC (#{worst[0].scenario.index})"
            if worst
            else "no result yet"
        )
        line.show(
            f"scenarios {done:,}/{total:,}  failures {len(run.failures)}  {top}  "
            f"{rate:.2f}/s  ETA {eta:,.0f} s",
            final=done + len(run.failures) == total,
        )

    return show


def _ranges(items: list[str]) -> dict[str, Range]:
    ranges: dict[str, Range] = {}
    for item in items:
        name, _, spec = item.partition("=")
        if name not in PARAMETERS or not spec:
            raise ValueError(
                f"--vary {item!r}: expected NAME=LOW:HIGH or NAME=V1,V2,..., NAME one of "
                f"{', '.join(PARAMETERS)}"
            )
        ranges[name] = _range(item, name, spec)
    return ranges


def _range(item: str, name: str, spec: str) -> Range:
    if name == "margin":
        margins = tuple(spec.split(","))
        if not set(margins) <= {"standard", "portfolio"}:
            raise ValueError(f"--vary {item!r}: margin is standard and/or portfolio")
        return Range(choices=margins)
    try:
        if "," in spec:
            return Range(choices=tuple(int(v) for v in spec.split(",")))
        low, _, high = spec.partition(":")
        found = Range(int(low), int(high or low))
    except ValueError:
        raise ValueError(f"--vary {item!r}: values must be integers") from None
    if found.low > found.high:
        raise ValueError(f"--vary {item!r}: LOW is above HIGH")
    return found


def _heatmap(spec: str) -> tuple[str, str]:
    x, _, y = spec.partition(",")
    numeric = [p for p in PARAMETERS if p != "margin"]
    if x not in numeric or y not in numeric or x == y:
        raise ValueError(f"--heatmap {spec!r}: two different parameters of {', '.join(numeric)}")
    return x, y


def _range_text(r: Range) -> str:
    return ",".join(map(str, r.choices)) if r.choices else f"{r.low}:{r.high}"


def _rerun(args: argparse.Namespace) -> int:
    try:
        scenario = msgspec.json.decode(args.rerun, type=Scenario)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ValueError(f"--rerun: not a scenario: {error}") from None
    report = run_crash(scenario.config()).as_dict()
    print(json.dumps(report) if args.json else crash_text(report))
    return 0 if report["invariants_ok"] else 1
