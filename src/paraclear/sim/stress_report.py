"""What a stress run found: a JSON-ready summary and its text.

The **shortfall** of a scenario is every deficit its bankrupt accounts left: what the
insurance fund paid, what auto-deleveraging took from the profitable side, and the bad debt
left. **Cover-1 / Cover-2** ask, per scenario, whether the fund at the start of the crash
covered the deficit of the largest (the two largest) bankrupt accounts, as central
counterparties size their default funds ("Cover 2"); the verdict holds if it did in every
scenario. The worst scenarios carry their full parameters, so each can be rerun alone with
``paraclear stress --rerun JSON``.
"""

from __future__ import annotations

import bisect
import shlex
from typing import Any

import msgspec

from paraclear.numbers import USDC_SCALE
from paraclear.sim.stress import ScenarioResult
from paraclear.sim.stress_run import StressRun

EXCEEDANCE_POINTS = 50


def summarise(run: StressRun, worst: int = 10) -> dict[str, Any]:
    """The run's figures (amounts in micro-USDC)."""
    results = run.results
    shortfalls = sorted(r.shortfall for r in results)
    return {
        "scenarios": len(run.scenarios),
        "completed": len(results),
        "failed": len(run.failures),
        "failures": {str(i): e for i, e in sorted(run.failures.items())[:20]},
        "resumed": run.resumed,
        "backend": run.backend,
        "wall_seconds": round(run.wall_seconds, 3),
        "scenarios_per_second": round(run.ran / run.wall_seconds, 3) if run.wall_seconds else 0,
        "mean_scenario_seconds": round(run.worker_seconds / run.ran, 4) if run.ran else 0,
        "invariants_violated": [r.scenario.index for r in results if not r.invariants_ok],
        "liquidations": _spread([r.liquidations for r in results]),
        "backstops": _spread([r.backstops for r in results]),
        "adl_frequency": round(_share(results, lambda r: r.adl_events > 0), 4),
        "adl_volume": _spread([r.adl_volume for r in results]),
        "fund_paid": _spread([r.fund_paid for r in results]),
        "bad_debt": _spread([r.bad_debt for r in results]),
        "scenarios_with_bad_debt": sum(r.bad_debt > 0 for r in results),
        "largest_loss": _largest_loss(results),
        "shortfall": _spread(shortfalls),
        "exceedance": [[x, round(p, 6)] for x, p in exceedance(shortfalls, EXCEEDANCE_POINTS)],
        "cover_1": _cover(results, 1),
        "cover_2": _cover(results, 2),
        "worst": [_worst(r) for r in worst_results(results, worst)],
    }


def worst_results(results: list[ScenarioResult], count: int) -> list[ScenarioResult]:
    """Largest shortfall first (then bad debt, largest loss; ties by index)."""
    return sorted(
        results,
        key=lambda r: (-r.shortfall, -r.bad_debt, -r.largest_loss, r.scenario.index),
    )[:count]


def rerun_command(result: ScenarioResult) -> str:
    scenario = msgspec.json.encode(result.scenario).decode()
    return f"paraclear stress --rerun {shlex.quote(scenario)}"


def _spread(values: list[int]) -> dict[str, int]:
    ordered = sorted(values)
    if not ordered:
        return {"total": 0, "median": 0, "p99": 0, "max": 0}
    return {
        "total": sum(ordered),
        "median": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)],
        "max": ordered[-1],
    }


def _share(results: list[ScenarioResult], test: Any) -> float:
    return sum(1 for r in results if test(r)) / len(results) if results else 0.0


def _largest_loss(results: list[ScenarioResult]) -> dict[str, Any]:
    if not results:
        return {"amount": 0, "account": "", "scenario": None}
    top = max(results, key=lambda r: (r.largest_loss, -r.scenario.index))
    return {
        "amount": top.largest_loss,
        "account": top.largest_loss_account,
        "scenario": top.scenario.index,
    }


def exceedance(shortfalls: list[int], points: int | None = None) -> list[tuple[int, float]]:
    """``(level, share of scenarios whose shortfall exceeds it)`` at each distinct level of
    the sorted ``shortfalls`` (at most about ``points`` of them, the largest always kept)."""
    n = len(shortfalls)
    levels = sorted(set(shortfalls))
    if points is not None and len(levels) > points:
        levels = levels[:: len(levels) // points] + levels[-1:]
    return [(level, (n - bisect.bisect_right(shortfalls, level)) / n) for level in levels]


def _cover(results: list[ScenarioResult], members: int) -> dict[str, Any]:
    failed = [r.scenario.index for r in results if not r.cover(members)]
    return {
        "holds": not failed and bool(results),
        "failed": len(failed),
        "failed_scenarios": failed[:20],
    }


def _worst(result: ScenarioResult) -> dict[str, Any]:
    return {
        "index": result.scenario.index,
        "seed": result.scenario.seed,
        "shortfall": result.shortfall,
        "fund_before": result.fund_before,
        "fund_paid": result.fund_paid,
        "adl_loss": result.adl_loss,
        "bad_debt": result.bad_debt,
        "deficits": result.deficits,
        "largest_loss": result.largest_loss,
        "scenario": msgspec.to_builtins(result.scenario),
        "rerun": rerun_command(result),
    }


def usdc(amount: int) -> str:
    """Micro-USDC as whole USDC with thousands separators."""
    return f"{amount / USDC_SCALE:,.0f}"


def text(summary: dict[str, Any]) -> str:
    """The summary as lines for a terminal (amounts in USDC)."""
    usd = usdc
    lines = [
        f"{summary['completed']:,} of {summary['scenarios']:,} scenarios done "
        f"({summary['resumed']:,} from the result file), {summary['failed']} failed; "
        f"{summary['backend']}",
        (
            f"ran in {summary['wall_seconds']:.1f} s: {summary['scenarios_per_second']:.2f} "
            f"scenarios/s, {summary['mean_scenario_seconds']:.3f} s each on its worker"
            if summary["completed"] > summary["resumed"]
            else "nothing run: every result came from the file"
        ),
        "invariants: "
        + (
            "held in every scenario"
            if not summary["invariants_violated"]
            else f"VIOLATED in scenarios {summary['invariants_violated'][:10]}"
        ),
        f"liquidation steps: median {summary['liquidations']['median']:,}, max "
        f"{summary['liquidations']['max']:,}; backstops: {summary['backstops']['total']:,}",
        f"auto-deleveraging in {summary['adl_frequency']:.1%} of scenarios, volume median "
        f"{usd(summary['adl_volume']['median'])} max {usd(summary['adl_volume']['max'])} USDC",
        f"insurance fund paid: median {usd(summary['fund_paid']['median'])}, max "
        f"{usd(summary['fund_paid']['max'])} USDC",
        f"shortfall (fund + ADL + bad debt): median {usd(summary['shortfall']['median'])}, "
        f"p99 {usd(summary['shortfall']['p99'])}, max {usd(summary['shortfall']['max'])} USDC",
        f"bad debt left in {summary['scenarios_with_bad_debt']} scenarios, max "
        f"{usd(summary['bad_debt']['max'])} USDC",
        f"largest loss of one account: {usd(summary['largest_loss']['amount'])} USDC "
        f"({summary['largest_loss']['account']}, scenario {summary['largest_loss']['scenario']})",
        _cover_line("Cover-1", summary["cover_1"]),
        _cover_line("Cover-2", summary["cover_2"]),
        "worst scenarios (shortfall, USDC):",
    ]
    for w in summary["worst"]:
        lines.append(
            f"  #{w['index']} seed {w['seed']}: {usd(w['shortfall'])} (fund had "
            f"{usd(w['fund_before'])}, bad debt {usd(w['bad_debt'])})"
        )
        lines.append(f"    {w['rerun']}")
    for index, error in summary["failures"].items():
        lines.append(f"  scenario {index} failed: {error}")
    return "\n".join(lines)


def _cover_line(name: str, cover: dict[str, Any]) -> str:
    if cover["holds"]:
        return f"{name}: HOLDS (the fund covered it in every scenario)"
    return f"{name}: FAILS in {cover['failed']:,} scenarios (e.g. {cover['failed_scenarios'][:5]})"
