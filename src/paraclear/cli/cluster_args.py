"""``--ray [ADDRESS]`` for the commands that run on ``paraclear.cluster``."""

from __future__ import annotations

import argparse
from typing import Any

from paraclear.cluster import Backend


def add_ray_option(parser: Any, what: str, needs: str = "paraclear installed") -> None:
    """``--ray [ADDRESS]``: run ``what`` on Ray; a cluster's workers need ``needs``."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help=f"{what} on Ray: without ADDRESS an embedded local instance; 'auto' the instance "
        f"started here with 'ray start --head'; HOST:PORT a cluster (its workers need "
        f"{needs}). Needs pip install 'paraclear[cluster]'",
    )


def backend(args: argparse.Namespace) -> Backend:
    """Local workers (``--workers``, 0 or None: every core) or Ray (``--ray``)."""
    return Backend(args.workers or 0, args.ray is not None, args.ray or None)
