"""``paraclear bench exec``: engines and executors side by side on the same blocks, with the
share of each stage of the sequential run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from paraclear.bench import COMMITS, MARGINS, MIXES, WARM_UP_BLOCKS
from paraclear.bench.stages import STAGES
from paraclear.clearing import ENGINES
from paraclear.cli.args import int_in, int_list
from paraclear.execution import BACKENDS, MAX_WORKERS, SPREADS


def register(which: Any) -> None:
    exec_ = which.add_parser(
        "exec",
        help="execution throughput: engines and executors side by side, stage by stage",
        description=(
            "Blocks of one mix over each number of accounts (fewer accounts, more contention)."
            " 'trades': Trade transactions (maker and taker agreed off-chain). 'orders': the "
            "node's order flow, built by its block builder: placements (makers resting limit "
            "and post-only orders around the mark, takers crossing with limit, "
            "immediate-or-cancel and market orders), amends and cancels of open orders, and "
            "the SettleFill of every match and the CloseOrder of every order the books left "
            "with less open. After a setup block and --warmup blocks (two by default), every "
            "block is "
            "encoded once, then run end to end by the sequential executor of each engine, each"
            " on its own copy of state, timed by stage: decode (msgspec, the block store's "
            "wire format), access sets, execution, receipts (encoded as stored), commit "
            "(State.apply), root, Python's garbage collector (wherever it ran), and the rest; "
            "commit is split into encoding, value hashes and the tree, and the compiled "
            "engine's execution into its glue, kernels, receipt objects, flushes, reference "
            "handlers and table loads (with the kernels' own rate). "
            "For each worker count above 0 the parallel executor runs the same blocks too, on "
            "each backend and spread policy; before each measured block, the box's ceiling "
            "for that many workers is measured: how much faster that many threads, each "
            "running the block's compiled kernels on its own copy of the tables, get through "
            "them than one thread. Each row (account count, engine, worker count, backend, "
            "spread policy): tx/s end to end (wall time, and per CPU second) and of the "
            "sequential executor alone; "
            "seconds per block, microseconds per transaction and share of each stage "
            "(medians over the measured blocks); how many times faster than the reference "
            "engine (median of per-block ratios, of wall and of CPU time); the parallel "
            "executor's tx/s, its speedup over the compiled engine's sequential executor, the "
            "ceiling and the efficiency (speedup / ceiling), and the bound: Amdahl's for that "
            "many threads, from the share of the sequential executor's time spent in "
            "compiled calls that release the interpreter lock (kernels, value hashes, tree; "
            "the rest is Python, which threads run one at a time); the share of the "
            "measured blocks the workers ran (spread_share; the others ran in the "
            "coordinator), the share it planned (planned_share; once the measured cost of "
            "spreading rules out every schedule, blocks run unplanned) and the cost factor "
            "the policy planned with; the blocks' critical path and hot locks (from their "
            "access sets on their start state, untimed); and "
            "whether every state root and receipt came out equal (for the order flow, to the "
            "builder's dry run as well; exit status 1 if not), and the keys the state held "
            "as the measured blocks began (state_keys: a block costs more over a larger "
            "state, and the order flow's books deepen as makers' orders rest). Also writes a "
            "PNG plot of speedup against contention."
        ),
    )
    exec_.add_argument(
        "--mix", choices=list(MIXES), default="trades", help="what the blocks hold (default trades)"
    )
    exec_.add_argument(
        "--margin",
        choices=list(MARGINS),
        default="standard",
        help="the accounts' margin model (default standard); rows name it in 'margin'",
    )
    exec_.add_argument(
        "--engine",
        nargs="+",
        choices=list(ENGINES),
        default=list(ENGINES),
        metavar="ENGINE",
        help=f"engines to run side by side, of {', '.join(ENGINES)} (default all of them)",
    )
    exec_.add_argument(
        "--commit",
        nargs="+",
        choices=list(COMMITS),
        default=["hashed"],
        metavar="COMMIT",
        help="how the compiled engine's sequential executor commits, side by side on the "
        "same blocks, each on its own state, which one runs first turning from block to "
        "block: 'hashed' (its hot keys' tree paths and value hashes computed in compiled "
        "code from its tables), 'plain' (every key encoded and hashed by State.apply, as "
        "the reference engine's are); default hashed. Rows name it in 'commit'",
    )
    exec_.add_argument(
        "--builder-engine",
        choices=list(ENGINES),
        default="compiled",
        help="engine of the block builder's dry run of the order flow, as 'serve --engine' "
        "(default compiled); its time per block, matching excluded, is reported",
    )
    exec_.add_argument(
        "--accounts",
        type=int_list(2, 1_000_000),
        default=[2, 10, 100, 1_000, 10_000],
        help="comma-separated account counts (default 2,10,100,1000,10000)",
    )
    exec_.add_argument(
        "--workers",
        type=int_list(0, MAX_WORKERS),
        default=[1, 2],
        help=f"comma-separated worker counts of the parallel executor, each 0 to {MAX_WORKERS} "
        "(0: the sequential executor alone; default 1,2)",
    )
    exec_.add_argument(
        "--txs",
        type=int_in(1, 1_000_000),
        default=10_000,
        help="transactions per block (default 10000; with --mix orders the builder's fills "
        "and closes are counted, so blocks come out near this size)",
    )
    exec_.add_argument(
        "--backend",
        nargs="+",
        choices=list(BACKENDS),
        default=["threads"],
        metavar="BACKEND",
        help=f"parallel backends to run side by side, of {', '.join(BACKENDS)} (default threads)",
    )
    exec_.add_argument(
        "--spread",
        nargs="+",
        choices=list(SPREADS),
        default=["measured"],
        metavar="POLICY",
        help="how the parallel executor decides to spread a block over its workers, one "
        "run per policy side by side: measured (default: what a spread transaction costs "
        "against one run in the coordinator, measured on this box as blocks run) or model "
        "(the schedule's model alone, every spread transaction as dear as a sequential one: "
        "the workers run whenever the block's rounds look cheaper)",
    )
    exec_.add_argument(
        "--plot",
        default="paraclear-bench-exec.png",
        metavar="PATH",
        help="where to write the PNG plot of speedup (default paraclear-bench-exec.png; "
        "'-' for none)",
    )
    exec_.add_argument(
        "--repeats", type=int_in(1, 100), default=3, help="measured blocks (default 3)"
    )
    exec_.add_argument(
        "--warmup",
        type=int_in(0, 1_000),
        default=WARM_UP_BLOCKS,
        metavar="BLOCKS",
        help=f"blocks run after the setup block before the measured ones (default "
        f"{WARM_UP_BLOCKS}); the order flow's books deepen from block to block, so more "
        "measure a larger state (rows give it as state_keys)",
    )
    exec_.add_argument(
        "--quote-life",
        type=int_in(0, 1_000),
        default=0,
        metavar="BLOCKS",
        help="the order flow's orders are good for this many blocks, after which the "
        "builder expires what is left of them (default 0: until cancelled or filled, and "
        "the books deepen from block to block); with a life the books stop deepening (the "
        "state still grows as accounts open positions in more instruments)",
    )
    exec_.add_argument("--json", action="store_true", help="print one JSON object")
    exec_.set_defaults(run=_run_exec)


def _run_exec(args: argparse.Namespace) -> int:
    from paraclear.bench.core import bench_exec
    from paraclear.bench.plot import plot_speedup

    if args.quote_life and args.mix != "orders":
        print("paraclear bench exec: --quote-life needs --mix orders", file=sys.stderr)
        return 2

    engines = list(dict.fromkeys(args.engine))
    workers = list(dict.fromkeys(args.workers)) or [0]
    result = bench_exec(
        args.accounts,
        args.txs,
        args.repeats,
        _say,
        workers=workers,
        backends=list(dict.fromkeys(args.backend)),
        spreads=list(dict.fromkeys(args.spread)),
        mix=args.mix,
        engines=engines,
        builder=args.builder_engine,
        commits=list(dict.fromkeys(args.commit)),
        margin=args.margin,
        warmup=args.warmup,
        quote_life=args.quote_life,
    )
    if args.plot != "-" and plot_speedup(result, args.plot):
        _say(f"plot written to {args.plot}")
    print(json.dumps(result) if args.json else text(result))
    return 0 if _all_equal(result["rows"]) else 1  # type: ignore[arg-type]


def _spread(row: dict[str, Any]) -> str:
    """The row's spread policy and the share of its blocks the workers ran (``-``: none)."""
    if row["spread_policy"] is None:
        return "-"
    return f"{row['spread_policy'][:5]} {row['spread_share']:.0%}"


def _all_equal(rows: list[dict[str, Any]]) -> bool:
    return all(row["roots_equal"] and row["receipts_equal"] for row in rows)


def text(result: dict[str, Any]) -> str:
    """The rows as a table, then each engine's stages per account count."""
    rows: list[dict[str, Any]] = result["rows"]
    lines = [
        f"mix {result['mix']}, {result['margin']} margin, "
        f"load average {' '.join(map(str, result['load_average']))}",
        "speedup: over the compiled engine's sequential executor; ceiling: the box's, for as "
        "many threads as workers; efficiency: speedup / ceiling; bound: Amdahl's for as many "
        "threads, from the sequential time's share in compiled calls (compiled)",
        f"{'accounts':>9} {'engine':>10} {'commit':>6} {'workers':>7} {'backend':>9} "
        f"{'spread':>8} {'txs':>6} "
        f"{'e2e tx/s':>9} {'seq tx/s':>9} {'x ref':>6} {'par tx/s':>9} {'speedup':>7} "
        f"{'ceiling':>7} {'effic.':>6} {'bound':>6} {'compiled':>8} {'crit.path':>9} "
        f"{'roots':>6} {'receipts':>8}",
    ]
    for r in rows:
        lines.append(
            f"{r['accounts']:>9,} {r['engine']:>10} {r['commit']:>6} {r['workers']:>7} "
            f"{r['backend'] or '-':>9} {_spread(r):>8} {r['txs']:>6,} "
            f"{r['e2e_tps']:>9,.0f} {r['seq_tps']:>9,.0f} {_cell(r['vs_reference'], '.2f'):>6} "
            f"{_cell(r['par_tps'], ',.0f'):>9} {_cell(r['speedup'], '.2f'):>7} "
            f"{_cell(r['ceiling'], '.2f'):>7} {_cell(r['efficiency'], '.2f'):>6} "
            f"{_cell(r['bound'], '.2f'):>6} {r['compiled_share']:>8.1%} "
            f"{_cell(r['critical_path'], ','):>9} "
            f"{'equal' if r['roots_equal'] else 'DIFFER':>6} "
            f"{'equal' if r['receipts_equal'] else 'DIFFER':>8}"
        )
    seen: set[tuple[int, str, str]] = set()
    for r in rows:
        if (r["accounts"], r["engine"], r["commit"]) in seen:
            continue
        if r["dry_run"] is not None and r["accounts"] not in {a for a, _, _ in seen}:
            lines += _dry_run_lines(r["accounts"], result["builder"], r["dry_run"])
        seen.add((r["accounts"], r["engine"], r["commit"]))
        lines.append(
            f"\n{r['accounts']:,} accounts, {r['engine']} engine, {r['commit']} commit, "
            "sequential, "
            f"{r['txs']:,} txs per block ({_composition(r['composition'])}); "
            f"{r['e2e_cpu_tps']:,.0f} tx per CPU second ({_cell(r['vs_reference_cpu'], '.2f')} "
            f"times the reference's); over a state of {r['state_keys']:,} keys, "
            f"{r['keys_written']:,} keys written, "
            f"commit and root {r['seq_commit_ms_per_1000_keys']} us per key:"
        )
        if r["kernel_tps"] is not None:
            lines.append(
                f"  the kernels alone: {r['kernel_tps']:,.0f} tx/s "
                f"({r['kernel_txs']:,} of the block's txs ran in them)"
            )
        lines.append(f"  {'stage':<14} {'s/block':>8} {'us/tx':>8} {'share':>6}")
        for stage in STAGES:
            lines.append(_stage_line(stage, r["stages"][stage], 2))
            for part, figures in r["parts"].get(stage, {}).items():
                lines.append(_stage_line(part, figures, 4))
    return "\n".join(lines)


def _dry_run_lines(accounts: int, engine: str, dry_run: dict[str, Any]) -> list[str]:
    """The builder's dry run of the blocks at ``accounts`` accounts, with its parts."""
    lines = [
        f"\n{accounts:,} accounts, the builder's dry run ({engine} engine, matching excluded): "
        f"{dry_run['ms']:,.1f} ms per block, {dry_run['us_per_tx']:.2f} us per tx"
    ]
    for part, figures in (dry_run["parts"] or {}).items():
        lines.append(_stage_line(part, figures, 4))
    return lines


def _stage_line(name: str, figures: dict[str, float], indent: int) -> str:
    """One stage (or part, indented further) of a row: seconds per block, us per tx, share."""
    return (
        f"{'':<{indent}}{name:<{16 - indent}} {figures['seconds']:>8.4f} "
        f"{figures['us_per_tx']:>8.2f} {figures['share']:>6.1%}"
    )


def _cell(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec``; '-' where it was not measured."""
    return "-" if value is None else format(value, spec)


def _composition(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in shares.items())


def _say(text: str) -> None:
    print(text, file=sys.stderr)
