"""Block store figures: durable append latency, replay throughput, snapshot size and times.

A seeded workload (``accounts`` funded accounts, ``blocks`` blocks of ``txs_per_block`` mixed
transactions after the setup block) is executed live and appended to a fresh data directory
(``synchronous=FULL``: each append waits for the disk). Then the same directory is
replayed from genesis and recovered from its latest snapshot, and the final state is
snapshotted, saved and loaded a few times. Latencies are per append; times are medians.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from paraclear.bench import machine
from paraclear.chain.replay import open_state, replay
from paraclear.chain.snapshot import decode_state, encode_state
from paraclear.chain.storage import DEFAULT_KEEP_SNAPSHOTS, BlockStore, ChainSpec
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import HouseConfig
from paraclear.execution import Block, SequentialExecutor
from paraclear.sim.workload import ADMIN, ORACLE, Workload, WorkloadConfig
from paraclear.state import State

Say = Callable[[str], None]


def bench_store(
    accounts: int, blocks: int, txs_per_block: int, repeats: int, say: Say = lambda _: None
) -> dict[str, object]:
    """The figures as one JSON-ready dict (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="paraclear-bench-store-") as tmp:
        data_dir = Path(tmp)
        say(f"writing {blocks + 1} blocks for {accounts:,} accounts")
        appends, live = write_chain(data_dir, accounts, blocks, txs_per_block)
        say("replaying from genesis")
        with BlockStore.open(data_dir) as store:
            _, report = replay(store, "genesis")
        if not report.ok:
            raise RuntimeError(f"replay diverged: {report.mismatch}")
        say("snapshot save and load")
        snapshot = _snapshot_figures(data_dir, repeats)
        started = time.perf_counter()
        store, _ = open_state(data_dir)
        store.close()
        recover_seconds = time.perf_counter() - started
    appends.sort()
    return {
        "machine": machine(),
        "accounts": accounts,
        "blocks": blocks + 1,
        "txs": report.txs,
        "txs_per_block": txs_per_block,
        "synchronous": "FULL",
        "append_p50_ms": _ms(_quantile(appends, 0.5)),
        "append_p99_ms": _ms(_quantile(appends, 0.99)),
        "append_max_ms": _ms(appends[-1]),
        **live,
        "replay_seconds": round(report.seconds, 3),
        "replay_tps": round(report.tps),
        "recover_seconds": round(recover_seconds, 3),
        **snapshot,
    }


def write_chain(
    data_dir: Path,
    accounts: int,
    blocks: int,
    txs_per_block: int,
    *,
    snapshot_every: int = 0,
    keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS,
) -> tuple[list[float], dict[str, object]]:
    """Execute and append the workload (a snapshot every ``snapshot_every`` blocks, default
    half the chain): every append's time, the live execution rate and the directory's size."""
    workload = Workload(WorkloadConfig(seed=1, accounts=accounts, txs_per_block=txs_per_block))
    spec = ChainSpec("bench-store", HouseConfig(admin=ADMIN, oracle=ORACLE))
    executor = SequentialExecutor(ClearingMachine(workload.model))
    state = spec.genesis_state()
    appends: list[float] = []
    execute_seconds = 0.0
    txs = 0
    every = snapshot_every or max(1, blocks // 2)
    with BlockStore.open(
        data_dir, spec, snapshot_every=every, keep_snapshots=keep_snapshots
    ) as store:
        for height in range(1, blocks + 2):
            made = workload.setup_block() if height == 1 else workload.next_block(state)
            block = Block(height=height, time=made.time, txs=made.txs)
            started = time.perf_counter()
            result = executor.execute(state, block)
            appended = time.perf_counter()
            store.append(block, result)
            appends.append(time.perf_counter() - appended)
            execute_seconds += appended - started
            txs += len(block.txs) if height > 1 else 0
            if store.snapshot_due(height):
                store.save_snapshot(height, state)
        store.save_snapshot(store.height, state)
    return appends, {
        "live_tps_after_setup": round(txs / execute_seconds) if execute_seconds else 0,
        "db_bytes": sum(f.stat().st_size for f in data_dir.iterdir()),
    }


def _snapshot_figures(data_dir: Path, repeats: int) -> dict[str, object]:
    with BlockStore.open(data_dir) as store:
        latest = store.latest_snapshot()
        assert latest is not None
        state = decode_state(latest.data)
        encode, save, load = [], [], []
        for _ in range(repeats):
            started = time.perf_counter()
            data = encode_state(state)
            encode.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.save_snapshot(latest.height, state)
            save.append(time.perf_counter() - started)
            started = time.perf_counter()
            loaded = store.snapshot(latest.height).state()
            load.append(time.perf_counter() - started)
            assert loaded.root() == latest.state_root
        stored_bytes = store.snapshot(latest.height).stored_bytes
    return {
        "snapshot_keys": len(state),
        "snapshot_bytes": len(data),
        "snapshot_stored_bytes": stored_bytes,
        "snapshot_encode_seconds": round(statistics.median(encode), 4),
        "snapshot_save_seconds": round(statistics.median(save), 4),
        "snapshot_load_seconds": round(statistics.median(load), 4),
        "state_build_seconds": round(_state_build_seconds(state, repeats), 4),
    }


def _state_build_seconds(state: State, repeats: int) -> float:
    """Building a State (its Merkle tree) from the entries alone: the floor under a load."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        State(state.data).root()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
