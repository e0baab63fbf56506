"""The options pool under load: what a trade against it costs, and how it lengthens a block.

* Cost: CPU microseconds per transaction of a block of trades against the pool, with the
  pool holding the whole generated option chain, next to a block of book trades on the same
  state (both end to end: execution, commit and root). CPU time rather than wall time, so a
  busy machine slows both without blurring their ratio.
* Contention: every pool transaction writes the pool's one lock, so the block's conflict
  graph (from declared access sets; deltas commute with deltas) gets a chain through them.
  Its critical path, the fewest steps any parallel executor needs, is reported per share of
  pool activity in the workload.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter, defaultdict
from typing import Final

from paraclear.bench import machine
from paraclear.clearing import ClearingMachine
from paraclear.clearing.instruments import Option
from paraclear.clearing.transactions import PoolTrade, Side, Trade, Transaction
from paraclear.execution import Block, execute_block
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import Lock, State
from paraclear.state import keys as k

WARM_BLOCKS: Final = 6
"""Blocks run before measuring, so the pool holds every series and accounts hold positions."""


def critical_path(block: Block[Transaction], clearing: ClearingMachine) -> int:
    """Longest chain of conflicting transactions in ``block`` (declared access sets).

    Two transactions conflict when one writes a lock the other touches, or one reads a lock
    the other adds to; additions to the same lock commute.
    """
    written: defaultdict[Lock, int] = defaultdict(int)
    read: defaultdict[Lock, int] = defaultdict(int)
    added: defaultdict[Lock, int] = defaultdict(int)
    longest = 0
    for tx in block.txs:
        access = clearing.access(tx)
        assert access is not None
        level = 1 + max(
            [0]
            + [max(written[lock], read[lock], added[lock]) for lock in access.writes]
            + [max(written[lock], added[lock]) for lock in access.reads]
            + [max(written[lock], read[lock]) for lock in access.deltas]
        )
        for table, locks in ((written, access.writes), (read, access.reads)):
            for lock in locks:
                table[lock] = max(table[lock], level)
        for lock in access.deltas:
            added[lock] = max(added[lock], level)
        longest = max(longest, level)
    return longest


def bench_pool(
    shares: list[float], txs: int = 500, repeats: int = 3, seed: int = 1
) -> dict[str, object]:
    """Per-transaction cost of pool and book trades, and critical paths per pool share."""
    return {
        "machine": machine(),
        **_trade_cost(txs, repeats, seed),
        "contention": [_contention(share, txs, repeats, seed) for share in shares],
    }


def _warm_state(txs: int, seed: int) -> tuple[Workload, ClearingMachine, State]:
    workload = Workload(WorkloadConfig(seed=seed, accounts=300, txs_per_block=txs, pool_share=0.5))
    clearing = ClearingMachine(workload.model)
    state = workload.genesis()
    execute_block(state, workload.setup_block(), clearing)
    for _ in range(WARM_BLOCKS):
        execute_block(state, workload.next_block(state), clearing)
    return workload, clearing, state


def _trade_cost(txs: int, repeats: int, seed: int) -> dict[str, object]:
    workload, clearing, state = _warm_state(txs, seed)
    rng = random.Random(seed)
    costs: dict[str, list[float]] = {"pool_trade": [], "book_trade": []}
    for _ in range(repeats):
        for kind in costs:
            block = _trades(workload, state, rng, txs, pool=kind == "pool_trade")
            copy = state.copy()
            started = time.process_time()
            execute_block(copy, block, clearing)
            costs[kind].append((time.process_time() - started) * 1e6 / txs)
    pool_us = statistics.median(costs["pool_trade"])
    book_us = statistics.median(costs["book_trade"])
    names: tuple[str, ...] = state.data.get(k.portfolio(k.POOL_ACCOUNT)) or ()  # type: ignore[assignment]
    return {
        "pool_positions": len(names),
        "pool_trade_cpu_us": round(pool_us, 1),
        "book_trade_cpu_us": round(book_us, 1),
        "pool_over_book": round(pool_us / book_us, 2),
    }


def _trades(
    workload: Workload, state: State, rng: random.Random, count: int, *, pool: bool
) -> Block[Transaction]:
    """``count`` one-lot trades between random accounts, against the pool or between them."""
    options = [
        i for i in workload.instruments if isinstance(i, Option) and i.expiry > workload.time
    ]
    used: Counter[str] = Counter()
    txs: list[Transaction] = []
    for _ in range(count):
        taker, maker = rng.sample(workload.accounts, 2)
        nonce = state.data.get(k.nonce(taker), 0) + used[taker]  # type: ignore[operator]
        used[taker] += 1
        inst = rng.choice(options)
        side = rng.choice((Side.BUY, Side.SELL))
        size = inst.lot_size
        if pool:
            limit = 10**12 if side is Side.BUY else 0
            txs.append(
                PoolTrade(
                    sender=taker,
                    nonce=nonce,
                    instrument=inst.name,
                    side=side,
                    size=size,
                    limit_price=limit,
                )
            )
        else:
            mark = state.data[k.mark(inst.name)].price  # type: ignore[attr-defined]
            price = max(mark // inst.tick_size * inst.tick_size, inst.tick_size)
            txs.append(
                Trade(
                    sender=taker,
                    nonce=nonce,
                    maker=maker,
                    instrument=inst.name,
                    side=side,
                    size=size,
                    price=price,
                )
            )
    return Block(workload.height, workload.time + 1, tuple(txs))


def _contention(share: float, txs: int, repeats: int, seed: int) -> dict[str, object]:
    config = WorkloadConfig(seed=seed, accounts=1_000, txs_per_block=txs, pool_share=share)
    workload = Workload(config)
    clearing = ClearingMachine(workload.model)
    state = workload.genesis()
    execute_block(state, workload.setup_block(), clearing)
    paths, writers = [], []
    for _ in range(repeats):
        block = workload.next_block(state)
        paths.append(critical_path(block, clearing))
        writers.append(sum(_writes_pool(clearing, tx) for tx in block.txs))
        execute_block(state, block, clearing)
    return {
        "pool_share": share,
        "txs_per_block": txs,
        "critical_path": statistics.median(paths),
        "pool_lock_writers": statistics.median(writers),
    }


def _writes_pool(clearing: ClearingMachine, tx: Transaction) -> bool:
    access = clearing.access(tx)
    return access is not None and k.POOL_LOCK in access.writes
