"""The plot of ``bench exec``: speedup against contention."""

from __future__ import annotations

from typing import Any


def plot_speedup(result: dict[str, object], path: str) -> bool:
    """A PNG of speedup against the number of accounts, one line per worker count and
    backend (the first engine's rows), with the box's ceiling dashed. Returns False, writing
    nothing, when no parallel run was made."""
    rows: list[dict[str, Any]] = [
        row
        for row in result["rows"]  # type: ignore[attr-defined]
        if row["speedup"] is not None and row["engine"] == result["engines"][0]  # type: ignore[index]
    ]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    runs = {(row["workers"], row["backend"], row.get("spread_policy")) for row in rows}
    for workers, backend, spread in sorted(runs, key=str):
        mine = sorted(
            (
                r
                for r in rows
                if (r["workers"], r["backend"], r.get("spread_policy"))
                == (workers, backend, spread)
            ),
            key=lambda r: r["accounts"],
        )
        label = f"{workers} worker{'s' if workers > 1 else ''}, {backend}"
        if spread is not None:
            label += f", spread {spread}"
        axes.plot(
            [r["accounts"] for r in mine], [r["speedup"] for r in mine], marker="o", label=label
        )
        if workers > 1:
            ceiling = [r["ceiling"] for r in mine]
            axes.plot([r["accounts"] for r in mine], ceiling, linestyle=":", color="grey")
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    axes.set_xscale("log")
    axes.set_xlabel("accounts (fewer = more contention)")
    axes.set_ylabel("speedup over the compiled sequential executor")
    axes.set_title(f"parallel execution, blocks of {result['txs']:,} {result['mix']}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return True
