"""The ``paraclear`` command: ``demo``, ``simulate``, ``stress``, ``bench``, ``serve``,
``replay`` and ``warmup``. See ``--help``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from paraclear import __version__
from paraclear.chain.store_errors import StorageError
from paraclear.cli import bench, demo, replay, serve, simulate, stress, warmup


class _Parser(argparse.ArgumentParser):
    """Reports bad arguments in one line and exits 2, without a usage dump or traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="paraclear",
        description=(
            "A clearing house for crypto options and perpetuals whose blocks execute in "
            "parallel, bit-identical to sequential execution."
        ),
    )
    parser.add_argument("--version", action="version", version=f"paraclear {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    demo.register(commands)
    simulate.register(commands)
    stress.register(commands)
    bench.register(commands)
    serve.register(commands)
    replay.register(commands)
    warmup.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "risk"]:
        return bench.run_risk(argv[2:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("paraclear: interrupted", file=sys.stderr)
        return 130
    except StorageError as error:  # a damaged or full data directory: not a bad argument
        print(f"paraclear: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"paraclear: error: {error}", file=sys.stderr)
        return 2
    return code
