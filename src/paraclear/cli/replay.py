"""``paraclear replay``: re-execute a node's block log and check every state root."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from paraclear.chain.replay import ReplayReport, replay
from paraclear.chain.storage import BlockStore, RootMismatch, StorageError, StoreMissing
from paraclear.cli import replay_segments
from paraclear.cli.args import add_engine_argument, int_in
from paraclear.cli.progress import ProgressLine
from paraclear.execution import MAX_WORKERS
from paraclear.warmup import warm


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "replay",
        help="re-execute a data directory's blocks and check every state root",
        description=(
            "Open the chain in DATA_DIR (written by the node), re-execute its blocks from "
            "genesis or from the latest state snapshot, and compare the state root and the "
            "receipts after every block with those in the block log. From genesis, every "
            "stored snapshot is also compared with the replayed state. Prints progress on "
            "standard error and a summary: blocks, transactions, seconds, tx/s, and ok or the "
            "first height that differs. Exits 0 if everything matches, 1 on a mismatch or a "
            "corrupt store, 2 on bad arguments or a missing chain."
        ),
    )
    parser.add_argument("data_dir", metavar="DATA_DIR", help="the node's data directory")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-genesis",
        dest="source",
        action="store_const",
        const="genesis",
        help="start from the genesis state and re-execute every block (the default)",
    )
    source.add_argument(
        "--from-snapshot",
        dest="source",
        action="store_const",
        const="snapshot",
        help="start from the latest snapshot (its root checked) and re-execute the blocks "
        "after it, as a restarting node does",
    )
    parser.set_defaults(source="genesis")
    parser.add_argument(
        "--executor",
        choices=["sequential", "parallel"],
        default="sequential",
        help="executor to re-execute on; both must reproduce the same roots (default sequential)",
    )
    parser.add_argument(
        "--workers",
        type=int_in(1, MAX_WORKERS),
        default=None,
        help=f"parallel executor's worker threads, 1 to {MAX_WORKERS} (default 2); with "
        "--segments, processes verifying segments (default every core)",
    )
    add_engine_argument(parser, "the sequential executor")
    parser.add_argument(
        "--check-tables",
        action="store_true",
        help="after every block, also check that the compiled engine's tables (its columnar "
        "copy of the hot state, carried from block to block) equal the tables loaded afresh "
        "from the replayed state; a difference is reported as a mismatch. Slower: the state "
        "is loaded again at every block. Sequential executor and compiled engine only",
    )
    replay_segments.add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    line = ProgressLine(enabled=not args.quiet)
    whole = args.executor == "sequential" and args.engine == "compiled"
    if args.check_tables and not (whole and not replay_segments.wanted(args)):
        print(
            "paraclear replay: --check-tables needs the sequential executor and the compiled "
            "engine (the defaults), without --segments or --ray",
            file=sys.stderr,
        )
        return 2
    warm("replay", line.show)
    if replay_segments.wanted(args):
        return replay_segments.run(args)
    shown = [0.0]

    def progress(height: int, tip: int, txs: int, seconds: float) -> None:
        now = time.monotonic()
        if height == tip or now - shown[0] >= 0.5:
            shown[0] = now
            rate = txs / seconds if seconds else 0.0
            line.show(f"block {height}/{tip}  {txs:,} txs  {rate:,.0f} tx/s", final=height == tip)

    try:
        with BlockStore.open(args.data_dir) as store:
            _, report = replay(
                store,
                args.source,
                executor=args.executor,
                workers=args.workers or 2,
                progress=progress,
                engine=args.engine,
                check_tables=args.check_tables,
            )
    except StorageError as error:
        print(f"paraclear replay: {type(error).__name__}: {error}", file=sys.stderr)
        return 2 if isinstance(error, StoreMissing) else 1
    print(json.dumps(report.as_dict()) if args.json else _text(report))
    return 0 if report.ok else 1


def _text(report: ReplayReport) -> str:
    start = "genesis" if report.start_height == 0 else f"the snapshot at {report.start_height}"
    lines = [
        f"replayed {report.blocks:,} blocks ({report.txs:,} transactions) from {start} in "
        f"{report.seconds:.3f} s: {report.tps:,.0f} tx/s ({report.executor}"
        + (f", {report.workers} workers" if report.executor == "parallel" else "")
        + f", {report.engine} engine)",
    ]
    for height, error in report.skipped_snapshots:
        lines.append(f"warning: skipped the snapshot at height {height}: {error}")
    if report.snapshots_checked:
        lines.append(f"snapshots checked against the replayed state: {report.snapshots_checked}")
    if report.tables_checked:
        lines.append(
            f"compiled engine's tables checked against the replayed state after "
            f"{report.tables_checked:,} blocks"
        )
    mismatch = report.mismatch
    if mismatch is None:
        lines.append(f"ok: every root matches up to height {report.tip}")
        lines.append(f"state root: {report.state_root.hex()}")
    elif isinstance(mismatch, RootMismatch):
        lines.append(f"MISMATCH at height {mismatch.height}: state root")
        lines.append(f"  log says   {mismatch.expected.hex()}")
        lines.append(f"  replay got {mismatch.got.hex()}")
    else:
        lines.append(f"MISMATCH at height {mismatch.height}: {mismatch}")
    return "\n".join(lines)
