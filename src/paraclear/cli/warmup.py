"""``paraclear warmup``: compile (or load from numba's cache) the kernels a command needs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from paraclear.cli.args import int_in
from paraclear.cli.progress import ProgressLine
from paraclear.warmup import WarmupReport, warm
from paraclear.warmup_steps import COMMANDS

DESCRIPTION = """\
Compile the numba kernels that COMMAND uses (default: all of them), or load them from
numba's cache, and print how long each step took and which kernels compiled, with their
seconds. The first run on a machine compiles (tens of seconds); later runs load the
compiled code from the cache (next to the package's sources, in the user cache directory,
or in NUMBA_CACHE_DIR). When the cache is cold, other processes (one per core) compile
later steps while this one compiles the first: each process claims the next step (and
parts of steps: kernels another step calls, compiled ahead) as soon as it is free, the
longest chain of work first. demo, serve, simulate and replay run this
step themselves when they start; running it ahead (for instance while building an image)
makes their first start fast."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "warmup",
        help="compile the numba kernels ahead of use and report the seconds per kernel",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--command", choices=list(COMMANDS), default="all",
        help="the command whose kernels to compile (default all)",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=int_in(1, 64), default=None,
        help="processes compiling at once when the cache is cold (default: one per core; 1: "
        "all in this process)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = warm(args.command, ProgressLine(enabled=not args.quiet).show, args.processes)
    print(json.dumps(report.as_json()) if args.json else text(report))
    return 0


def text(report: WarmupReport) -> str:
    """One line per step (compiled or loaded, where, seconds), then one per compiled
    kernel, and the CPU seconds of each process that compiled."""
    how = "compiled" if report.compiled else "loaded from numba's cache"
    lines = [
        f"kernels for {report.command}: {how} in {report.seconds:.2f} s "
        f"({report.cpu_seconds:.2f} s CPU)",
        f"  {'step / kernel compiled':<56} {'wall s':>7} {'CPU s':>7}",
    ]
    for step in report.steps:
        state = "compiled" if step.compiled else "cached"
        if step.process:
            state += f" in process {step.process}"
        lines.append(
            f"  {step.step + ' (' + state + ')':<56} {step.seconds:7.2f} {step.cpu_seconds:7.2f}"
        )
        lines.extend(
            f"    {k.kernel:<54} {k.seconds:7.2f} {k.cpu_seconds:7.2f}" for k in step.compiled
        )
    if len(report.processes) > 1:
        each = ", ".join(f"{seconds:.2f}" for seconds in report.processes)
        lines.append(f"  CPU s of each process (this one first; others from start): {each}")
    return "\n".join(lines)
