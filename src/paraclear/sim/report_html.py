"""The demo's HTML report: one self-contained file, plots inline as base64 PNG.

Plots are drawn with matplotlib's Agg renderer on ``Figure`` objects (no pyplot global
state, no display needed): the price path with the crash marked; orders/s per minute and
the parallel speedup per block, beside the ceiling and the bound; contention (critical path
over block size, the hot keys); liquidations per minute with the insurance fund; the
implied-vol smile before and after the crash; the market makers' Greeks. The text report's
figures follow as a table.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from paraclear.sim.report import DemoReport, short_key, summary

_WIDTH: Final = 9.0
"""Figure width in inches (at 100 dpi: 900 pixels)."""
_CRASH_COLOUR: Final = "#c0392b"
T = TypeVar("T")

HOW_TO_READ: Final = """\
An agent market (market makers quoting option chains from their Greeks and hedging with the
perpetual, directional and volatility takers, liquidators) traded through the node for the
simulated minutes shown, with a crash (a jump down and a volatility spike) at the red line.
Every block the node committed was then re-executed from genesis twice: one transaction at a
time (the sequential executor, the reference) and on worker threads (the parallel
executor). <b>Roots equal</b> means both reproduced, block by block, the state root and the
receipts the node logged: the parallel result is the sequential one, bit for bit.
<b>Speedup</b> is sequential over parallel execution time of the same blocks (below 1: the
parallel executor was slower, its per-block coordination costing more than the block's
parallelism saved). It is bounded by the critical path (the longest chain of transactions
that touch the same account or market lock, as a share of the block; the oracle's
one-transaction blocks are left out) and by the hot keys, the locks most transactions
contend for: in this market mostly the market makers' accounts, counterparties to most
fills. Liquidations, insurance-fund backstops and auto-deleveraging show how the clearing
house absorbed the crash; the smile shows the volatility repricing; the market makers'
Greeks show the risk their books carried through it."""


def write_html(report: DemoReport, path: str | Path) -> Path:
    """Write the report to ``path`` (one file, nothing external) and return the path."""
    target = Path(path)
    target.write_text(render_html(report), encoding="utf-8")
    return target


def render_html(report: DemoReport) -> str:
    """The report as one HTML document."""
    run = report.run
    title = f"paraclear demo: seed {run.seed}, {run.accounts} accounts, {len(run.ticks)} minutes"
    sections = [
        section("Price path", png(_price_path, report)),
        section("Throughput and speedup", png(_throughput, report)),
        section("Contention", png(_contention, report)),
        section("Liquidations and the insurance fund", png(_liquidations, report)),
        section("Implied-vol smile before and after the crash", png(_smile, report)),
        section("Market makers' Greeks", png(_greeks, report)),
        section("Figures", _figures_table(report) + _greeks_table(report)),
    ]
    return PAGE.format(title=html.escape(title), how=HOW_TO_READ, sections="\n".join(sections))


PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 960px; margin: 2em auto; color: #222; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
</style></head><body>
<h1>{title}</h1>
<h2>How to read this</h2>
<p>{how}</p>
{sections}
</body></html>
"""


def section(heading: str, body: str) -> str:
    return f"<h2>{html.escape(heading)}</h2>\n{body}"


def png(draw: Callable[[Figure, T], None], report: T, height: float = 3.6) -> str:
    """Draw one figure (``height`` inches) and return it as an inline ``<img>``."""
    figure = Figure(figsize=(_WIDTH, height), dpi=100, layout="constrained")
    draw(figure, report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{draw.__name__.strip("_")}" src="data:image/png;base64,{encoded}">'


def _mark_crash(axes: Axes, report: DemoReport) -> None:
    if report.run.crash_tick >= 0:
        axes.axvline(report.run.crash_tick, color=_CRASH_COLOUR, linestyle="--", label="crash")


def _price_path(figure: Figure, report: DemoReport) -> None:
    ticks = report.run.ticks
    axes = figure.add_subplot()
    axes.plot([t.tick for t in ticks], [t.index for t in ticks], color="#2c3e50", label="index")
    axes.set_xlabel("minute")
    axes.set_ylabel("index (USD)")
    _mark_crash(axes, report)
    vol = axes.twinx()
    vol.plot([t.tick for t in ticks], [t.atm_vol * 100 for t in ticks], color="#e67e22")
    vol.set_ylabel("ATM implied vol (%)", color="#e67e22")
    axes.legend(loc="lower left")


def _throughput(figure: Figure, report: DemoReport) -> None:
    ticks = report.run.ticks
    left, right = figure.subplots(1, 2)
    rates = [t.orders / t.seconds if t.seconds else 0.0 for t in ticks]
    left.plot([t.tick for t in ticks], rates, color="#2980b9")
    left.set_xlabel("minute")
    left.set_ylabel("orders/s")
    left.set_title("orders per second of wall time")
    _mark_crash(left, report)
    blocks = [b for b in report.replay.blocks if b.parallel_seconds]
    points = right.scatter(
        [b.height for b in blocks], [b.speedup for b in blocks], c=[b.txs for b in blocks],
        s=10, cmap="viridis",
    )  # fmt: skip
    figure.colorbar(points, ax=right, label="transactions in the block")
    right.axhline(1.0, color="#888", linewidth=0.8)
    right.axhline(report.replay.speedup, color="#27ae60", linestyle="--", label="total")
    if report.replay.ceiling is not None:
        right.axhline(report.replay.ceiling, color="#c0392b", linestyle=":", label="ceiling")
    right.axhline(report.replay.bound, color="#e67e22", linestyle="-.", label="bound (Amdahl)")
    right.set_xlabel("block height")
    right.set_ylabel("sequential / parallel time")
    right.set_title(f"speedup per block ({report.replay.workers} workers)")
    right.legend()


def _contention(figure: Figure, report: DemoReport) -> None:
    left, right = figure.subplots(1, 2)
    blocks = [b for b in report.replay.blocks if b.txs > 1]
    left.plot([b.height for b in blocks], [b.path_share for b in blocks], ".", color="#8e44ad")
    left.set_ylim(0, 1.05)
    left.set_xlabel("block height")
    left.set_ylabel("critical path / transactions")
    left.set_title("critical path as a share of the block")
    hot = report.replay.hot_keys(8)
    names = [short_key(key, names=report.run.names) for key, _ in reversed(hot)]
    right.barh(names, [n for _, n in reversed(hot)], color="#d35400")
    right.set_xlabel("accesses over the run")
    right.set_title("hot keys")


def _liquidations(figure: Figure, report: DemoReport) -> None:
    ticks = report.run.ticks
    axes = figure.add_subplot()
    x = [t.tick for t in ticks]
    liquidations = [t.liquidations for t in ticks]
    backstops = [t.backstops for t in ticks]
    axes.bar(x, liquidations, color="#e74c3c", label="liquidations")
    axes.bar(x, backstops, bottom=liquidations, color="#f1c40f", label="backstops")
    stacked = [a + b for a, b in zip(liquidations, backstops, strict=True)]
    axes.bar(x, [t.deleverages for t in ticks], bottom=stacked, color="#34495e", label="ADL")
    axes.set_xlabel("minute")
    axes.set_ylabel("per minute")
    _mark_crash(axes, report)
    axes.legend(loc="upper left")
    fund = axes.twinx()
    fund.plot(x, [t.insurance_fund for t in ticks], color="#16a085")
    fund.set_ylabel("insurance fund (USDC)", color="#16a085")


def _smile(figure: Figure, report: DemoReport) -> None:
    axes = figure.add_subplot()
    for label, colour in (("before", "#2980b9"), ("after", _CRASH_COLOUR)):
        points = sorted(report.run.smiles.get(label, []))
        if points:
            axes.plot(
                [s for s, _ in points],
                [v * 100 for _, v in points],
                "o-",
                color=colour,
                label=f"{label} the crash",
            )
    axes.set_xlabel("strike")
    axes.set_ylabel("implied vol (%)")
    expiry = report.run.smile_expiry
    axes.set_title(f"smile of {expiry}" if expiry else "smile")
    if report.run.smiles:
        axes.legend()


def _greeks(figure: Figure, report: DemoReport) -> None:
    ticks = report.run.ticks
    x = [t.tick for t in ticks]
    for n, name in enumerate(("delta", "gamma", "vega", "theta")):
        axes = figure.add_subplot(1, 4, n + 1)
        axes.plot(x, [getattr(t.mm_greeks, name) for t in ticks], color="#2c3e50")
        axes.set_title(name)
        axes.set_xlabel("minute")
        _mark_crash(axes, report)


def _figures_table(report: DemoReport) -> str:
    rows = []
    for name, value in summary(report).items():
        if isinstance(value, dict | list):
            continue
        shown = (
            f"{value:,}"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else value
        )
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(shown))}</td></tr>")
    hot = ", ".join(
        f"{short_key(key, names=report.run.names)} ({n:,})" for key, n in report.replay.hot_keys()
    )
    rows.append(f"<tr><td>hot_keys</td><td>{html.escape(hot)}</td></tr>")
    machine = f"{report.machine.cores} cores, {report.machine.cpu}"
    rows.append(f"<tr><td>machine</td><td>{html.escape(machine)}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _greeks_table(report: DemoReport) -> str:
    head = (
        "<tr><th>when</th><th>minute</th><th>index</th>"
        + "".join(f"<th>{name}</th>" for name in ("delta", "gamma", "vega", "theta"))
        + "</tr>"
    )
    rows = [head]
    for label, tick in report.greeks_rows():
        g = tick.mm_greeks
        cells = [
            label,
            str(tick.tick),
            f"{tick.index:,.1f}",
            f"{g.delta:,.3f}",
            f"{g.gamma:.3e}",
            f"{g.vega:,.0f}",
            f"{g.theta:,.0f}",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "<p>Market makers' Greeks (vega per 1.00 vol, theta per year):</p>\n<table>\n" + (
        "\n".join(rows) + "\n</table>"
    )
