"""``paraclear bench hostile`` and ``paraclear bench accounts``: the API under hostile input,
and ``public/get_accounts`` at scale (``paraclear.bench.hostile``, ``accountsbench``)."""

from __future__ import annotations

import argparse
from typing import Any

from paraclear.cli.args import float_in, int_in


def register(which: Any) -> None:
    """Add both benches to ``paraclear bench``'s subcommands."""
    _register_hostile(which)
    _register_accounts(which)


def _register_hostile(which: Any) -> None:
    hostile = which.add_parser(
        "hostile",
        help="CPU per hostile API request; errors, state changes and memory over 100,000",
        description=(
            "Seeded hostile frames (huge exponents, deep nesting, oversized frames, batches, "
            "tampered envelopes, every method's parameters) sent to a live node's API one "
            "after another: the worst CPU of one request and its input, internal errors, "
            "unanswered requests, state changes, RSS growth after warm-up. Exits 1 on any "
            "internal error, unanswered request or state change."
        ),
    )
    hostile.add_argument(
        "--requests", type=int_in(1, 10_000_000), default=100_000, help="(default 100000)"
    )
    hostile.add_argument("--warmup", type=int_in(0, 1_000_000), default=20_000)
    hostile.add_argument("--seed", type=int, default=1)
    hostile.add_argument("--json", action="store_true", help="print one JSON object")
    hostile.set_defaults(run=_run_hostile)


def _run_hostile(args: argparse.Namespace) -> int:
    from paraclear.bench.hostile import main

    argv = ["--requests", str(args.requests), "--warmup", str(args.warmup)]
    return main([*argv, "--seed", str(args.seed), *(["--json"] if args.json else [])])


def _register_accounts(which: Any) -> None:
    accounts = which.add_parser(
        "accounts",
        help="public/get_accounts latency at 10k/100k accounts, and other clients' latency",
        description=(
            "A chain of N accounts with positions behind a real server: get_accounts round "
            "trips while blocks (oracle updates every fifth) commit, and another client's "
            "ticker latency with and without that load."
        ),
    )
    accounts.add_argument("--accounts", default="10000,100000", help="comma-separated counts")
    accounts.add_argument("--seconds", type=float_in(0.5, 3_600), default=10.0)
    accounts.add_argument("--json", action="store_true", help="print one JSON object")
    accounts.set_defaults(run=_run_accounts)


def _run_accounts(args: argparse.Namespace) -> int:
    from paraclear.bench.accounts import main

    argv = ["--accounts", args.accounts, "--seconds", str(args.seconds)]
    return main([*argv, *(["--json"] if args.json else [])])
