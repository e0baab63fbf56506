"""``paraclear serve``: run a node with its JSON-RPC API until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from paraclear.cli.args import float_in, int_in
from paraclear.cli.progress import ProgressLine
from paraclear.execution import BACKENDS, MAX_WORKERS
from paraclear.node.core import DEFAULT_CHAIN_ID, NodeConfig
from paraclear.warmup import warm


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
        help="seconds between blocks while transactions wait (default 0.1)",
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
        help="worker processes of the parallel executor (default 2)",
    )  # fmt: skip
    parser.add_argument("--backend", choices=BACKENDS, default="processes", help=argparse.SUPPRESS)
    parser.add_argument(
        "--matcher-processes", type=int_in(1, 16), default=1,
        help="processes that match the books (1: in the block producer; default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--snapshot-every", type=int_in(1, 1_000_000), default=100,
        help="blocks between state snapshots (default 100)",
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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from paraclear.node.app import NodeApp

    config = NodeConfig(
        data_dir=args.data_dir,
        chain_id=args.chain_id,
        operator_seed=args.operator_seed,
        block_interval=args.block_interval,
        max_block_txs=args.max_block_txs,
        executor=args.executor,
        workers=args.workers,
        backend=args.backend,
        matcher_processes=args.matcher_processes,
        snapshot_every=args.snapshot_every,
        accept_loss=args.accept_loss,
        max_db_bytes=None if args.max_db_mb is None else args.max_db_mb << 20,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    warm("serve", ProgressLine().show)
    app = NodeApp(config, args.host, args.port)
    port = app.start()
    node = app.node
    print(
        f"paraclear: serving chain {config.chain_id!r} at height {node.height} from "
        f"{config.data_dir} on ws://{args.host}:{port}/ws/api/v2 and "
        f"http://{args.host}:{port}/api/v2 (operator {node.operator.account})",
        file=sys.stderr,
        flush=True,
    )
    print(f"paraclear: dashboard at http://{args.host}:{port}/", file=sys.stderr, flush=True)
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
        app.stop()
    print(f"paraclear: stopped at height {node.height}", file=sys.stderr)
    return 0
