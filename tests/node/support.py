"""A market with listed instruments and an index, and an API server over it, for node tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from paraclear.api.auth import Authenticator
from paraclear.api.hub import Hub
from paraclear.api.limits import Limits
from paraclear.api.methods import PublicMethods, StateMarket
from paraclear.api.rpc import Context, Registry
from paraclear.api.server import ApiServer, ServerThread
from paraclear.client.envelope import Keypair
from tests.clearing.harness import Exchange

CHAIN = "paraclear-test"


def keypair(n: int) -> Keypair:
    """The account keys numbered ``n`` (deterministic, not secret)."""
    return Keypair.from_seed_int(n)


class Empty(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


def whoami(context: Context, params: Empty) -> dict[str, Any]:
    """A private method for the tests: who the server thinks is calling."""
    return {"account": context.account}


def crash(context: Context, params: Empty) -> None:
    raise ZeroDivisionError("a bug with a secret in it")


async def hang(context: Context, params: Empty) -> None:
    await asyncio.Event().wait()


def market() -> StateMarket:
    exchange = Exchange().market()
    return StateMarket(exchange.state, exchange.time)


def make_server(limits: Limits | None = None, static_dir: Path | None = None) -> ApiServer:
    registry = Registry()
    PublicMethods(market(), status=lambda: {"height": 7}).register(registry)
    registry.add("private/whoami", Empty, whoami)
    registry.add("public/crash", Empty, crash)
    registry.add("public/hang", Empty, hang)
    return ApiServer(
        registry,
        hub=Hub(),
        authenticator=Authenticator(CHAIN),
        limits=limits,
        static_dir=static_dir,
    )


@contextmanager
def running(limits: Limits | None = None, static_dir: Path | None = None) -> Iterator[ServerThread]:
    with ServerThread(make_server(limits, static_dir)) as thread:
        yield thread
