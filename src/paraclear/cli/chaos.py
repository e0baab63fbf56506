"""``paraclear bench chaos``: SIGKILL a live node under load for N rounds (see
``paraclear.bench.chaos``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from paraclear.cli.args import float_in, int_in


def register(which: Any) -> None:
    chaos = which.add_parser(
        "chaos",
        help="kill a live node under load N times: acknowledged, lost, duplicated orders",
        description=(
            "Runs `paraclear serve` in a child process under load from signed traders over "
            "WebSocket, SIGKILLs it at a random moment of every round and starts it again on "
            "the same directory. At the end reads the block log: acknowledged orders that are "
            "missing (lost), orders logged or acknowledged twice (duplicated), a replay from "
            "genesis; and damages copies of the last killed directory's WAL three ways "
            "(truncated, 20 bytes flipped, deleted), each of which must be refused at start. "
            "Exits 1 if anything was lost, duplicated or silently rolled back."
        ),
    )
    chaos.add_argument("--rounds", type=int_in(1, 10_000), default=50, help="kills (default 50)")
    chaos.add_argument("--traders", type=int_in(1, 64), default=4, help="traders (default 4)")
    chaos.add_argument(
        "--window", type=int_in(1, 1_000), default=16, help="orders in flight per trader (16)"
    )
    chaos.add_argument(
        "--max-kill-after", type=float_in(0.0, 60.0), default=1.0,
        help="a round's kill comes up to this many seconds after its first answer (default 1)",
    )  # fmt: skip
    chaos.add_argument(
        "--startup-share", type=float_in(0.0, 1.0), default=0.2,
        help="chance that a round also kills the node while it starts (default 0.2)",
    )  # fmt: skip
    chaos.add_argument(
        "--frontends", type=int_in(0, 64), default=0,
        help="API front-end processes of the node (serve --frontends); the core is killed, "
        "its front-ends lose it (default 0)",
    )  # fmt: skip
    chaos.add_argument("--seed", type=int_in(0, 2**32), default=1, help="seed (default 1)")
    chaos.add_argument("--json", action="store_true", help="print one JSON object")
    chaos.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from paraclear.bench.chaos import bench_chaos

    result = bench_chaos(
        args.rounds,
        args.traders,
        args.window,
        args.max_kill_after,
        seed=args.seed,
        startup_share=args.startup_share,
        progress=lambda text: print(text, file=sys.stderr),
        frontends=args.frontends,
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['kills']} kills ({result['kills_at_startup']} while starting), "
            f"{result['acknowledged']:,} orders acknowledged of "
            f"{result['sent']:,} sent ({result['unanswered_at_kill']:,} in flight at kills): "
            f"lost {result['lost']}, duplicated {result['duplicated']}; "
            f"{result['blocks']} blocks, replay {'ok' if result['replay_ok'] else 'MISMATCH'}; "
            f"damaged WAL: {result['damage']}; {result['seconds']} s, load average "
            f"{result['load_average_before']} -> {result['load_average_after']}"
        )
    silent = any(outcome == "silent" for outcome in result["damage"].values())
    return 1 if result["lost"] or result["duplicated"] or silent or not result["replay_ok"] else 0
