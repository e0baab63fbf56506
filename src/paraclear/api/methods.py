"""Public methods that need only market data: Deribit's ``public/test``, ``get_time``,
``hello``, ``status``, ``get_index_price`` and ``get_instruments``.

They read through a ``Market``: the node core is one, and ``StateMarket`` serves a bare
``State`` (tests, tools).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, Literal, Protocol

import msgspec

from paraclear.api import views
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.clearing.instruments import Instrument
from paraclear.clearing.records import OracleData
from paraclear.state import State

API_VERSION: Final = "2.1.1"
"""The Deribit API version whose methods and shapes this server follows."""
INDEX_QUOTES: Final = ("usd", "usdc")


class Market(Protocol):
    """Market data the public methods read."""

    state: State

    def instruments(self) -> list[Instrument]: ...

    def oracle(self, underlying: str) -> OracleData | None: ...

    def time(self) -> int | None:
        """The latest block time (Unix seconds), or None before the first block."""
        ...


class StateMarket:
    """A ``Market`` over a ``State`` and a block time."""

    def __init__(self, state: State, block_time: int | None = None) -> None:
        self.state = state
        self.block_time = block_time

    def instruments(self) -> list[Instrument]:
        return views.listed_instruments(self.state)

    def oracle(self, underlying: str) -> OracleData | None:
        return views.oracle_of(self.state, underlying)

    def time(self) -> int | None:
        return self.block_time


class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base of parameter structs: unknown parameters are errors, not silently ignored."""


class TestParams(Params, frozen=True):
    expected_result: str | None = None


class NoParams(Params, frozen=True):
    pass


class HelloParams(Params, frozen=True):
    client_name: str = ""
    client_version: str = ""


class IndexParams(Params, frozen=True):
    index_name: str


class InstrumentsParams(Params, frozen=True):
    currency: str = "any"
    kind: Literal["option", "future", "spot", "future_combo", "option_combo"] | None = None
    """Deribit's kinds; this venue lists no spot pairs or combos."""
    expired: bool = False


class PublicMethods:
    """The market-data methods, bound to a market and an optional status source."""

    def __init__(self, market: Market, status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.market = market
        self.status = status

    def register(self, registry: Registry) -> None:
        registry.add("public/test", TestParams, self.test)
        registry.add("public/get_time", NoParams, self.get_time)
        registry.add("public/hello", HelloParams, self.hello)
        registry.add("public/status", NoParams, self.get_status)
        registry.add("public/get_index_price", IndexParams, self.get_index_price)
        registry.add("public/get_instruments", InstrumentsParams, self.get_instruments)

    def test(self, context: Context, params: TestParams) -> dict[str, Any]:
        if params.expected_result == "exception":
            raise RpcError(11094, "internal_server_error: requested by expected_result")
        return {"version": API_VERSION}

    def get_time(self, context: Context, params: NoParams) -> int:
        return time.time_ns() // 1_000_000

    def hello(self, context: Context, params: HelloParams) -> dict[str, Any]:
        return {"version": API_VERSION}

    def get_status(self, context: Context, params: NoParams) -> dict[str, Any]:
        extra = self.status() if self.status is not None else {}
        return {"locked": "false", "locked_indices": [], **extra}

    def get_index_price(self, context: Context, params: IndexParams) -> dict[str, Any]:
        underlying, _, quote = params.index_name.partition("_")
        if quote.lower() not in INDEX_QUOTES or not underlying:
            raise RpcError.invalid_params(
                "index_name", f"not an index: {params.index_name!r} (e.g. btc_usdc)"
            )
        oracle = self.market.oracle(underlying.upper())
        if oracle is None:
            raise RpcError.invalid_params(
                "index_name", f"no index published for {params.index_name!r}"
            )
        return views.index_price_view(oracle)

    def get_instruments(self, context: Context, params: InstrumentsParams) -> list[dict[str, Any]]:
        now = self.market.time()
        if now is None:
            now = time.time_ns() // 1_000_000_000
        chosen = views.select_instruments(
            self.market.instruments(), params.currency, params.kind, params.expired, now
        )
        config = views.house_config(self.market.state)
        return [
            views.instrument_view(instrument, active=not params.expired, config=config)
            for instrument in chosen
        ]
