"""How many JSON-RPC requests per second the API server answers over WebSocket on loopback.

The server runs in a child process (its own GIL), the ``AsyncClient`` in this one, keeping
``window`` calls in flight on each of ``connections`` connections for ``seconds``. The
method is ``public/get_index_price`` over a small market: parameter validation, a state read
and a view, the shape of most read calls. This measures the transport and dispatcher, not the
node: ``paraclear bench node`` measures signed orders through to inclusion.

    python -m paraclear.bench.api --seconds 5 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import statistics
import time
from typing import Any

from paraclear.api.limits import Limits
from paraclear.api.methods import PublicMethods, StateMarket
from paraclear.api.rpc import Registry
from paraclear.api.server import ApiServer
from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.records import HouseConfig, OracleData
from paraclear.client.async_client import AsyncClient
from paraclear.state import keys as k

METHOD = "public/get_index_price"
PARAMS = {"index_name": "btc_usdc"}


def _serve(pipe: multiprocessing.connection.Connection) -> None:
    state = genesis_state(HouseConfig(admin="admin", oracle="oracle"))
    state.apply(
        {k.oracle("BTC"): OracleData(index=60_000_000_000, atm_vol_ppm=600_000, skew_ppm=0, time=1)}
    )
    registry = Registry()
    PublicMethods(StateMarket(state)).register(registry)
    limits = Limits(rate_per_s=1e9, burst=10**9)
    server = ApiServer(registry, limits=limits, static_dir=None)

    async def main() -> None:
        pipe.send(await server.start())
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        await server.stop()

    asyncio.run(main())


async def _drive(url: str, seconds: float, connections: int, window: int) -> dict[str, Any]:
    clients = [await AsyncClient.connect(url) for _ in range(connections)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(client: AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await client.call(METHOD, PARAMS)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients for _ in range(window)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.close()
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(cuts[49] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
        "requests": len(latencies),
        "connections": connections,
        "window": window,
    }


def run(seconds: float = 5.0, connections: int = 1, window: int = 64) -> dict[str, Any]:
    """Serve in a child process, drive it from this one; returns the figures."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child,), daemon=True
    )
    process.start()
    try:
        port = parent.recv()
        return asyncio.run(_drive(f"ws://127.0.0.1:{port}/ws/api/v2", seconds, connections, window))
    finally:
        parent.send("stop")
        process.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--window", type=int, default=64, help="calls in flight per connection")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.seconds, args.connections, args.window)
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
