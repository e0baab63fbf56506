"""``paraclear simulate``: a generated workload through the sequential executor."""

from __future__ import annotations

import argparse
import json
from typing import Any

from paraclear.cli.args import add_engine_argument, add_spread_argument, float_in, int_in
from paraclear.cli.progress import ProgressLine
from paraclear.execution import BACKENDS, MAX_WORKERS
from paraclear.numbers import format_amount
from paraclear.sim.crash import CrashConfig, run_crash
from paraclear.sim.run import run_simulation
from paraclear.sim.workload import WorkloadConfig
from paraclear.warmup import warm


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="run a seeded workload of clearing transactions and report what happened",
        description=(
            "Generate a seeded market (BTC and ETH option chains and perpetuals, funded "
            "accounts, an index path) and execute blocks of mixed transactions: trades with "
            "margin checks, deposits, withdrawals, transfers, liquidations, funding and "
            "expiry. Prints throughput, failures by error type, invariant status and the "
            "final state root."
        ),
    )
    parser.add_argument(
        "--scenario",
        choices=["workload", "crash"],
        default="workload",
        help="workload: mixed transactions over many blocks; crash: a leveraged market, a "
        "-1.5%% dip, then -30%% in one block with volatility 60%% -> 150%%, liquidated "
        "block by block (liquidations, insurance fund, auto-deleveraging) (default workload)",
    )
    parser.add_argument(
        "--seed", type=int_in(0, 2**63 - 1), default=1, help="random seed (default 1)"
    )
    parser.add_argument(
        "--accounts",
        type=int_in(2, 1_000_000),
        default=None,
        help="number of trading accounts; fewer means more contention (default 1000; "
        "400 for the crash)",
    )
    parser.add_argument(
        "--blocks",
        type=int_in(0, 1_000_000),
        default=20,
        help="blocks after the setup block (default 20)",
    )
    parser.add_argument(
        "--txs-per-block",
        type=int_in(1, 1_000_000),
        default=500,
        help="transactions per block (default 500)",
    )
    parser.add_argument(
        "--hot-share",
        type=float_in(0.0, 1.0),
        default=0.0,
        help="share of trades whose maker is one of 2 hot accounts (default 0)",
    )
    parser.add_argument(
        "--pool-share",
        type=float_in(0.0, 1.0),
        default=0.0,
        help="share of transactions that go to the options pool: trades against it, LP "
        "deposits and redemptions, delta hedges (default 0)",
    )
    parser.add_argument(
        "--block-seconds",
        type=int_in(1, 86_400),
        default=60,
        help="block time step in seconds; the first expiry is 15 minutes in (default 60)",
    )
    parser.add_argument(
        "--margin",
        choices=["standard", "portfolio"],
        default="standard",
        help="margin model: per-position standard margin, or portfolio margin over scenario "
        "risk arrays (default standard)",
    )
    parser.add_argument(
        "--executor",
        choices=["sequential", "parallel"],
        default="sequential",
        help="executor to run the blocks on; both give the same state root (default sequential)",
    )
    parser.add_argument(
        "--workers",
        type=int_in(1, MAX_WORKERS),
        default=2,
        help=f"parallel executor's workers, 1 to {MAX_WORKERS} (default 2)",
    )
    parser.add_argument(
        "--backend",
        choices=list(BACKENDS),
        default="threads",
        help="parallel backend: worker threads in this process, or the same algorithm inline "
        "on one thread for debugging (default threads)",
    )
    add_engine_argument(parser, "the executor, sequential or parallel,")
    add_spread_argument(parser, "the parallel executor")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    parser.set_defaults(run=run)


def warmup_steps(args: argparse.Namespace) -> tuple[str, ...]:
    """The kernels these options use: the commitment and the marks always; the compiled
    engine's in the workload, on either executor; the parallel schedule; portfolio
    margin."""
    engine_runs = args.scenario == "workload" and args.engine == "compiled"
    engine = ("clearing kernels",) if engine_runs else ()
    schedule = ("block schedule",) if args.executor == "parallel" else ()
    margin = ("portfolio margin",) if args.margin == "portfolio" else ()
    return ("state tree", *schedule, *engine, "marks", *margin)


def run(args: argparse.Namespace) -> int:
    warm("simulate", ProgressLine(enabled=not args.quiet).show, steps=warmup_steps(args))
    if args.scenario == "crash":
        return _run_crash(args)
    config = WorkloadConfig(
        seed=args.seed,
        accounts=args.accounts or 1_000,
        txs_per_block=args.txs_per_block,
        hot_share=args.hot_share,
        pool_share=args.pool_share,
        block_seconds=args.block_seconds,
        portfolio_margin=args.margin == "portfolio",
    )
    line = ProgressLine(enabled=not args.quiet)

    def progress(number: int, blocks: int, txs: int, seconds: float) -> None:
        rate = txs / seconds if seconds else 0.0
        line.show(f"block {number}/{blocks}  {txs:,} txs  {rate:,.0f} tx/s", final=number == blocks)

    report = run_simulation(
        config,
        args.blocks,
        progress,
        executor=args.executor,
        workers=args.workers,
        backend=args.backend,
        engine=args.engine,
        spread=args.spread,
    )
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(_text(report.as_dict()))
    return 0 if report.invariants_ok else 1


def _pool_text(pool: dict[str, Any]) -> str:
    greeks = "; ".join(
        f"{u} delta {g['delta'] / 1e6:+,.3f}, vega {g['vega'] / 1e6:+,.0f} USDC/pt"
        for u, g in pool["greeks"].items()
    )
    return (
        f"options pool: NAV {pool['nav'] / 1e6:,.0f} USDC, {pool['positions']} positions, "
        f"volume {pool['volume'] / 1e6:,.0f} USDC, spread earned "
        f"{pool['spread_earned'] / 1e6:,.0f} USDC" + (f"; {greeks}" if greeks else "")
    )


def _text(summary: dict[str, Any]) -> str:
    failed = summary["failed_by_error"]
    lines = [
        f"seed {summary['seed']}, {summary['accounts']:,} accounts, {summary['blocks']} blocks",
        f"{summary['txs']:,} transactions in {summary['seconds']:.3f} s: "
        f"{summary['tps']:,.0f} tx/s ({_executor(summary)})",
        f"failed: {sum(failed.values()):,}"
        + "".join(f"\n  {code}: {n:,}" for code, n in failed.items()),
        "events:" + "".join(f"\n  {name}: {n:,}" for name, n in summary["events"].items()),
        "invariants: " + ("all hold" if summary["invariants_ok"] else "VIOLATED"),
        *(f"  {v}" for v in summary["invariant_violations"]),
        f"state root: {summary['state_root']}",
    ]
    if summary.get("pool"):
        lines.insert(-1, _pool_text(summary["pool"]))
    if summary["executor"] == "parallel":
        lines.insert(
            2,
            f"longest critical path {summary['critical_path_max']:,}, re-executions "
            f"{summary['reexecutions']:,}, sequential fallbacks {summary['fallbacks']}, "
            f"hot locks (last block): {', '.join(summary['hot_locks'])}",
        )
    return "\n".join(lines)


def _run_crash(args: argparse.Namespace) -> int:
    config = CrashConfig(
        seed=args.seed,
        traders=args.accounts or 400,
        portfolio_margin=args.margin == "portfolio",
        executor=args.executor,
        workers=args.workers,
        backend=args.backend,
        spread=args.spread,
    )
    report = run_crash(config).as_dict()
    print(json.dumps(report) if args.json else crash_text(report))
    return 0 if report["invariants_ok"] else 1


def crash_text(summary: dict[str, Any]) -> str:
    fund = summary["insurance_fund"]
    failed = summary["failed_by_error"]
    lines = [
        f"crash: seed {summary['seed']}, {summary['traders']:,} traders, index "
        f"-{summary['crash_ppm'] / 10_000:g}% then {summary['cascade_blocks']} liquidation "
        f"blocks (final index {summary['final_index']:,})",
        f"{summary['blocks']} blocks, {summary['txs']:,} transactions in "
        f"{summary['seconds']:.3f} s",
        f"liquidations: {summary['liquidations']:,} steps over "
        f"{summary['liquidated_accounts']:,} accounts",
        f"auto-deleveraging: {summary['adl_events']:,} fills against "
        f"{summary['deleveraged_accounts']:,} bankrupt accounts, absorbing "
        f"{format_amount(summary['adl_loss_absorbed'])} USDC",
        f"insurance fund: {format_amount(fund['before_crash'])} USDC before the crash; "
        f"{format_amount(fund['penalties_in'])} in from penalties, "
        f"{format_amount(fund['covered_out'])} out to cover deficits; final "
        f"{format_amount(fund['final'])}" + (" (exhausted)" if fund["exhausted"] else ""),
        f"bad debt left: {format_amount(summary['bad_debt'])} USDC",
        f"failed: {sum(failed.values()):,}"
        + "".join(f"\n  {code}: {n:,}" for code, n in failed.items()),
        "invariants: " + ("all hold" if summary["invariants_ok"] else "VIOLATED"),
        *(f"  {v}" for v in summary["invariant_violations"]),
        f"state root: {summary['state_root']}",
    ]
    return "\n".join(lines)


def _executor(summary: dict[str, Any]) -> str:
    engine = f"{summary['engine']} engine" if "engine" in summary else ""
    if summary["executor"] == "parallel":
        return ", ".join(filter(None, [f"parallel, {summary['workers']} workers", engine]))
    return ", ".join(filter(None, ["sequential", engine]))
