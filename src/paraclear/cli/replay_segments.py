"""``paraclear replay DATA_DIR --segments`` (or ``--ray``): verify the chain's segments
between snapshots at once, on local worker processes or on Ray."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from paraclear.chain.segments import SegmentsReport, replay_segments
from paraclear.chain.storage import StorageError, StoreMissing
from paraclear.cli.cluster_args import add_ray_option, backend
from paraclear.cli.progress import ProgressLine
from paraclear.cluster import MissingRay, WorkerLost


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--segments",
        action="store_true",
        help="verify the segments between snapshots in parallel, each from the snapshot at "
        "its start, on --workers local processes (default every core)",
    )
    add_ray_option(
        parser,
        "verify the segments (implies --segments)",
        "paraclear installed and DATA_DIR at the same path",
    )


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.segments) or args.ray is not None


def run(args: argparse.Namespace) -> int:
    line = ProgressLine(enabled=not args.quiet)

    def progress(report: SegmentsReport) -> None:
        line.show(
            f"segments {len(report.segments) + len(report.errors)}  blocks {report.blocks:,}"
            f"/{report.tip:,}",
            final=report.blocks >= report.tip,
        )

    try:
        report = replay_segments(args.data_dir, backend(args), progress)
    except (MissingRay, WorkerLost) as error:
        print(f"paraclear replay: {error}", file=sys.stderr)
        return 2 if isinstance(error, MissingRay) else 1
    except StorageError as error:
        print(f"paraclear replay: {type(error).__name__}: {error}", file=sys.stderr)
        return 2 if isinstance(error, StoreMissing) else 1
    print(json.dumps(report.as_dict()) if args.json else _text(report))
    return 0 if report.ok else 1


def _text(report: SegmentsReport) -> str:
    summary = report.as_dict()
    lines = [
        f"verified {report.blocks:,} blocks ({report.txs:,} transactions) in "
        f"{len(report.segments)} segments in {report.seconds:.3f} s: "
        f"{summary['blocks_per_second']:,} blocks/s ({report.backend})"
    ]
    first = report.first_mismatch
    if report.ok:
        lines.append(f"ok: every root, receipt and snapshot matches up to height {report.tip}")
    elif first is not None:
        lines.append(f"MISMATCH at height {first.mismatch_height}: {first.problem}")
    lines += [f"ERROR {error}" for error in report.errors]
    return "\n".join(lines)
