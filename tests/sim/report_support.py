"""A real small block log and a made-up market run over it, for the report's tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from paraclear.bench.crashtest import Plan, make_plan, run_plan
from paraclear.sim.records import Greeks, MarketRun, TickRecord
from paraclear.sim.workload import WorkloadConfig

CRASH = 6
TICKS = 9


@cache
def small_plan() -> Plan:
    """A setup block and 8 blocks of 25 mixed transactions over 40 accounts."""
    return make_plan(WorkloadConfig(seed=3, accounts=40, txs_per_block=25), blocks=TICKS - 1)


def write_chain(data_dir: Path, plan: Plan) -> Path:
    run_plan(data_dir, plan, lambda line: None, snapshot_every=100)
    return data_dir


def tick(number: int) -> TickRecord:
    """Tick ``number``: a crash at ``CRASH`` with liquidations, backstops, then an ADL."""
    crashed = number >= CRASH
    return TickRecord(
        tick=number,
        time=1_767_225_600 + 60 * number,
        index=42_000.0 if crashed else 60_000.0 + number,
        atm_vol=1.5 if crashed else 0.6,
        height=number + 1,
        blocks=1,
        orders=100 + number,
        refused=1,
        failed=2,
        fills=10,
        liquidations=7 if number == CRASH else 0,
        backstops=2 if number == CRASH else 0,
        deleverages=1 if number == CRASH + 1 else 0,
        insurance_fund=1_000.0 if number < CRASH else 750.0,
        mm_greeks=Greeks(delta=-3.0 + number, gamma=1e-4, vega=2_500.0 * number, theta=-40.0),
        seconds=0.5,
        txs=30,
        covered=250.0 if number == CRASH else 0.0,
    )


ORDERS = sum(100 + number for number in range(TICKS))


def market_run(data_dir: Path, final_root: bytes = b"") -> MarketRun:
    """The run the ticks above describe, one block a tick, over ``data_dir``."""
    run = MarketRun(seed=3, accounts=40, data_dir=data_dir, crash_tick=CRASH)
    run.ticks = [tick(number) for number in range(TICKS)]
    run.smiles = {
        "before": [(50_000.0, 0.7), (60_000.0, 0.6), (70_000.0, 0.65)],
        "after": [(50_000.0, 1.6), (60_000.0, 1.5), (70_000.0, 1.55)],
    }
    run.smile_expiry = "BTC-26JUN26"
    run.wall_seconds = 4.5
    run.final_root = final_root.hex()
    run.roles = {"maker": 2, "liquidator": 1, "vol": 8, "directional": 29}
    run.errors = {
        "maker": {"InsufficientMargin": 3, "PostOnlyWouldCross": 5},
        "vol": {"InsufficientMargin": 4},
    }
    return run
