"""The liquidation scan against checking every account one by one, on the crash market."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

from paraclear.bench import machine
from paraclear.clearing.accounts import margin_status
from paraclear.clearing.margin import MarginModel
from paraclear.execution.gc import paused_gc
from paraclear.sim.crash import INDEX, CrashConfig, CrashScenario
from paraclear.sim.scan import position_table, scan
from paraclear.state import Key, StateView
from paraclear.state.keys import Field, account_field_of


def bench_scan(
    traders: int, moves_ppm: list[int], repeats: int = 5, portfolio: bool = False
) -> dict[str, object]:
    """Median milliseconds to find every account under maintenance margin after each index
    fall: the vectorised ``scan`` (and, within it, building the position table), and the
    exact ``margin_status`` of each account in a Python loop. Both must find the same set."""
    rows = []
    for move in moves_ppm:
        scenario = CrashScenario(CrashConfig(seed=1, traders=traders, portfolio_margin=portfolio))
        scenario.setup_market()
        scenario.publish_index(INDEX * (1_000_000 - move) // 1_000_000, 900_000)
        rows.append({"index_move_ppm": -move, **_measure(scenario, repeats)})
    return {"machine": machine(), "margin": "portfolio" if portfolio else "standard", "rows": rows}


def _measure(scenario: CrashScenario, repeats: int) -> dict[str, object]:
    data, model = scenario.state.data, scenario.machine.margin_model
    portfolios = (account_field_of(key, Field.PORTFOLIO) for key in data)
    holders = sorted({account for account in portfolios if account is not None})
    found = scan(data, model)
    if set(found.under_maintenance) != _one_by_one(data, model, holders):
        raise AssertionError("the scan and the exact check disagree")
    return {
        "accounts": len(holders),
        "state_keys": len(data),
        "under_maintenance": len(found.under_maintenance),
        "confirmed_exactly": found.confirmed,
        "scan_ms": _median_ms(lambda: scan(data, model), repeats),
        "table_ms": _median_ms(lambda: _paused(position_table, data), repeats),
        "one_by_one_ms": _median_ms(lambda: _one_by_one(data, model, holders), repeats),
    }


def _one_by_one(data: Mapping[Key, object], model: MarginModel, holders: list[str]) -> set[str]:
    """The exact check of every account, with the collector paused as ``scan`` pauses it."""
    with paused_gc():
        view = StateView(data)
        found = set()
        for account in holders:
            status = margin_status(view, account, model)
            if status.equity < status.maintenance:
                found.add(account)
        return found


def _paused(
    function: Callable[[Mapping[Key, object]], object], data: Mapping[Key, object]
) -> object:
    with paused_gc():
        return function(data)


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1e3, 2)
