"""``paraclear demo``'s report: what the agent market did and what its replay showed.

A ``DemoReport`` joins the market run (``sim.records.MarketRun``: ticks, smiles, Greeks)
with the replay comparison (``sim.compare.ReplayComparison``: both executors on every
block, roots checked) and the machine. ``summary`` is the ``--json`` object, ``text`` the
printed report; ``sim.report_html.write_html`` draws the same figures as plots.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from paraclear.sim.compare import ReplayComparison
from paraclear.sim.records import Greeks, MarketRun, TickRecord


@dataclass(frozen=True)
class Machine:
    """What the figures were measured on."""

    cores: int
    cpu: str
    python: str

    @classmethod
    def this(cls) -> Machine:
        return cls(os.cpu_count() or 0, cpu_model(), platform.python_version())


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or the platform's processor name."""
    try:
        for line in cpuinfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class DemoReport:
    """A finished demo: the run, its replay comparison, the machine, the HTML path."""

    run: MarketRun
    replay: ReplayComparison
    machine: Machine = field(default_factory=Machine.this)
    html: Path | None = None

    @property
    def run_seconds(self) -> float:
        """Wall time of the market run (the ticks' sum if the run did not record it)."""
        return self.run.wall_seconds or sum(tick.seconds for tick in self.run.ticks)

    @property
    def orders_per_second(self) -> float:
        seconds = self.run_seconds
        return self.run.orders / seconds if seconds else 0.0

    @property
    def tx_per_second(self) -> float:
        seconds = self.run_seconds
        return self.replay.txs / seconds if seconds else 0.0

    def total(self, name: str) -> int:
        """A tick counter summed over the run ("fills", "backstops", ...)."""
        return sum(int(getattr(tick, name)) for tick in self.run.ticks)

    def fund_before_crash(self) -> float:
        """The insurance fund at the end of the tick before the crash (or the first)."""
        ticks = self.run.ticks
        before = [tick for tick in ticks if tick.tick < self.run.crash_tick]
        chosen = before[-1] if before else ticks[0] if ticks else None
        return chosen.insurance_fund if chosen else 0.0

    def fund_after(self) -> float:
        return self.run.ticks[-1].insurance_fund if self.run.ticks else 0.0

    def fund_peak(self) -> float:
        return max((tick.insurance_fund for tick in self.run.ticks), default=0.0)

    def fund_used(self) -> float:
        """What the insurance fund paid out over the run towards bankrupt accounts' deficits."""
        return sum(tick.covered for tick in self.run.ticks)

    def greeks_rows(self) -> list[tuple[str, TickRecord]]:
        """The ticks the Greeks table shows: start, before the crash, the crash, the end."""
        ticks = self.run.ticks
        if not ticks:
            return []
        by_tick = {tick.tick: tick for tick in ticks}
        crash = self.run.crash_tick
        wanted = [("start", ticks[0].tick), ("before crash", crash - 1), ("crash", crash)]
        wanted.append(("end", ticks[-1].tick))
        rows: list[tuple[str, TickRecord]] = []
        for label, number in wanted:
            tick = by_tick.get(number)
            if tick is not None and all(tick is not shown for _, shown in rows):
                rows.append((label, tick))
        return rows


def summary(report: DemoReport) -> dict[str, object]:
    """The ``--json`` object: counts, rates, the replay's figures, the machine."""
    run, replay = report.run, report.replay
    path_mean, path_max, share_mean, share_max = replay.critical_path_stats()
    return {
        "seed": run.seed,
        "accounts": run.accounts,
        "minutes": len(run.ticks),
        "crash_tick": run.crash_tick,
        "orders": run.orders,
        "orders_per_second": round(report.orders_per_second, 1),
        "blocks": run.blocks,
        "txs": replay.txs,
        "tx_per_second": round(report.tx_per_second, 1),
        "fills": report.total("fills"),
        "refused": report.total("refused"),
        "failed": report.total("failed"),
        "run_seconds": round(report.run_seconds, 3),
        "stalls": run.stalls,
        "lost": run.lost,
        "roots_equal": replay.roots_equal,
        "first_mismatch": replay.first_mismatch,
        "speedup": round(replay.speedup, 3),
        "median_block_speedup": round(replay.median_speedup, 3),
        "sequential_seconds": round(replay.sequential_seconds, 4),
        "parallel_seconds": round(replay.parallel_seconds, 4),
        "workers": replay.workers,
        "backend": replay.backend,
        "ceiling": None if replay.ceiling is None else round(replay.ceiling, 3),
        "compiled_share": round(replay.compiled_share, 4),
        "bound": round(replay.bound, 3),
        "engine": replay.engine,
        "reexecutions": replay.reexecutions,
        "fallbacks": replay.fallbacks,
        "spread_blocks": replay.spread_blocks,
        "planned_blocks": replay.planned_blocks,
        "liquidations": run.liquidations,
        "backstops": report.total("backstops"),
        "deleverages": report.total("deleverages"),
        "insurance_fund_before": round(report.fund_before_crash(), 6),
        "insurance_fund_after": round(report.fund_after(), 6),
        "insurance_fund_peak": round(report.fund_peak(), 6),
        "insurance_fund_used": round(report.fund_used(), 6),
        "critical_path_mean": round(path_mean, 2),
        "critical_path_max": path_max,
        "critical_path_share_mean": round(share_mean, 4),
        "critical_path_share_max": round(share_max, 4),
        "dag_parallelism": round(replay.dag_parallelism, 3),
        "widest_level_mean": round(replay.widest_level_mean(), 2),
        "worker_busy_seconds": [round(busy, 4) for busy in replay.worker_busy_seconds()],
        "parallel_stage_seconds": {k: round(v, 4) for k, v in replay.stage_seconds().items()},
        "hot_keys": [{"key": key, "accesses": n} for key, n in replay.hot_keys()],
        "roles": dict(run.roles),
        "errors": {role: dict(codes) for role, codes in run.errors.items()},
        "mm_greeks": {label: _greeks(tick.mm_greeks) for label, tick in report.greeks_rows()},
        "final_root": replay.final_root.hex(),
        "machine": {"cores": report.machine.cores, "cpu": report.machine.cpu},
        "html": None if report.html is None else str(report.html),
    }


def _greeks(greeks: Greeks) -> dict[str, float]:
    return {
        "delta": round(greeks.delta, 6),
        "gamma": round(greeks.gamma, 9),
        "vega": round(greeks.vega, 3),
        "theta": round(greeks.theta, 3),
    }


def text(report: DemoReport) -> str:
    """The printed report, one topic per paragraph."""
    return "\n".join(
        [
            *_market_lines(report),
            *_replay_lines(report),
            *_crash_lines(report),
            *_contention_lines(report),
            *greeks_table(report),
            f"machine: {report.machine.cores} cores, {report.machine.cpu}, "
            f"Python {report.machine.python}",
            *([f"HTML report: {report.html}"] if report.html else []),
        ]
    )


def _market_lines(report: DemoReport) -> list[str]:
    run = report.run
    roles = ", ".join(f"{n:,} {role}" for role, n in run.roles.items())
    return [
        f"paraclear demo: seed {run.seed}, {run.accounts:,} accounts"
        + (f" ({roles})" if roles else "")
        + f", {len(run.ticks)} simulated minutes, crash at minute {run.crash_tick}",
        f"market: {run.orders:,} orders in {report.run_seconds:.1f} s = "
        f"{report.orders_per_second:,.0f} orders/s; {run.blocks:,} blocks, "
        f"{report.replay.txs:,} transactions = {report.tx_per_second:,.0f} tx/s",
        f"        fills {report.total('fills'):,}, refused at admission "
        f"{report.total('refused'):,}, failed in block {report.total('failed'):,}"
        + (f" (most: {common})" if (common := _common_errors(run)) else ""),
        *_warnings(run),
    ]


def _warnings(run: MarketRun) -> list[str]:
    """What makes a run unsound: blocks made too early, requests lost before the node."""
    lines = []
    if run.stalls:
        lines.append(
            f"        WARNING: {run.stalls} times the driver gave up waiting for requests to "
            "reach the node (this run is not reproducible from its seed)"
        )
    if run.lost:
        lines.append(f"        WARNING: {run.lost} requests refused by the API before the node")
    return lines


def _common_errors(run: MarketRun, top: int = 3) -> str:
    """The agents' most frequent error codes over all roles, with their counts."""
    total: dict[str, int] = {}
    for codes in run.errors.values():
        for code, n in codes.items():
            total[code] = total.get(code, 0) + n
    ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))[:top]
    return ", ".join(f"{code} {n:,}" for code, n in ranked)


def _replay_lines(report: DemoReport) -> list[str]:
    replay = report.replay
    if replay.roots_equal:
        live = "" if replay.expected_root is None else ", and the live node's final root"
        verdict = f"yes (every block's root and receipts, both executors, equal to the log{live})"
    else:
        where = replay.first_mismatch
        verdict = "NO" + (f": first difference at height {where}" if where else ": final root")
    return [
        f"replay of the same blocks from genesis: sequential {replay.sequential_seconds:.3f} s "
        f"({replay.engine} engine), parallel {replay.parallel_seconds:.3f} s "
        f"({_workers(replay.workers)}, {replay.backend})",
        f"        speedup x{replay.speedup:.2f} (total), x{replay.median_speedup:.2f} "
        f"(median per block){_ceiling(replay.ceiling)}; bound x{replay.bound:.2f} (compiled "
        f"calls {replay.compiled_share:.0%} of the sequential replay, the rest Python, "
        "which threads run one at a time); re-executions "
        f"{replay.reexecutions:,}, sequential fallbacks {replay.fallbacks}; blocks run by "
        f"the workers {replay.spread_blocks:,} of {len(replay.blocks):,} (the others in the "
        "executor's thread: not worth spreading, by the schedule or as measured), planned "
        f"{replay.planned_blocks:,}; workers busy "
        + ", ".join(f"{busy:.2f}" for busy in replay.worker_busy_seconds())
        + " s",
        "        parallel time by stage: "
        + ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in replay.stage_seconds().items())
        + " s",
        f"roots equal: {verdict}",
    ]


def _ceiling(ceiling: float | None) -> str:
    if ceiling is None:
        return ""
    return f", of this machine's ceiling x{ceiling:.2f} for as many threads"


def _workers(count: int) -> str:
    return "1 worker" if count == 1 else f"{count} workers, one in this process"


def _crash_lines(report: DemoReport) -> list[str]:
    return [
        f"crash: liquidations {report.run.liquidations:,}, insurance-fund backstops "
        f"{report.total('backstops'):,}, auto-deleverages {report.total('deleverages'):,}",
        f"        insurance fund {report.fund_before_crash():,.2f} USDC before the crash, "
        f"peak {report.fund_peak():,.2f}, {report.fund_used():,.2f} paid out to cover "
        f"deficits, {report.fund_after():,.2f} at the end",
    ]


def _contention_lines(report: DemoReport) -> list[str]:
    path_mean, path_max, share_mean, share_max = report.replay.critical_path_stats()
    names = report.run.names
    hot = ", ".join(f"{short_key(key, names=names)} ({n:,})" for key, n in report.replay.hot_keys())
    return [
        f"contention: critical path mean {path_mean:.1f} transactions ({share_mean:.0%} of a "
        f"block of 2 or more), max {path_max:,} ({share_max:.0%}); the DAG allows at most "
        f"x{report.replay.dag_parallelism:.2f} with unlimited workers",
        f"        hot keys (accesses to locks written in the block): {hot or 'none'}",
    ]


def greeks_table(report: DemoReport) -> list[str]:
    """The market makers' summed Greeks at a few ticks, as aligned text rows."""
    rows = report.greeks_rows()
    if not rows:
        return ["market makers' Greeks: no ticks"]
    lines = [
        "market makers' Greeks (together; vega per 1.00 vol, theta per year, USD):",
        f"  {'when':<13}{'minute':>7}{'index':>12}{'delta':>12}{'gamma':>12}"
        f"{'vega':>14}{'theta':>14}",
    ]
    for label, tick in rows:
        g = tick.mm_greeks
        lines.append(
            f"  {label:<13}{tick.tick:>7}{tick.index:>12,.1f}{g.delta:>12,.3f}{g.gamma:>12.2e}"
            f"{g.vega:>14,.0f}{g.theta:>14,.0f}"
        )
    return lines


def short_key(key: str, keep: int = 10, names: Mapping[str, str] | None = None) -> str:
    """A lock for display: an account the run knows by its agent's name (``maker-0``),
    other account hashes (long hex parts) cut to their first ``keep`` digits."""
    known = names or {}
    return "/".join(known.get(part) or _short(part, keep) for part in key.split("/"))


def _short(part: str, keep: int) -> str:
    hexadecimal = len(part) > 2 * keep and all(c in "0123456789abcdef" for c in part)
    return part[:keep] + ".." if hexadecimal else part
