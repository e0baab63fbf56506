"""The stress run's HTML report: one file, plots inline (``report_html``'s page and figures).

Plots: the loss exceedance curve (share of scenarios whose shortfall exceeds a level), the
insurance fund paid against the index move, ADL frequency by move size, and a heat map over
two chosen parameters of the mean deficit the fund did not cover (taken by ADL or left as
bad debt); then the Cover-1/Cover-2 verdict and the worst scenarios with the command that
reruns each alone.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.figure import Figure

from paraclear.numbers import USDC_SCALE
from paraclear.sim.report_html import PAGE, png, section
from paraclear.sim.stress import ScenarioResult
from paraclear.sim.stress_report import exceedance, usdc
from paraclear.sim.stress_run import StressRun

HOW_TO_READ: Final = """\
Each scenario is one seeded crash of the clearing house: a leveraged market, a dip, then an
index move of the size and speed drawn, with a volatility and skew shock, liquidated block by
block (liquidation, the insurance fund, auto-deleveraging), every invariant checked after
every block. The <b>shortfall</b> of a scenario is every deficit its bankrupt accounts left:
what the insurance fund paid, what auto-deleveraging took from the profitable side, and any
bad debt. <b>Cover-1 / Cover-2</b>: did the fund at the start of the crash cover the deficit
of the largest (two largest) bankrupt accounts, in every scenario? Every worst scenario can
be rerun alone with the command shown."""
_BINS: Final = 6


@dataclass(frozen=True)
class _Data:
    results: list[ScenarioResult]
    heatmap: tuple[str, str]


def write_html(
    run: StressRun, summary: dict[str, Any], heatmap: tuple[str, str], path: str | Path
) -> Path:
    """Write the report to ``path`` and return it."""
    target = Path(path)
    data = _Data(run.results, heatmap)
    title = f"paraclear stress: {len(run.results):,} crash scenarios"
    sections = [
        section("Loss exceedance", png(_exceedance, data)),
        section("Insurance fund and ADL against the index move", png(_fund_and_adl, data)),
        section(
            f"What the fund did not cover, over {heatmap[0]} and {heatmap[1]}",
            png(_heatmap, data, 4.5),
        ),
        section("Cover-1 / Cover-2", _cover(summary)),
        section("Worst scenarios", _worst_table(summary)),
    ]
    page = PAGE.format(title=html.escape(title), how=HOW_TO_READ, sections="\n".join(sections))
    target.write_text(page, encoding="utf-8")
    return target


def _usdc(values: list[int]) -> list[float]:
    return [v / USDC_SCALE for v in values]


def _exceedance(figure: Figure, data: _Data) -> None:
    axes = figure.add_subplot()
    curve = exceedance(sorted(r.shortfall for r in data.results))
    levels = _usdc([level for level, _ in curve])
    axes.step(levels, [share for _, share in curve], where="post", color="#c0392b")
    axes.set_xlabel("shortfall (USDC)")
    axes.set_ylabel("share of scenarios exceeding it")
    axes.set_ylim(0, 1.02)


def _fund_and_adl(figure: Figure, data: _Data) -> None:
    left, right = figure.subplots(1, 2)
    move = [r.scenario.crash_ppm / 10_000 for r in data.results]
    points = left.scatter(
        move, _usdc([r.fund_paid for r in data.results]), s=8,
        c=_usdc([r.fund_before for r in data.results]), cmap="viridis",
    )  # fmt: skip
    figure.colorbar(points, ax=left, label="fund at the crash (USDC)")
    left.set_xlabel("index move (%)")
    left.set_ylabel("insurance fund paid (USDC)")
    edges = np.linspace(min(move, default=0), max(move, default=1) + 1e-9, _BINS + 1)
    which = np.digitize(move, edges) - 1
    adl = np.array([r.adl_events > 0 for r in data.results], dtype=float)
    frequency = [adl[which == b].mean() if (which == b).any() else 0.0 for b in range(_BINS)]
    centres = (edges[:-1] + edges[1:]) / 2
    right.bar(centres, frequency, width=(edges[1] - edges[0]) * 0.9, color="#34495e")
    right.set_xlabel("index move (%)")
    right.set_ylabel("share of scenarios with ADL")
    right.set_ylim(0, 1.02)


def _heatmap(figure: Figure, data: _Data) -> None:
    """Mean of what the fund did not cover (ADL loss + bad debt) over two parameters."""
    x_name, y_name = data.heatmap
    x = np.array([_shown(x_name, getattr(r.scenario, x_name)) for r in data.results])
    y = np.array([_shown(y_name, getattr(r.scenario, y_name)) for r in data.results])
    z = np.array([(r.adl_loss + r.bad_debt) / USDC_SCALE for r in data.results])
    axes = figure.add_subplot()
    if len(z) == 0:
        return
    x_edges = np.linspace(x.min(), x.max() + 1e-9, _BINS + 1)
    y_edges = np.linspace(y.min(), y.max() + 1e-9, _BINS + 1)
    total, _, _ = np.histogram2d(x, y, [x_edges, y_edges], weights=z)
    count, _, _ = np.histogram2d(x, y, [x_edges, y_edges])
    mean = np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)
    mesh = axes.pcolormesh(x_edges, y_edges, mean.T, cmap="magma_r")
    figure.colorbar(mesh, ax=axes, label="mean ADL loss + bad debt (USDC)")
    axes.set_xlabel(_label(x_name))
    axes.set_ylabel(_label(y_name))


def _shown(name: str, value: int) -> float:
    """A parameter in the unit the plots show: percent for rates, USDC for amounts."""
    if name.endswith("_ppm"):
        return value / 10_000
    return value / USDC_SCALE if name == "insurance_fund" else float(value)


def _label(name: str) -> str:
    if name.endswith("_ppm"):
        return f"{name.removesuffix('_ppm')} (%)"
    return f"{name} (USDC)" if name == "insurance_fund" else name


def _cover(summary: dict[str, Any]) -> str:
    rows = []
    for name, key in (("Cover-1", "cover_1"), ("Cover-2", "cover_2")):
        cover = summary[key]
        verdict = "holds" if cover["holds"] else f"fails in {cover['failed']:,} scenarios"
        rows.append(f"<tr><td>{name}</td><td>{html.escape(verdict)}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _worst_table(summary: dict[str, Any]) -> str:
    head = (
        "<tr><th>scenario</th><th>seed</th><th>move</th><th>shortfall</th><th>fund had</th>"
        "<th>bad debt</th><th>rerun</th></tr>"
    )
    rows = [head]
    for w in summary["worst"]:
        cells = [
            f"#{w['index']}",
            str(w["seed"]),
            f"-{w['scenario']['crash_ppm'] / 10_000:g}% in {w['scenario']['crash_blocks']}",
            usdc(w["shortfall"]),
            usdc(w["fund_before"]),
            usdc(w["bad_debt"]),
        ]
        rows.append(
            "<tr>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + f"<td><code>{html.escape(w['rerun'])}</code></td></tr>"
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"
