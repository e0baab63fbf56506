"""A block writer to kill: the process the crash-safety tests SIGKILL at random moments.

A **plan** is a chain spec, a list of workload blocks (heights 1…n) and the roots an
uninterrupted run reaches after each. ``run_plan`` opens the data directory (recovering the
state from the log), executes the blocks the log does not have yet, and after each durable
``append`` emits ``committed <height> <root-hex>``; it snapshots as the store says. Killed
and restarted on the same directory, it must lose no committed block and reach the same
roots as the uninterrupted run.

    python -m paraclear.bench.crashtest plan PLAN_FILE [--seed S] [--blocks N] ...
    python -m paraclear.bench.crashtest run DATA_DIR PLAN_FILE [--snapshot-every N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from paraclear.chain.replay import open_state
from paraclear.chain.storage import ChainSpec
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import HouseConfig
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, SequentialExecutor
from paraclear.sim.workload import ADMIN, ORACLE, Workload, WorkloadConfig

Emit = Callable[[str], None]


class Plan(msgspec.Struct, frozen=True):
    """Blocks to write and the root an uninterrupted run has after each (``roots[h - 1]``)."""

    spec: ChainSpec
    blocks: tuple[Block[Transaction], ...]
    roots: tuple[bytes, ...]


def make_plan(config: WorkloadConfig, blocks: int, chain_id: str = "crashtest") -> Plan:
    """The workload's setup block and ``blocks`` more, numbered from 1, with their roots."""
    workload = Workload(config)
    spec = ChainSpec(
        chain_id,
        HouseConfig(admin=ADMIN, oracle=ORACLE),
        "portfolio" if config.portfolio_margin else "standard",
    )
    state = spec.genesis_state()
    executor = SequentialExecutor(ClearingMachine(workload.model))
    made: list[Block[Transaction]] = []
    roots: list[bytes] = []
    for height in range(1, blocks + 2):
        generated = workload.setup_block() if height == 1 else workload.next_block(state)
        block = Block(height=height, time=generated.time, txs=generated.txs)
        roots.append(executor.execute(state, block).state_root)
        made.append(block)
    return Plan(spec, tuple(made), tuple(roots))


def run_plan(data_dir: str | Path, plan: Plan, emit: Emit, *, snapshot_every: int) -> int:
    """Recover ``data_dir``, then write the plan's remaining blocks. Emits
    ``recovered <height> <root>``, then ``committed <height> <root>`` after each durable
    append, then ``done``. Returns the number of blocks written."""
    store, state = open_state(data_dir, plan.spec, snapshot_every=snapshot_every)
    emit(f"recovered {store.height} {store.last_root.hex()}")
    executor = SequentialExecutor(ClearingMachine(plan.spec.model()))
    written = 0
    with store:
        for block in plan.blocks[store.height :]:
            result = executor.execute(state, block)
            store.append(block, result)
            emit(f"committed {block.height} {result.state_root.hex()}")
            written += 1
            if store.snapshot_due(block.height):
                store.save_snapshot(block.height, state)
    emit("done")
    return written


def _print_line(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m paraclear.bench.crashtest", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="generate a plan file")
    plan.add_argument("plan_file", type=Path)
    plan.add_argument("--seed", type=int, default=1)
    plan.add_argument("--blocks", type=int, default=40, help="blocks after the setup block")
    plan.add_argument("--accounts", type=int, default=100)
    plan.add_argument("--txs-per-block", type=int, default=30)
    run = commands.add_parser("run", help="write a plan's blocks into a data directory")
    run.add_argument("data_dir", type=Path)
    run.add_argument("plan_file", type=Path)
    run.add_argument("--snapshot-every", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "plan":
        config = WorkloadConfig(
            seed=args.seed, accounts=args.accounts, txs_per_block=args.txs_per_block
        )
        args.plan_file.write_bytes(msgspec.msgpack.encode(make_plan(config, args.blocks)))
        return 0
    loaded = msgspec.msgpack.decode(args.plan_file.read_bytes(), type=Plan)
    run_plan(args.data_dir, loaded, _print_line, snapshot_every=args.snapshot_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
