"""``paraclear demo``: the agent market through a node, its replay, and the report."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from paraclear.chain.storage import DB_NAME
from paraclear.cli.args import add_engine_argument, add_spread_argument, int_in
from paraclear.cli.progress import ProgressLine
from paraclear.execution import BACKENDS, MAX_WORKERS
from paraclear.sim.compare import compare_replay
from paraclear.sim.records import MarketRun, TickRecord
from paraclear.sim.report import DemoReport, summary, text
from paraclear.warmup import warm

DEFAULT_MINUTES: Final = 120
DEFAULT_ACCOUNTS: Final = 200
REPORT_NAME: Final = "paraclear-report.html"
"""The HTML report's file, in ``--data-dir`` if given, else in the system's temporary
directory: never the working directory (a checkout) unless asked."""
TICKS_PER_LINE: Final = 10
"""Market progress: one line per this many ticks (simulated minutes)."""

DESCRIPTION: Final = """\
Start a clearing-house node in this process on a fresh data directory and run an agent
market through its API for --minutes simulated minutes (one tick each): market makers quote
BTC option chains from an SVI surface and their own Greeks and delta-hedge with the
perpetual, directional and volatility takers trade against them, liquidators watch margin,
and the index follows a seeded path with a crash (a jump down and a volatility spike) about
60% of the way in. Then every block the node committed is re-executed from genesis twice,
one transaction at a time (the sequential executor) and on --workers workers (the parallel
executor, on --backend), both with --engine, and each block's state root and receipts are
checked against the log.

Reading the report: "orders/s" is the agents' order operations per second of wall time;
"speedup" is sequential over parallel execution time of the same blocks (total, and the
median of per-block ratios), beside this machine's ceiling: how much faster as many threads,
each running the same compiled kernels on its own copy of a block, went than one thread,
measured on a few blocks during the replay, and the bound: the most as many threads could
gain when only the compiled calls (kernels, value hashes, tree: their share of the
sequential replay is given) run on all of them at once and the Python around them on one
at a time (Amdahl); "blocks run by the workers" counts the blocks the parallel executor
spread over its workers, the others running in its own thread because the schedule or
what spreading has cost on this machine so far said they would lose (on a box whose
workers share one interpreter lock, most of them); "roots equal: yes" means both executors
reproduced every block bit for bit. Liquidations, insurance-fund backstops and
auto-deleverages show how the crash was absorbed; the critical path (the longest chain of
transactions on the same locks, as a share of the block) and the hot keys say what limits
the speedup; the market makers' Greeks table shows their risk before, at and after the
crash. The HTML report has the plots (price path, throughput and speedup per block,
contention, liquidations with the insurance fund, the implied-vol smile before and after
the crash, the Greeks over time).

Progress goes to standard error; the report (or --json's one object) to standard output.
Exits 0 when the roots are equal, 1 when they are not."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run an agent market with a crash through a node, replay it sequentially and in "
        "parallel, and report (text, --json, HTML)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--minutes", type=int_in(2, 10_000), default=DEFAULT_MINUTES,
        help=f"simulated minutes (ticks) to run (default {DEFAULT_MINUTES})",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int_in(0, 2**63 - 1), default=1, help="random seed (default 1)"
    )
    parser.add_argument(
        "--accounts", type=int_in(4, 100_000), default=DEFAULT_ACCOUNTS,
        help=f"trading accounts (fewer: more contention; default {DEFAULT_ACCOUNTS})",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int_in(1, MAX_WORKERS), default=2,
        help=f"workers of the parallel replay, 1 to {MAX_WORKERS} (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--backend", choices=list(BACKENDS), default="threads",
        help="the parallel replay's backend: worker threads in this process, or inline on "
        "one thread (default threads)",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="the node's data directory, kept afterwards (default: a fresh temporary "
        "directory, removed afterwards); it must not hold a chain yet",
    )  # fmt: skip
    parser.add_argument(
        "--html", default=None, metavar="PATH",
        help=f"where to write the HTML report (default: {REPORT_NAME} in --data-dir if "
        "given, else in the system's temporary directory; '-' for none)",
    )  # fmt: skip
    add_engine_argument(parser, "each replay, sequential and parallel,")
    add_spread_argument(parser, "the parallel replay")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from paraclear.bench.ceiling import measure_ceiling
    from paraclear.sim.report_html import write_html  # matplotlib: only when needed

    line = ProgressLine(enabled=not args.quiet)
    warm("demo", line.show)
    html = report_path(args.html, args.data_dir)
    with _data_dir(args.data_dir) as data_dir:
        market = run_market(data_dir, args, _tick_progress(line, args.minutes))
        expected = bytes.fromhex(market.final_root) if market.final_root else None
        comparison = compare_replay(
            data_dir,
            workers=args.workers,
            backend=args.backend,
            expected_root=expected,
            progress=_replay_progress(line),
            engine=args.engine,
            spread=args.spread,
            ceiling=lambda state, block, model: measure_ceiling(
                state.data, block, model, args.workers
            ),
        )
    report = DemoReport(market, comparison, html=html)
    if html is not None:
        write_html(report, html)
    print(json.dumps(summary(report)) if args.json else text(report))
    return 0 if comparison.roots_equal else 1


def report_path(given: str | None, data_dir: Path | None) -> Path | None:
    """Where the HTML report goes: ``given`` ('-': nowhere), else ``REPORT_NAME`` in the
    data directory if one was given, else in the system's temporary directory."""
    if given == "-":
        return None
    if given is not None:
        return Path(given)
    return (data_dir or Path(tempfile.gettempdir())) / REPORT_NAME


def run_market(
    data_dir: Path, args: argparse.Namespace, progress: Callable[[TickRecord], None]
) -> MarketRun:
    """The agent market (``paraclear.sim.market.run_market``) on ``data_dir``."""
    from paraclear.sim.market import MarketConfig
    from paraclear.sim.market import run_market as run

    config = MarketConfig(
        data_dir=data_dir, seed=args.seed, accounts=args.accounts, minutes=args.minutes
    )
    return run(config, progress=progress)


@contextmanager
def _data_dir(given: Path | None) -> Iterator[Path]:
    """The given directory (kept), or a fresh temporary one removed afterwards."""
    if given is not None:
        if (given / DB_NAME).exists():
            raise ValueError(f"{given} already holds a chain; give a new or empty directory")
        yield given
        return
    made = Path(tempfile.mkdtemp(prefix="paraclear-demo-"))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def _tick_progress(line: ProgressLine, minutes: int) -> Callable[[TickRecord], None]:
    """A line every ``TICKS_PER_LINE`` ticks: minute, index, orders so far and orders/s."""
    seen = [0, 0]  # ticks, orders
    started = time.monotonic()

    def show(tick: TickRecord) -> None:
        seen[0] += 1
        seen[1] += tick.orders
        number = seen[0]
        if number % TICKS_PER_LINE and number != minutes:
            return
        elapsed = time.monotonic() - started
        rate = seen[1] / elapsed if elapsed else 0.0
        line.show(
            f"market: minute {number}/{minutes}  index {tick.index:,.0f}  "
            f"orders {seen[1]:,}  {rate:,.0f} orders/s  height {tick.height:,}",
            final=number == minutes,
        )

    return show


def _replay_progress(line: ProgressLine) -> Callable[[int, int, float, float], None]:
    shown = [0.0]

    def show(height: int, tip: int, sequential: float, parallel: float) -> None:
        now = time.monotonic()
        if height == tip or now - shown[0] >= 0.5:
            shown[0] = now
            speedup = sequential / parallel if parallel else 0.0
            line.show(
                f"replay: block {height:,}/{tip:,}  sequential {sequential:.2f} s  "
                f"parallel {parallel:.2f} s  x{speedup:.2f}",
                final=height == tip,
            )

    return show
