"""``public/get_accounts`` at scale, and what it does to other clients' latency.

``python -m paraclear.bench.accounts [--accounts 10000,100000] [--seconds 10] [--json]``
(also ``paraclear bench accounts``), for each account count:

1. writes a chain of that many funded accounts with positions (the simulation's workload:
   a setup block, then blocks of trades between them), signed for the house by the node's
   operator key, and starts a real node and API server on it;
2. **baseline**: one client reads ``public/ticker`` in a loop for ``--seconds``;
3. **loaded**: the same, while a second client pages through ``public/get_accounts``
   (100 rows at a time) and the node commits a block every 0.2 s, with a real oracle update
   (every account's margin changes) every fifth block and deposits from fresh accounts in
   the others.

Reports, per count: ``accounts_p50_ms``, ``accounts_p99_ms`` and ``accounts_max_ms`` (the
reader's round trips; the slowest wait for the ranking after an oracle update),
``first_ranking_s`` (the first call, which ranks every account), ``other_*_p50_ms`` and
``other_*_p99_ms`` in both phases, and ``other_p99_ratio`` (loaded over baseline). These are
wall-clock round trips on the machine as it is: compare the phases of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paraclear.api.node_api import node_api
from paraclear.api.server import ServerThread
from paraclear.bench import machine
from paraclear.chain.core import Node, NodeConfig
from paraclear.chain.storage import BlockStore
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.transactions import Deposit, OracleUpdate
from paraclear.client.async_client import AsyncClient
from paraclear.client.envelope import Keypair, sign
from paraclear.execution import Block, SequentialExecutor
from paraclear.numbers import PRICE_SCALE, USDC_SCALE
from paraclear.sim import workload

PAGE = 100
BLOCK_SECONDS = 0.2
ORACLE_EVERY = 5


def write_market(config: NodeConfig, accounts: int, trade_blocks: int = 2) -> float:
    """A chain of ``accounts`` funded accounts that trade, in ``config.data_dir``; the
    workload's house is the node's operator. Seconds it took."""
    started = time.perf_counter()
    workload.ADMIN = workload.ORACLE = config.operator.account  # the operator signs for both
    load = workload.Workload(
        workload.WorkloadConfig(seed=1, accounts=accounts, txs_per_block=accounts // 2)
    )
    executor = SequentialExecutor(ClearingMachine(load.model))
    state = load.genesis()
    with BlockStore.open(config.data_dir, config.spec, snapshot_every=1_000_000) as store:
        for height in range(1, trade_blocks + 2):
            made = load.setup_block() if height == 1 else load.next_block(state)
            block = Block(height=height, time=made.time, txs=made.txs)
            store.append(block, executor.execute(state, block))
        store.save_snapshot(store.height, state)
    return time.perf_counter() - started


async def _loop(
    client: AsyncClient, method: str, params: dict[str, Any], until: float
) -> list[float]:
    """Round trips (seconds) of ``method`` called back to back until ``until``."""
    seconds = []
    offset = 0
    while time.perf_counter() < until:
        if "offset" in params:
            params = {**params, "offset": offset}
            offset = (offset + PAGE) % 10_000
        started = time.perf_counter()
        await client.call(method, params)
        seconds.append(time.perf_counter() - started)
        if method == "public/get_accounts":
            await asyncio.sleep(0.05)  # within the per-connection rate limit
    return seconds


def _produce(node: Node, until: float) -> None:
    """Commit a block every ``BLOCK_SECONDS``: an oracle update every ``ORACLE_EVERY``th,
    a deposit from a fresh account in the others."""
    operator, n = node.operator, 0
    while time.perf_counter() < until:
        n += 1
        if n % ORACLE_EVERY == 0:
            tx: Any = OracleUpdate(
                sender=operator.account,
                nonce=node.next_nonce(operator.account),
                underlying="BTC",
                index_price=(60_000 - 10 * n) * PRICE_SCALE,
                atm_vol_ppm=600_000,
            )
            signed = sign(operator, node.chain_id, tx)
        else:
            key = Keypair.from_seed_int(10_000_000 + n)
            signed = sign(
                key, node.chain_id, Deposit(sender=key.account, nonce=0, amount=USDC_SCALE)
            )
        if not node.submit(signed).result(timeout=60).receipt.ok:
            raise RuntimeError(f"the bench's transaction failed: {signed.tx}")
        time.sleep(BLOCK_SECONDS)


def _ms(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if q == 50:
        return round(statistics.median(values) * 1e3, 2)
    return round(statistics.quantiles(values, n=100)[q - 1] * 1e3, 2)


async def _phases(url: str, node: Node, seconds: float) -> dict[str, Any]:
    other = await AsyncClient.connect(url, chain_id=node.chain_id)
    reader = await AsyncClient.connect(url, chain_id=node.chain_id)
    try:
        started = time.perf_counter()
        await reader.call("public/get_accounts", {"count": PAGE})
        first = time.perf_counter() - started
        ticker = {"instrument_name": "BTC-PERP"}
        baseline = await _loop(other, "public/ticker", ticker, time.perf_counter() + seconds)
        until = time.perf_counter() + seconds
        producer = asyncio.get_running_loop().run_in_executor(None, _produce, node, until)
        loaded, pages = await asyncio.gather(
            _loop(other, "public/ticker", ticker, until),
            _loop(reader, "public/get_accounts", {"count": PAGE, "offset": 0}, until),
        )
        await producer
    finally:
        await other.close()
        await reader.close()
    return {
        "first_ranking_s": round(first, 3),
        "accounts_calls": len(pages),
        "accounts_p50_ms": _ms(pages, 50),
        "accounts_p99_ms": _ms(pages, 99),
        "accounts_max_ms": round(max(pages, default=0.0) * 1e3, 2),
        "other_baseline_p50_ms": _ms(baseline, 50),
        "other_baseline_p99_ms": _ms(baseline, 99),
        "other_loaded_p50_ms": _ms(loaded, 50),
        "other_loaded_p99_ms": _ms(loaded, 99),
        "other_p99_ratio": round(_ms(loaded, 99) / max(_ms(baseline, 99), 1e-9), 2),
    }


def bench_accounts(counts: Sequence[int], seconds: float) -> dict[str, Any]:
    """See the module docstring."""
    result: dict[str, Any] = {"machine": machine(), "load_average": os.getloadavg(), "runs": []}
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="paraclear-accounts-") as data_dir:
            config = NodeConfig(data_dir=Path(data_dir), block_interval=0.01)
            setup = write_market(config, count)
            node = Node(config, clock=lambda: workload.START_TIME + 3 * 60)
            node.start()
            thread = ServerThread(node_api(node))
            thread.start()
            try:
                run = asyncio.run(_phases(thread.url, node, seconds))
            finally:
                thread.stop()
                node.stop()
        result["runs"].append({"accounts": count, "setup_s": round(setup, 1), **run})
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraclear.bench.accounts")
    parser.add_argument("--accounts", default="10000,100000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.accounts.split(",")]
    result = bench_accounts(counts, args.seconds)
    if args.json:
        print(json.dumps(result))
    else:
        for run in result["runs"]:
            print(json.dumps(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
