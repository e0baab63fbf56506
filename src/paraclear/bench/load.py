"""``paraclear bench node``: signed orders per second sustained through the WebSocket API.

A node (``NodeApp``: the core, its threads and the API server) runs in a child process on a
fresh data directory; this process is the load. Setup goes through the API too: the
operator lists ``BTC-PERP`` (and, with ``listed`` above 1, as many BTC options besides, which
no order trades: a venue's other series, whose per-block costs the node pays all the same)
and publishes the index, and each trader deposits.

Every order is built and signed before the clock starts, so the load spends its time on
the wire. Half the traders make (limit orders one or two ticks from the mid, either side),
half take (immediate-or-cancel orders that cross by a tick); each trader is one
authenticated connection keeping ``window`` orders in flight. An order's latency runs from
sending it to its answer, which the node gives once the block holding the order is durable
(submit to inclusion). The rate counts answers within the measured window. Each answer's
``usIn`` and ``usOut`` split its latency into legs (``hops_ms``, ``HOPS``): the generator's
lag, to the node, in the node, and back.

Afterwards the node is stopped and its block log opened: every order the API acknowledged
must be in it (``lost`` counts those that are not).
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import multiprocessing.connection
import os
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from paraclear.chain.core import SERVE_SNAPSHOT_SECONDS, NodeConfig
from paraclear.chain.storage import BlockStore
from paraclear.clearing.instruments import Instrument, Option, Perpetual, Right, expiry_time
from paraclear.clearing.transactions import (
    Deposit,
    ListInstrument,
    OracleUpdate,
    OrderType,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.client.async_client import AsyncClient, Stamps
from paraclear.client.envelope import Keypair, decode_signed, encode_signed, sign, tx_id
from paraclear.client.rpc_errors import RpcError
from paraclear.numbers import PRICE_SCALE, USDC_SCALE

Progress = Callable[[str], None]
CHAIN: Final = "paraclear-local"
PERP: Final = Perpetual(underlying="BTC")
MID: Final = 60_000 * PRICE_SCALE
TICK: Final = PERP.tick_size
LOT: Final = PERP.lot_size
SETUP_TIMEOUT: Final = 120.0
"""Seconds the setup's calls may take (not measured)."""
LISTING_CHUNK: Final = 64
"""Listings sent at once, each chunk answered before the next: within a mempool's nonce gap
and its pending transactions per account."""
GENERATOR_BOUND: Final = 0.9
"""Above this share of a core, the load generator may be what limits the rate."""


def _serve(
    pipe: multiprocessing.connection.Connection,
    data_dir: str,
    settings: dict[str, Any],
    frontends: int = 0,
) -> None:
    """The node's process: start, then answer ``"mark"`` (start of the measured window)
    and ``"stop"`` (its end) with what the node spent in between (``_NodeUsage``)."""
    from paraclear.api.app import NodeApp

    app = NodeApp(NodeConfig(data_dir=Path(data_dir), **settings), frontends=frontends)
    usage = _NodeUsage()
    app.node.subscribe(usage.on_block)
    pipe.send(app.start())
    pids = app.api.frontends.pids if app.api.frontends is not None else []
    while pipe.recv() == "mark":
        usage.mark(pids)
    pipe.send(usage.since_mark())
    app.stop()
    pipe.send("stopped")


class _NodeUsage:
    """CPU seconds of the node's process and of each of its threads (grouped by name, pool
    numbering dropped), and wall seconds of each block stage summed over blocks, since
    ``mark``."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.blocks = 0
        self._cpu = 0.0
        self._threads: dict[int, float] = {}
        self._frontends: dict[int, float] = {}
        """CPU seconds of each front-end process (by pid) at the mark."""

    def on_block(self, report: Any) -> None:
        for stage, seconds in report.seconds.items():
            self.stages[stage] = self.stages.get(stage, 0.0) + seconds
        self.blocks += 1

    def mark(self, frontends: list[int]) -> None:
        self.stages, self.blocks = {}, 0
        self._cpu, self._threads = time.process_time(), _thread_cpu()
        self._frontends = {pid: _process_cpu(pid) for pid in frontends}

    def since_mark(self) -> dict[str, Any]:
        by_name: dict[str, float] = {}
        for ident, (name, cpu) in _named_thread_cpu().items():
            by_name[name] = by_name.get(name, 0.0) + cpu - self._threads.get(ident, 0.0)
        return {
            "cpu_seconds": round(time.process_time() - self._cpu, 3),
            "thread_cpu_seconds": {
                name: round(cpu, 3) for name, cpu in sorted(by_name.items(), key=lambda i: -i[1])
            },
            "blocks": self.blocks,
            "block_stage_seconds": {name: round(s, 3) for name, s in self.stages.items()},
            "frontend_cpu_seconds": [
                round(_process_cpu(pid) - cpu, 3) for pid, cpu in self._frontends.items()
            ],
        }


def _process_cpu(pid: int) -> float:
    """CPU seconds (user and system) of process ``pid`` so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _named_thread_cpu() -> dict[int, tuple[str, float]]:
    """Each live thread's CPU seconds, by thread id, with its name less pool numbering."""
    found = {}
    for thread in threading.enumerate():
        ident = thread.ident
        if ident is None:  # not started yet
            continue
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
        except (OSError, AttributeError):  # exited meanwhile, or not on this platform
            continue
        found[ident] = (thread.name.rstrip("0123456789_-").removesuffix("Thread"), cpu)
    return found


def _thread_cpu() -> dict[int, float]:
    return {ident: cpu for ident, (_, cpu) in _named_thread_cpu().items()}


def _b64(keypair: Keypair, tx: Transaction) -> str:
    return signed_b64(keypair, tx)[0]


def signed_b64(keypair: Keypair, tx: Transaction) -> tuple[str, str]:
    """``tx`` signed for ``CHAIN``: base64 of its envelope (``signed_tx``), and its id."""
    signed = sign(keypair, CHAIN, tx)
    return base64.b64encode(encode_signed(signed)).decode(), tx_id(signed)


def logged_tx_ids(data_dir: str | Path) -> Counter[str]:
    """How many times each signed transaction's id is in the block log of ``data_dir``."""
    found: Counter[str] = Counter()
    with BlockStore.open(data_dir) as store:
        for block in store.blocks():
            for envelope in block.envelopes() or ():
                if envelope:
                    found[tx_id(decode_signed(envelope))] += 1
    return found


def _orders(
    trader: Keypair, maker: bool, count: int, rng: random.Random
) -> list[tuple[str, dict[str, Any], str]]:
    """(method, params, tx id) of ``count`` signed orders from nonce 1 (0 was the deposit)."""
    made = []
    for nonce in range(1, count + 1):
        side = rng.choice((Side.BUY, Side.SELL))
        sign_ = 1 if side is Side.BUY else -1
        offset = -sign_ * rng.randint(1, 2) if maker else sign_ * 2
        tx = PlaceOrder(
            sender=trader.account,
            nonce=nonce,
            instrument=PERP.name,
            side=side,
            kind=OrderType.LIMIT if maker else OrderType.IOC,
            price=MID + offset * TICK,
            size=LOT * rng.randint(1, 3),
        )
        signed = sign(trader, CHAIN, tx)
        params = {"signed_tx": base64.b64encode(encode_signed(signed)).decode()}
        made.append((f"private/{side.value}", params, tx_id(signed)))
    return made


def listed_instruments(count: int) -> list[Instrument]:
    """``BTC-PERP`` and ``count - 1`` BTC options (monthly expiries of 2030, calls and puts,
    strikes from 30,000 up by 500): distinct names, all listable years ahead of today."""
    options: list[Instrument] = []
    for at in range(count - 1):
        month, right, step = at % 12 + 1, (Right.CALL, Right.PUT)[at // 12 % 2], at // 24
        expiry = expiry_time(1, month, 2030)
        options.append(Option("BTC", expiry, (30_000 + 500 * step) * PRICE_SCALE, right))
    return [PERP, *options]


async def setup_market(
    url: str, operator: Keypair, traders: list[Keypair], listed: int = 1
) -> None:
    """List ``BTC-PERP`` (and ``listed - 1`` options: ``listed_instruments``), publish the
    index and fund every trader, through the API (with a generous timeout: the node's first
    blocks may load its compiled kernels)."""
    client = await AsyncClient.connect(url, timeout=SETUP_TIMEOUT)
    try:
        perp, *options = listed_instruments(listed)
        oracle = OracleUpdate(
            sender=operator.account, nonce=1, underlying="BTC", index_price=MID,
            atm_vol_ppm=600_000,
        )  # fmt: skip
        listing: list[Transaction] = [
            ListInstrument(sender=operator.account, nonce=0, instrument=perp)
        ]
        more: list[Transaction] = [
            ListInstrument(sender=operator.account, nonce=2 + at, instrument=option)
            for at, option in enumerate(options)
        ]
        chunks = [more[at : at + LISTING_CHUNK] for at in range(0, len(more), LISTING_CHUNK)]
        groups: list[list[Transaction]] = [listing, [oracle], *chunks]
        for group in groups:
            sent = [
                client.call("public/send_transaction", {"signed_tx": _b64(operator, tx)})
                for tx in group
            ]
            for result in await asyncio.gather(*sent):
                if not result["ok"]:
                    raise RuntimeError(f"setup failed: {result['error']}")
        deposits = [
            client.call(
                "public/send_transaction",
                {
                    "signed_tx": _b64(
                        t, Deposit(sender=t.account, nonce=0, amount=10**9 * USDC_SCALE)
                    )
                },
            )
            for t in traders
        ]
        for result in await asyncio.gather(*deposits):
            if not result["ok"]:
                raise RuntimeError(f"deposit failed: {result['error']}")
    finally:
        await client.close()


async def _load(
    url: str,
    traders: list[Keypair],
    plans: list[list[tuple[str, dict[str, Any], str]]],
    seconds: float,
    window: int,
    rate: float,
) -> dict[str, Any]:
    """Drive the node for ``seconds``. Flat out (``rate`` 0) each trader keeps ``window``
    orders in flight and an order's latency starts when it is sent; at a fixed ``rate``
    (orders/s over all traders) each trader sends on its own schedule, ``window`` still the
    most in flight, and latency starts at the order's scheduled time, so an order the
    generator sends late counts its wait (no coordinated omission)."""
    clients = []
    for trader in traders:
        client = await AsyncClient.connect(url, timeout=120)
        await client.auth(trader)
        clients.append(client)
    latencies: list[float] = []
    hops: dict[str, list[float]] = {name: [] for name in HOPS}
    acked: list[str] = []
    failed: dict[str, int] = {}
    refused: dict[str, int] = {}
    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    gap = len(traders) / rate if rate > 0 else 0.0
    """Seconds between one trader's orders at a fixed rate."""

    async def one(
        client: AsyncClient, method: str, params: dict[str, Any], ident: str, due: float | None
    ) -> None:
        queued = time.perf_counter()
        sent = queued if due is None else due
        try:
            _, stamps = await client.call_stamped(method, params)
        except RpcError as error:
            data = error.data or {}
            reason = str(data.get("error", error.code))
            included = "block" in data  # failed in its block: acknowledged all the same
            counts = failed if included else refused
            counts[reason] = counts.get(reason, 0) + 1
            if included:
                acked.append(ident)
            return
        done = time.perf_counter()
        if done <= deadline:
            latencies.append(done - sent)
            for name, seconds in zip(HOPS, _hops(stamps, queued - sent), strict=True):
                hops[name].append(seconds)
        acked.append(ident)

    async def trader_loop(
        number: int, client: AsyncClient, plan: list[tuple[str, dict[str, Any], str]]
    ) -> None:
        pending: set[asyncio.Task[None]] = set()
        for sent, (method, params, ident) in enumerate(plan):
            due = None
            if gap:
                due = started + gap * (sent + number / len(traders))
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if time.perf_counter() >= deadline:
                break
            while len(pending) >= window:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.create_task(one(client, method, params, ident, due)))
        if pending:
            await asyncio.wait(pending)

    await asyncio.gather(
        *(trader_loop(n, c, p) for n, (c, p) in enumerate(zip(clients, plans, strict=True)))
    )
    generator_cpu = time.process_time() - cpu_started
    for client in clients:
        await client.close()
    measured = min(time.perf_counter(), deadline) - started
    cuts = _percentiles(latencies)
    return {
        "orders_per_s": round(len(latencies) / measured),
        "offered_per_s": round(rate) if rate > 0 else None,
        "latency_from": "scheduled send" if rate > 0 else "send",
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "hops_ms": {
            name: {"p50": round(cut[49] * 1000, 2), "p99": round(cut[98] * 1000, 2)}
            for name, cut in ((name, _percentiles(spent)) for name, spent in hops.items())
        },
        "generator_cpu": round(generator_cpu / measured, 2),
        "acknowledged": len(acked),
        "failed_in_block": failed,
        "refused": refused,
        "acked_ids": acked,
    }


HOPS: Final = ("late", "to_node", "in_node", "from_node")
"""The legs of an order's latency (``hops_ms``): the generator's lag behind the order's
schedule (0 flat out), from its send to the node's receipt (``usIn``: the front-end's, or
the node's own API server), inside the node until it answered (``usOut``: the order durable
in its block), and from the answer to the generator reading it. The three after the lag are
wall-clock differences across processes of one machine."""


def _hops(stamps: Stamps, late: float) -> tuple[float, float, float, float]:
    """An order's legs in seconds (``HOPS``)."""
    return (
        late,
        (stamps.server_in - stamps.sent) / 1e6,
        (stamps.server_out - stamps.server_in) / 1e6,
        (stamps.received - stamps.server_out) / 1e6,
    )


def _percentiles(values: list[float]) -> list[float]:
    """The 99 cut points of ``values`` (zeros for fewer than two)."""
    if len(values) < 2:
        return [0.0] * 99
    return statistics.quantiles(values, n=100, method="inclusive")


def bench_node(
    seconds: float = 10.0,
    traders: int = 16,
    window: int = 48,
    rate_cap: int = 20_000,
    executor: str = "dry-run",
    matcher_processes: int = 1,
    block_interval: float = 0.1,
    progress: Progress | None = None,
    rate: float = 0.0,
    frontends: int = 0,
    listed: int = 1,
) -> dict[str, Any]:
    """Run the benchmark; returns the figures (see the module docstring). ``rate``:
    orders/s offered over all traders (0: flat out, ``window`` in flight each);
    ``frontends``: API front-end processes of the node (0: its own API server); ``listed``:
    instruments listed (``BTC-PERP``, the one traded, and ``listed - 1`` options)."""
    from paraclear.bench import machine

    say = progress or (lambda _: None)
    operator = Keypair.from_seed_int(0)
    keys = [Keypair.from_seed_int(1_000 + n) for n in range(traders)]
    per_trader = max(int((rate or rate_cap) * seconds / traders) + 1, 10)
    say(f"signing {per_trader * traders:,} orders")
    rng = random.Random(7)
    plans = [_orders(k, n % 2 == 0, per_trader, rng) for n, k in enumerate(keys)]
    data_dir = tempfile.mkdtemp(prefix="paraclear-bench-node-")
    settings = {
        "executor": executor,
        "matcher_processes": matcher_processes,
        "block_interval": block_interval,
        "snapshot_seconds": SERVE_SNAPSHOT_SECONDS,  # as `paraclear serve` runs it
    }
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child, data_dir, settings, frontends), daemon=True
    )
    process.start()
    try:
        url = f"ws://127.0.0.1:{parent.recv()}/ws/api/v2"
        say("setting up the market through the API")
        asyncio.run(setup_market(url, operator, keys, listed))
        pace = f"{rate:,.0f} orders/s offered" if rate > 0 else "flat out"
        say(f"{traders} traders, at most {window} orders in flight each, {pace}, {seconds:g} s")
        parent.send("mark")
        result = asyncio.run(_load(url, keys, plans, seconds, window, rate))
    finally:
        parent.send("stop")
        node_usage = parent.recv()
        parent.recv()
        process.join(30)
    acked = result.pop("acked_ids")
    stored = logged_tx_ids(data_dir)
    with BlockStore.open(data_dir) as store:
        blocks = store.height
    lost = sum(1 for ident in acked if ident not in stored)
    legs = ", ".join(f"{name} {leg['p50']}" for name, leg in result["hops_ms"].items())
    say(
        f"{result['orders_per_s']:,} orders/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, lost {lost}; p50 of each leg, ms: {legs}"
    )
    measured = seconds
    return {
        "machine": machine(),
        **result,
        "generator_bound": result["generator_cpu"] >= GENERATOR_BOUND,
        "node_cpu": round(node_usage["cpu_seconds"] / measured, 2),
        "node_threads_cpu": {
            name: round(cpu / measured, 3) for name, cpu in node_usage["thread_cpu_seconds"].items()
        },
        "node_cpu_us_per_order": _per_order(node_usage["cpu_seconds"], result["acknowledged"]),
        "frontends": frontends,
        "frontends_cpu_us_per_order": _per_order(
            sum(node_usage["frontend_cpu_seconds"]), result["acknowledged"]
        ),
        "frontends_cpu": [round(cpu / measured, 2) for cpu in node_usage["frontend_cpu_seconds"]],
        "node_blocks": node_usage["blocks"],
        "node_block_stages": _stage_shares(node_usage["block_stage_seconds"]),
        "lost": lost,
        "blocks": blocks,
        "traders": traders,
        "window": window,
        "seconds": seconds,
        "executor": executor,
        "matcher_processes": matcher_processes,
        "block_interval": block_interval,
        "rate": rate,
        "listed": listed,
    }


def _per_order(cpu_seconds: float, orders: int) -> float:
    """Microseconds of CPU per acknowledged order (the mark to the stop, drain included)."""
    return round(cpu_seconds * 1e6 / orders, 1) if orders else 0.0


def _stage_shares(seconds: dict[str, float]) -> dict[str, float]:
    """Each block stage's share of the blocks' total wall time (``BlockReport.seconds``)."""
    total = seconds.get("total", 0.0)
    return {
        name: round(spent / total, 3)
        for name, spent in seconds.items()
        if total and name != "total"
    }
