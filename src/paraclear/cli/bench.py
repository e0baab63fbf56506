"""``paraclear bench``: throughput figures, measured side by side in one run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from paraclear.cli import bench_api, bench_cluster, bench_exec, chaos
from paraclear.cli.args import float_in, float_list, int_in, int_list


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure throughput (execution, state root, order books, risk engine, signatures, "
        "block store)",
        description="Benchmarks. Each prints medians and the machine; --json prints one object.",
    )
    which = parser.add_subparsers(
        dest="bench", required=True, metavar="BENCH", parser_class=type(parser)
    )
    bench_exec.register(which)
    root = which.add_parser(
        "root",
        help="state commitment: reference vs compiled tree, per stage",
        description=(
            "Commit changed keys and recompute the state root with the reference (Python) "
            "tree and the compiled tree (one thread and all), side by side: batches of random "
            "keys in a large state, and the write set of a block of fills executed by the "
            "clearing house's compiled engine, committed plain (every key encoded and hashed "
            "in Python) and hashed (its hot keys' paths and value hashes computed from the "
            "engine's tables, as the engine commits its own blocks). Each row splits the "
            "commit into rows (the hashed commit's), encode, value hashes, tree and root "
            "(medians)."
        ),
    )
    root.add_argument(
        "--state-keys",
        type=int_in(1, 10_000_000),
        default=100_000,
        help="keys in the state (default 100000)",
    )
    root.add_argument(
        "--changed",
        type=int_in(1, 1_000_000),
        default=1_000,
        help="keys changed per batch (default 1000)",
    )
    root.add_argument(
        "--fills",
        type=int_in(0, 100_000),
        default=10_000,
        help="fills in the block whose write set is committed (default 10000; 0: skip)",
    )
    root.add_argument(
        "--repeats", type=int_in(1, 100), default=5, help="measured commits (default 5)"
    )
    root.add_argument("--json", action="store_true", help="print one JSON object")
    root.set_defaults(run=_run_root)
    pool = which.add_parser(
        "pool",
        help="options pool: cost of a trade against it, critical path it adds to a block",
        description=(
            "CPU microseconds per trade against the options pool (holding the whole chain) "
            "next to book trades on the same state, and the critical path of generated "
            "blocks (declared access sets) for each share of pool activity."
        ),
    )
    pool.add_argument(
        "--shares",
        type=float_list(0.0, 1.0),
        default=[0.0, 0.02, 0.1, 0.3],
        help="comma-separated shares of pool activity (default 0,0.02,0.1,0.3)",
    )
    pool.add_argument(
        "--txs", type=int_in(1, 100_000), default=500, help="transactions per block (default 500)"
    )
    pool.add_argument(
        "--repeats", type=int_in(1, 100), default=3, help="measured blocks (default 3)"
    )
    pool.add_argument("--json", action="store_true", help="print one JSON object")
    pool.set_defaults(run=_run_pool)
    scan = which.add_parser(
        "liquidation",
        help="the vectorised liquidation scan against checking each account",
        description=(
            "Builds the crash scenario's market, moves the index, and times finding every "
            "account under maintenance margin: the vectorised scan (numpy over all positions, "
            "exact confirmation of borderline accounts) and the exact margin check account by "
            "account."
        ),
    )
    scan.add_argument(
        "--traders", type=int_in(2, 1_000_000), default=10_000, help="traders (default 10000)"
    )
    scan.add_argument(
        "--moves-ppm",
        type=int_list(0, 999_999),
        default=[20_000, 300_000],
        help="comma-separated index falls in ppm (default 20000,300000: -2%% and -30%%)",
    )
    scan.add_argument("--repeats", type=int_in(1, 100), default=5, help="repeats (default 5)")
    scan.add_argument("--portfolio", action="store_true", help="portfolio margin")
    scan.add_argument("--json", action="store_true", help="print one JSON object")
    scan.set_defaults(run=_run_liquidation)
    _register_book(which)
    _register_sig(which)
    bench_api.register(which)
    _register_store(which)
    _register_node(which)
    bench_cluster.register(which)
    chaos.register(which)
    risk = which.add_parser(
        "risk",
        add_help=False,
        help="risk engine: Greeks/s, implied vols/s, Monte Carlo, against pyvolr and others",
        description="See `paraclear bench risk --help`.",
    )
    risk.set_defaults(run=lambda args: run_risk([]))


def _register_book(which: Any) -> None:
    book = which.add_parser(
        "book",
        help="order book operations/s: one book, and all books in parallel processes",
        description=(
            "Operations/s (mix of adds, cancels and marketable orders, reported) on one book "
            "of --resting orders, and on --books books matched by one process and by "
            "--processes processes: the caller and persistent workers (medians of --repeats "
            "blocks)."
        ),
    )
    book.add_argument(
        "--resting",
        type=int_in(10, 1_000_000),
        default=10_000,
        help="resting orders in the one-book run; each of the many books holds a fifth "
        "(default 10000)",
    )
    book.add_argument(
        "--ops",
        type=int_in(1, 10_000_000),
        default=200_000,
        help="operations timed on the one book (default 200000)",
    )
    book.add_argument(
        "--books", type=int_in(1, 1_000), default=8, help="books in the parallel run (default 8)"
    )
    book.add_argument(
        "--ops-per-book",
        type=int_in(1, 1_000_000),
        default=25_000,
        help="operations per book per block in the parallel run (default 25000)",
    )
    book.add_argument(
        "--processes",
        type=int_in(1, 64),
        default=2,
        help="processes matching in parallel, the caller included (default 2)",
    )
    book.add_argument("--repeats", type=int_in(1, 100), default=3, help="repeats (default 3)")
    book.add_argument("--json", action="store_true", help="print one JSON object")
    book.set_defaults(run=_run_book)


def _register_sig(which: Any) -> None:
    sig = which.add_parser(
        "sig",
        help="ed25519 signature checks/s on 1 and 2 threads",
        description=(
            "Verifies a batch of signed limit-order envelopes (chain id, sender and ed25519 "
            "signature, as the node does before its mempool) on each thread count in turn, "
            "side by side in every repeat. Prints verifications/s per thread count (medians) "
            "and the speedup of the last count over the first (median of per-repeat ratios), with "
            "the CPU seconds the process used per wall second (near the thread count when the "
            "checks really run at once)."
        ),
    )
    sig.add_argument(
        "--count",
        type=int_in(1, 10_000_000),
        default=10_000,
        help="envelopes per batch (default 10000)",
    )
    sig.add_argument(
        "--threads",
        type=int_list(1, 64),
        default=[1, 2],
        help="comma-separated thread counts (default 1,2)",
    )
    sig.add_argument("--repeats", type=int_in(1, 100), default=5, help="repeats (default 5)")
    sig.add_argument("--json", action="store_true", help="print one JSON object")
    sig.set_defaults(run=_run_sig)


def _register_store(which: Any) -> None:
    store = which.add_parser(
        "store",
        help="block store: durable append latency, replay tx/s, snapshot size and times",
        description=(
            "Executes a seeded workload and appends each block to a fresh data directory "
            "(SQLite WAL, synchronous=FULL: an append returns once the block is on disk), "
            "then replays the directory from genesis, recovers it from its latest snapshot, "
            "and saves and loads a snapshot of the final state --repeats times. Prints append "
            "latency (p50, p99, max), live and replay tx/s, recovery time, and the snapshot's "
            "keys, bytes (encoded and compressed) and encode/save/load times (medians)."
        ),
    )
    store.add_argument(
        "--accounts", type=int_in(2, 1_000_000), default=10_000, help="accounts (default 10000)"
    )
    store.add_argument(
        "--blocks", type=int_in(1, 100_000), default=50, help="blocks after setup (default 50)"
    )
    store.add_argument(
        "--txs-per-block",
        type=int_in(1, 1_000_000),
        default=1_000,
        help="transactions per block (default 1000)",
    )
    store.add_argument("--repeats", type=int_in(1, 100), default=3, help="repeats (default 3)")
    store.add_argument("--json", action="store_true", help="print one JSON object")
    store.set_defaults(run=_run_store)


def _run_store(args: argparse.Namespace) -> int:
    from paraclear.bench.store import bench_store

    result = bench_store(args.accounts, args.blocks, args.txs_per_block, args.repeats, _say)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['blocks']} blocks, {result['txs']:,} txs, {args.accounts:,} accounts\n"
        f"append (synchronous=FULL): p50 {result['append_p50_ms']} ms, p99 "
        f"{result['append_p99_ms']} ms, max {result['append_max_ms']} ms\n"
        f"live execution {result['live_tps_after_setup']:,} tx/s; replay from genesis "
        f"{result['replay_tps']:,} tx/s ({result['replay_seconds']} s); recovery from the "
        f"latest snapshot {result['recover_seconds']} s\n"
        f"snapshot: {result['snapshot_keys']:,} keys, {result['snapshot_bytes']:,} bytes "
        f"({result['snapshot_stored_bytes']:,} compressed); "
        f"encode {result['snapshot_encode_seconds']} s, save {result['snapshot_save_seconds']} "
        f"s, load {result['snapshot_load_seconds']} s (building the state tree alone "
        f"{result['state_build_seconds']} s)"
    )
    return 0


def _run_sig(args: argparse.Namespace) -> int:
    from paraclear.bench.sig import bench_sig

    threads = list(dict.fromkeys(args.threads))
    if not threads:
        raise ValueError("--threads needs at least one thread count")
    result = bench_sig(args.count, threads, args.repeats)
    if args.json:
        print(json.dumps(result))
        return 0
    for n in threads:
        print(
            f"{n} thread{'s' if n > 1 else ''}: {result[f'verify_per_s_{n}']:,} verifications/s "
            f"({result[f'cpu_per_wall_{n}']} CPU s per wall s)"
        )
    print(f"speedup {threads[-1]} over {threads[0]}: {result['speedup']}x")
    return 0


def _run_book(args: argparse.Namespace) -> int:
    from paraclear.bench.matching import bench_book

    result = bench_book(
        args.resting,
        args.ops,
        args.books,
        args.ops_per_book,
        args.processes,
        args.repeats,
        progress=_say,
    )
    if args.json:
        print(json.dumps(result))
    else:
        one, many = result["one_book"], result["all_books"]
        print(
            f"one book ({args.resting:,} resting, mix {one['mix']}): "  # type: ignore[index]
            f"{result['ops_per_s_one_book']:,} ops/s\n"
            f"{args.books} books, {many['ops_per_block']:,} ops per block: "  # type: ignore[index]
            f"{many['ops_per_s_one_process']:,} ops/s in one process, "  # type: ignore[index]
            f"{result['ops_per_s_all_books']:,} ops/s in {args.processes} processes "
            f"({result['parallel_speedup']}x)"
        )
    return 0


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _run_root(args: argparse.Namespace) -> int:
    from paraclear.bench.root import bench_root

    result = bench_root(args.state_keys, args.changed, args.repeats, args.fills, progress=_say)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"state root: {result['ms_per_1000_keys']} ms per 1,000 changed keys "
            f"(compiled tree, state of {args.state_keys:,} keys; load average "
            f"{result['load_average']})"
        )
    return 0


def _run_pool(args: argparse.Namespace) -> int:
    from paraclear.bench.pool import bench_pool

    result = bench_pool(args.shares, args.txs, args.repeats)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"trade against the pool ({result['pool_positions']} positions): "
        f"{result['pool_trade_cpu_us']} us CPU; book trade: {result['book_trade_cpu_us']} us "
        f"({result['pool_over_book']}x)"
    )
    for row in result["contention"]:  # type: ignore[attr-defined]
        print(
            f"pool share {row['pool_share']:.0%}: critical path {row['critical_path']} of "
            f"{row['txs_per_block']} txs, {row['pool_lock_writers']} write the pool's lock"
        )
    return 0


def _run_liquidation(args: argparse.Namespace) -> int:
    from paraclear.bench.liquidation import bench_scan

    result = bench_scan(args.traders, args.moves_ppm, args.repeats, args.portfolio)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{'move':>7} {'accounts':>9} {'under':>7} {'scan ms':>8} {'(table)':>8} {'1-by-1 ms':>10}"
    )
    for r in result["rows"]:  # type: ignore[attr-defined]
        print(
            f"{r['index_move_ppm'] / 1e4:>6.1f}% {r['accounts']:>9,} {r['under_maintenance']:>7,} "
            f"{r['scan_ms']:>8.1f} {r['table_ms']:>8.1f} {r['one_by_one_ms']:>10.1f}"
        )
    return 0


def run_risk(argv: list[str]) -> int:
    """``paraclear bench risk ARGS``: the risk benchmark parses its own arguments."""
    from paraclear.bench.risk import main as risk_main

    return risk_main(argv)


def _register_node(which: Any) -> None:
    node = which.add_parser(
        "node",
        help="signed orders/s through the WebSocket API to durable inclusion, p50/p99, lost",
        description=(
            "Starts a node with its API in a child process on a fresh data directory (its "
            "snapshots as paraclear serve takes them: at most one every 10 s), sets up "
            "a perpetual market through the API, then drives it from this process: half the "
            "traders make, half take, each one authenticated WebSocket connection keeping "
            "--window signed orders in flight for --seconds, or, with --rate, sending on a "
            "fixed schedule (at most --window in flight). Every order is signed before the "
            "clock starts. Latency runs from sending an order (from its scheduled time with "
            "--rate, so a late send counts) to its answer, which comes once its block is "
            "durable: p50, p99 and max. Reported beside the rate: the load generator's CPU "
            "(share of a core; near 1 it may be the bound), the node process's CPU by thread, "
            "and each block stage's share of the blocks' wall time. Afterwards every "
            "acknowledged order is looked up in the node's block log (lost counts the missing)."
        ),
    )
    node.add_argument(
        "--seconds", type=float_in(0.5, 600.0), default=10.0, help="measured seconds (default 10)"
    )
    node.add_argument(
        "--traders", type=int_in(2, 1_000), default=16, help="traders, one connection each (16)"
    )
    node.add_argument(
        "--window", type=int_in(1, 64), default=48, help="orders in flight per trader (48)"
    )
    node.add_argument(
        "--rate", type=float_in(0.0, 1_000_000.0), default=0.0,
        help="orders/s offered over all traders on a fixed schedule (default 0: flat out)",
    )  # fmt: skip
    node.add_argument(
        "--rate-cap", type=int_in(100, 1_000_000), default=20_000,
        help="orders signed in advance per second of the run (default 20000)",
    )  # fmt: skip
    node.add_argument(
        "--executor", choices=["dry-run", "sequential", "parallel"], default="dry-run",
        help="the node's block execution (see paraclear serve --help; default dry-run)",
    )  # fmt: skip
    node.add_argument(
        "--matcher-processes", type=int_in(1, 16), default=1,
        help="processes matching the books (default 1)",
    )  # fmt: skip
    node.add_argument(
        "--block-interval", type=float_in(0.001, 10.0), default=0.1,
        help="seconds between blocks (default 0.1)",
    )  # fmt: skip
    node.add_argument(
        "--frontends", type=int_in(0, 64), default=0,
        help="API front-end processes of the node, as paraclear serve --frontends "
        "(default 0: the node's own API server); their CPU is reported beside the node's",
    )  # fmt: skip
    node.add_argument(
        "--listed", type=int_in(1, 5_000), default=1,
        help="instruments listed: BTC-PERP, the one traded, and --listed - 1 BTC options "
        "that no order trades, as a venue's other series (default 1)",
    )  # fmt: skip
    node.add_argument("--json", action="store_true", help="print one JSON object")
    node.set_defaults(run=_run_node)


def _run_node(args: argparse.Namespace) -> int:
    from paraclear.bench.load import bench_node

    result = bench_node(
        args.seconds,
        args.traders,
        args.window,
        args.rate_cap,
        args.executor,
        args.matcher_processes,
        args.block_interval,
        _say,
        args.rate,
        args.frontends,
        args.listed,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    offered = f" of {result['offered_per_s']:,} offered" if result["offered_per_s"] else ""
    print(
        f"{result['orders_per_s']:,} signed orders/s{offered} through the API; "
        f"{result['latency_from']} to durable inclusion p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms; "
        f"{result['acknowledged']:,} acknowledged, {result['lost']} lost; "
        f"{result['blocks']} blocks"
    )
    bound = " (it may be the bound)" if result["generator_bound"] else ""
    threads = ", ".join(f"{name} {cpu:.2f}" for name, cpu in result["node_threads_cpu"].items())
    stages = ", ".join(f"{name} {share:.0%}" for name, share in result["node_block_stages"].items())
    frontends = ", ".join(f"{cpu:.2f}" for cpu in result["frontends_cpu"])
    if frontends:
        per_order = result["frontends_cpu_us_per_order"]
        frontends = f"; front-ends {frontends} ({per_order} µs per order)"
    print(
        f"CPU, cores: load generator {result['generator_cpu']:.2f}{bound}; node "
        f"{result['node_cpu']:.2f} ({threads}; {result['node_cpu_us_per_order']} µs per "
        f"order){frontends}; block stages: {stages}"
    )
    return 0 if result["lost"] == 0 else 1
