"""The state commitment's cost: the reference tree and the compiled tree side by side.

Two workloads, each run on both trees in the same process:

* ``random``: batches of ``changed`` keys (half updates, half new keys) committed into a
  state of ``state_keys`` keys, one batch after another;
* ``block``: the write set of a block of ``fills`` trades (matched fills) over as many
  accounts, taken by executing the block with the clearing house's compiled engine,
  committed into copies of the state before the block: as ``State.apply`` commits any write
  set (``commit`` "plain": every key encoded and hashed in Python), and as the compiled
  engine commits its own blocks (``commit`` "hashed": the hot keys' paths and value hashes
  computed from its tables, ``kernels.hashed``, the rest as before).

Each row splits the commit into stages (``State.apply``'s own timings): ``rows`` (the
hashed commit's paths and value hashes from the tables), ``encode`` (per key in Python: path
look-up, comparison, canonical encoding), ``value_hashes``, ``tree`` (branch and leaf
hashes) and ``root``; ``total_ms`` is the whole commit. The compiled tree is run on all
threads and on one, so its parallel share shows.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal

from paraclear.bench import machine
from paraclear.state import Key, State
from paraclear.state.compiled import set_threads, threads
from paraclear.state.hashed import HashedWrites
from paraclear.state.store import TreeKind, is_absent

if TYPE_CHECKING:
    from paraclear.clearing.transactions import Transaction
    from paraclear.execution import BlockRun

Progress = Callable[[str], None]
Writes = dict[Key, object]
Commit = Literal["plain", "hashed"]
Hasher = Callable[[], HashedWrites]
STAGES = ("rows", "encode", "value_hashes", "tree", "root")
TREES: tuple[tuple[TreeKind, int], ...] = (
    ("reference", 1),
    ("compiled", 1),
    ("compiled", threads()),
)


def bench_root(
    state_keys: int = 100_000,
    changed: int = 1_000,
    repeats: int = 5,
    fills: int = 10_000,
    progress: Progress | None = None,
) -> dict[str, object]:
    """Milliseconds to commit and recompute the root, by workload, tree and stage (medians
    of ``repeats``); ``ms_per_1000_keys`` is the compiled tree's on the random workload."""
    rows: list[dict[str, object]] = []
    initial: Writes = {("acct", f"a{i}", "collateral"): i + 1 for i in range(state_keys)}
    for tree, workers in TREES:
        batches = _random_batches(random.Random(1), state_keys, changed, repeats)
        rows.append(_random_row(initial, batches, tree, workers))
        _say(progress, rows[-1])
    if fills:
        before, run = executed_block(fills)
        for tree, workers in TREES:
            rows.append(_block_row(before, run.pending, repeats, tree, workers))
            _say(progress, rows[-1])
        hasher = _hasher(run)
        for workers in dict.fromkeys((1, threads())):
            rows.append(_block_row(before, run.pending, repeats, "compiled", workers, hasher))
            _say(progress, rows[-1])
    default = rows[len(TREES) - 1]  # random workload, compiled tree, default threads
    return {
        "machine": machine(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "state_keys": state_keys,
        "changed_keys": changed,
        "fills": fills,
        "ms_per_1000_keys": default["ms_per_1000_keys"],
        "rows": rows,
    }


def executed_block(fills: int) -> tuple[Writes, BlockRun[Transaction]]:
    """The state before a block of ``fills`` trades over ``fills`` accounts (after a setup
    block and one block of the same kind), and the block run by the compiled engine to its
    end, not committed (``run.pending``: its write set)."""
    from paraclear.clearing import ClearingMachine
    from paraclear.execution import BlockRun, execute_block
    from paraclear.sim.workload import Workload, WorkloadConfig

    accounts = max(2, fills)
    workload = Workload(
        WorkloadConfig(seed=1, accounts=accounts, txs_per_block=fills, mix={"trade": 1.0})
    )
    clearing = ClearingMachine(workload.model, engine="compiled")
    state = workload.genesis()
    execute_block(state, workload.setup_block(), clearing)
    execute_block(state, workload.next_block(state), clearing)
    block = workload.next_block(state)
    run = BlockRun(state.data, clearing, block.context)
    run.run_all(block.txs)
    return dict(state.data), run


def _hasher(run: BlockRun[Transaction]) -> Hasher:
    """What makes the hashed commit's ``HashedWrites`` of ``run`` (its engine's row hasher;
    it may be asked again: it reads the tables and only fills its path caches)."""
    runner = run.runner
    made = None if runner is None else runner.hashed(run)
    if runner is None or made is None:
        raise RuntimeError("the compiled engine hashed none of the block's keys")
    made.settled()  # not to queue the first timed one behind it

    def hashed() -> HashedWrites:
        made = runner.hashed(run)
        assert made is not None
        return made

    return hashed


def _random_batches(
    rng: random.Random, state_keys: int, changed: int, repeats: int
) -> Iterator[Writes]:
    for repeat in range(repeats):
        writes: Writes = {
            ("acct", f"a{rng.randrange(state_keys)}", "collateral"): rng.randrange(1, 10**9)
            for _ in range(changed // 2)
        }
        fresh = changed - len(writes)
        writes.update({("acct", f"new{repeat}-{i}", "collateral"): i + 1 for i in range(fresh)})
        yield writes


def _random_row(
    initial: Writes, batches: Iterator[Writes], tree: TreeKind, workers: int
) -> dict[str, object]:
    state = State(initial, tree=tree)
    samples = [_commit(state, writes, workers) for writes in batches]
    return _row("random", tree, workers, samples)


def _block_row(
    before: Writes,
    writes: Writes,
    repeats: int,
    tree: TreeKind,
    workers: int,
    hasher: Hasher | None = None,
) -> dict[str, object]:
    """Commit ``writes`` into copies of ``before`` (``hasher``: the hashed commit's)."""
    base = State(before, tree=tree)
    samples = [_commit(base.copy(), writes, workers, hasher) for _ in range(repeats)]
    return _row("block", tree, workers, samples, "plain" if hasher is None else "hashed")


def _commit(
    state: State, writes: Writes, workers: int, hasher: Hasher | None = None
) -> tuple[int, dict[str, float]]:
    """Commit ``writes`` hashing on ``workers`` threads (``hasher``: the paths and value
    hashes of its hot keys, made first and timed as ``rows``); return the keys it changed
    and the seconds of each stage and in all."""
    data = state.data
    changed = sum(
        (key in data) if is_absent(value) else (key not in data or data[key] != value)
        for key, value in writes.items()
    )
    previous = set_threads(workers)
    try:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        hashed = hasher() if hasher is not None else None
        timings["rows"] = time.perf_counter() - started
        state.apply(writes, timings, hashed)
        timings["rows"] += timings.pop("rows_wait", 0.0)  # the rows hashed beside the encode
        rooted = time.perf_counter()
        state.root()
        timings["root"] = time.perf_counter() - rooted
        timings["total"] = time.perf_counter() - started
    finally:
        set_threads(previous)
    return changed, timings


def _row(
    workload: str,
    tree: TreeKind,
    workers: int,
    samples: list[tuple[int, dict[str, float]]],
    commit: Commit = "plain",
) -> dict[str, object]:
    keys = statistics.median(changed for changed, _ in samples)
    total = statistics.median(timings["total"] for _, timings in samples) * 1_000
    row: dict[str, object] = {
        "workload": workload,
        "tree": tree,
        "threads": workers,
        "commit": commit,
        "changed_keys": keys,
        "total_ms": round(total, 2),
        "ms_per_1000_keys": round(total * 1_000 / max(keys, 1), 3),
    }
    for stage in STAGES:
        ms = statistics.median(timings.get(stage, 0.0) for _, timings in samples) * 1_000
        row[f"{stage}_ms"] = round(ms, 2)
    return row


def _say(progress: Progress | None, row: dict[str, object]) -> None:
    if progress:
        stages = ", ".join(f"{stage} {row[f'{stage}_ms']} ms" for stage in STAGES)
        progress(
            f"{row['workload']}, {row['tree']} tree on {row['threads']} thread(s), "
            f"{row['commit']} commit: "
            f"{row['changed_keys']:,} keys in {row['total_ms']} ms ({stages})"
        )
