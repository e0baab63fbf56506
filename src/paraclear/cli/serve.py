"""``paraclear serve``: run a node with its JSON-RPC API until interrupted."""

from __future__ import annotations

import argparse
import errno
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Final

from paraclear.chain.chain_clock import CLOCK_MODES
from paraclear.chain.core import DEFAULT_CHAIN_ID, SERVE_SNAPSHOT_SECONDS, NodeConfig
from paraclear.chain.store_sql import DB_NAME
from paraclear.cli.args import add_engine_argument, float_in, int_in
from paraclear.cli.progress import ProgressLine
from paraclear.execution import BACKENDS, MAX_WORKERS
from paraclear.warmup import warm

MARKET_STOP_SECONDS: Final = 60.0
"""How long a stopping node waits for the market's tick in progress to end."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run a node: signed transactions in, blocks out, JSON-RPC API over WS and HTTP",
        description=(
            "Run a clearing-house node on a data directory: it checks signatures, keeps a "
            "mempool, matches orders in their books, executes and persists a block every "
            "interval, and serves a Deribit-style JSON-RPC API over WebSocket "
            "(/ws/api/v2) and HTTP (/api/v2), with Prometheus metrics at /metrics. "
            "Restarting on the same directory resumes where it stopped (the state is "
            "rebuilt from the latest snapshot and the blocks after it, every root checked)."
        ),
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path("paraclear-data"),
        help="where the chain lives (created if missing; default ./paraclear-data)",
    )  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int_in(0, 65_535), default=8000, help="listen port (0: any; default 8000)"
    )
    parser.add_argument(
        "--chain-id", default=DEFAULT_CHAIN_ID,
        help=f"chain id every signature covers (default {DEFAULT_CHAIN_ID})",
    )  # fmt: skip
    parser.add_argument(
        "--operator-seed", type=int_in(0, 2**63 - 1), default=0,
        help="seed of the house's operator key (admin and oracle) (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--block-interval", type=float_in(0.001, 60.0), default=0.1,
        help="seconds between block starts while the block before is still being written; "
        "when it is durable, a block starts as soon as a transaction waits (default 0.1)",
    )  # fmt: skip
    parser.add_argument(
        "--max-block-txs", type=int_in(1, 1_000_000), default=20_000,
        help="most mempool transactions per block (default 20000)",
    )  # fmt: skip
    parser.add_argument(
        "--executor", choices=["dry-run", "sequential", "parallel"], default="dry-run",
        help="dry-run: commit the block builder's sequential run; sequential or parallel: "
        "execute each block again and check it against that run (default dry-run)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int_in(1, MAX_WORKERS), default=2,
        help="worker threads of the parallel executor (default 2)",
    )  # fmt: skip
    parser.add_argument("--backend", choices=BACKENDS, default="threads", help=argparse.SUPPRESS)
    add_engine_argument(parser, "the block builder's dry run")
    parser.add_argument(
        "--matcher-processes", type=int_in(1, 16), default=1,
        help="processes that match the books (1: in the block producer; default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--snapshot-every", type=int_in(1, 1_000_000), default=100,
        help="blocks between state snapshots (default 100)",
    )  # fmt: skip
    parser.add_argument(
        "--snapshot-seconds", type=float_in(0.0, 86_400.0), default=SERVE_SNAPSHOT_SECONDS,
        help="least seconds between two snapshots: a height --snapshot-every names is "
        "skipped while the last snapshot is younger (default 10; blocks come milliseconds "
        "apart when traffic is light)",
    )  # fmt: skip
    parser.add_argument(
        "--accept-loss", action="store_true",
        help="start even if the block log ends below the last block acknowledged to clients "
        "(a damaged or deleted WAL): those blocks are given up and their heights reused",
    )  # fmt: skip
    parser.add_argument(
        "--max-db-mb", type=int_in(1, 10**9), default=None,
        help="cap the chain database at this many MiB; at the cap the node stops producing "
        "blocks and answers storage_full, as on a full disk (default: no cap)",
    )  # fmt: skip
    parser.add_argument(
        "--clock", choices=CLOCK_MODES, default="auto",
        help="block times after a restart: auto continues a chain whose latest block is more "
        "than a day from the wall clock (a simulated chain) at the wall clock's pace, else "
        "takes the wall clock; wall or chain force either (default auto)",
    )  # fmt: skip
    parser.add_argument(
        "--frontends", type=int_in(0, 64), default=0,
        help="API front-end processes that hold the client connections on the port, parse "
        "JSON-RPC and check orders' signatures, then forward to this process over a unix "
        "socket (0: this process serves the API itself; default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--market", action="store_true",
        help="run the agent market of paraclear demo against this node through its API "
        "(makers quoting options and the perpetual, takers, liquidators, an oracle with a "
        "crash), one block per --tick-seconds on the wall clock, so that the dashboard shows "
        "a live exchange; needs a data directory without a chain",
    )  # fmt: skip
    parser.add_argument(
        "--market-minutes", type=int_in(2, 10_000_000), default=600,
        help="ticks the market runs before the node serves on without it (default 600)",
    )  # fmt: skip
    parser.add_argument(
        "--tick-seconds", type=float_in(0.0, 60.0), default=1.0,
        help="wall seconds a market tick lasts at least (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--accounts", type=int_in(4, 100_000), default=60,
        help="agent accounts of the market (default 60)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def start_market(app: Any, args: argparse.Namespace, stop: threading.Event) -> threading.Thread:
    """The agent market on ``app``'s node, in a thread of its own, until done or ``stop``."""
    from paraclear.sim.market import MarketConfig, run_market

    config = MarketConfig(
        data_dir=args.data_dir,
        accounts=args.accounts,
        minutes=args.market_minutes,
        tick_seconds=args.tick_seconds,
        stopping=stop.is_set,
    )

    def trade() -> None:
        try:
            run = run_market(config, app=app)
        except Exception as error:  # the market is a guest: the node serves on without it
            print(f"paraclear: the market stopped: {error!r}", file=sys.stderr, flush=True)
            return
        print(
            f"paraclear: the market ran {len(run.ticks)} ticks ({run.orders:,} orders); serving on",
            file=sys.stderr,
            flush=True,
        )

    thread = threading.Thread(target=trade, name="paraclear-market", daemon=True)
    thread.start()
    return thread


def port_refusal(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (checked before the data directory is
    touched, so that a busy port leaves nothing behind), or None."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        return f"cannot listen on {host}:{port}: {error}"
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            reason = "in use" if error.errno == errno.EADDRINUSE else error.strerror
            return (
                f"cannot listen on {host}:{port}: {reason} "
                "(another paraclear serve? choose another with --port)"
            )
    return None


def run(args: argparse.Namespace) -> int:
    from paraclear.api.app import NodeApp
    from paraclear.chain.dir_lock import DataDirectoryLocked

    config = NodeConfig(
        data_dir=args.data_dir,
        chain_id=args.chain_id,
        operator_seed=args.operator_seed,
        block_interval=args.block_interval,
        max_block_txs=args.max_block_txs,
        executor=args.executor,
        engine=args.engine,
        workers=args.workers,
        backend=args.backend,
        matcher_processes=args.matcher_processes,
        snapshot_every=args.snapshot_every,
        snapshot_seconds=args.snapshot_seconds,
        accept_loss=args.accept_loss,
        max_db_bytes=None if args.max_db_mb is None else args.max_db_mb << 20,
        clock=args.clock,
        tie_break="sender" if args.market else "arrival",
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.market and (config.data_dir / DB_NAME).exists():
        print(
            f"paraclear: --market needs a data directory without a chain; {config.data_dir} "
            "has one (serve it without --market, or give another --data-dir)",
            file=sys.stderr,
        )
        return 2
    refusal = port_refusal(args.host, args.port)
    if refusal is not None:
        print(f"paraclear: {refusal}", file=sys.stderr)
        return 2
    warm("demo" if args.market else "serve", ProgressLine().show)  # the demo's agents trade
    created = not config.data_dir.exists()
    try:
        app = NodeApp(config, args.host, args.port, frontends=args.frontends)
    except DataDirectoryLocked as error:
        print(f"paraclear: {error}", file=sys.stderr)
        return 2
    node = app.node
    try:
        port = app.start(produce=not args.market)
    except OSError as error:  # the port was taken between the check and the bind
        app.stop()
        if created and node.height == 0:
            shutil.rmtree(config.data_dir, ignore_errors=True)
        print(f"paraclear: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    print(
        f"paraclear: serving chain {config.chain_id!r} at height {node.height} from "
        f"{config.data_dir} on ws://{args.host}:{port}/ws/api/v2 and "
        f"http://{args.host}:{port}/api/v2 (operator {node.operator.account})",
        file=sys.stderr,
        flush=True,
    )
    print(f"paraclear: dashboard at http://{args.host}:{port}/", file=sys.stderr, flush=True)
    market = start_market(app, args, stop) if args.market else None
    damage_told = False
    try:
        while not stop.wait(0.5):
            if node.failure is not None:
                print(f"paraclear: block producer failed: {node.failure!r}", file=sys.stderr)
                return 1
            if node.damage is not None and not damage_told:
                damage_told = True
                print(
                    f"paraclear: warning: the block log is damaged: {node.damage}", file=sys.stderr
                )
    finally:
        stop.set()
        if market is not None:
            market.join(MARKET_STOP_SECONDS)
        app.stop()
    print(f"paraclear: stopped at height {node.height}", file=sys.stderr)
    return 0
