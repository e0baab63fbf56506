"""``paraclear demo``: options, progress, the JSON summary, the HTML file, the exit code.

The agent market is replaced here by a small workload chain written to the data directory
the command chose, so that these tests check the command's own wiring.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from paraclear.cli import demo, main
from paraclear.sim.records import MarketRun, TickRecord
from tests.sim.report_support import ORDERS, market_run, small_plan, write_chain

Seen = dict[str, object]


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Replace the agent market by a written chain; record what the command asked for."""
    plan = small_plan()
    seen: Seen = {}

    def fake_market(
        data_dir: Path, args: argparse.Namespace, progress: Callable[[TickRecord], None]
    ) -> MarketRun:
        seen.update(data_dir=data_dir, seed=args.seed, accounts=args.accounts)
        write_chain(data_dir, plan)
        run = market_run(data_dir, seen.get("live_root", plan.roots[-1]))  # type: ignore[arg-type]
        for tick in run.ticks:
            progress(tick)
        return run

    monkeypatch.setattr(demo, "run_market", fake_market)
    return seen


def test_demo_json_summary_and_html(
    seen: Seen, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "out.html"
    code = main(["demo", "--seed", "5", "--accounts", "40", "--json", "--html", str(html)])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 0 and summary["roots_equal"] is True
    assert summary["orders"] == ORDERS and summary["blocks"] == 9
    assert {"speedup", "liquidations", "sequential_seconds", "hot_keys"} <= set(summary)
    assert summary["backend"] == "threads" and summary["ceiling"] > 0
    assert 0 < summary["compiled_share"] < 1  # the kernels, value hashes and tree
    assert 1 < summary["bound"] < summary["workers"]  # Amdahl's, from that share
    assert summary["html"] == str(html) and "data:image/png;base64," in html.read_text()
    assert (seen["seed"], seen["accounts"]) == (5, 40)
    assert not Path(seen["data_dir"]).exists()  # type: ignore[arg-type]  # temporary: removed
    assert "replay: block 9/9" in captured.err


def test_demo_keeps_a_given_data_dir_and_prints_text(
    seen: Seen, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "chain"
    code = main(["demo", "--data-dir", str(data_dir), "--html", "-", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    assert (data_dir / "chain.sqlite").exists()
    assert "roots equal: yes" in captured.out and "HTML report" not in captured.out
    assert "bound x" in captured.out  # Amdahl's, beside the ceiling
    assert main(["demo", "--data-dir", str(data_dir), "--html", "-", "--quiet"]) == 2
    assert "already holds a chain" in capsys.readouterr().err


def test_demo_exits_1_when_the_live_root_differs(
    seen: Seen, capsys: pytest.CaptureFixture[str]
) -> None:
    seen["live_root"] = bytes(32)
    code = main(["demo", "--json", "--html", "-", "--quiet"])
    assert code == 1 and json.loads(capsys.readouterr().out)["roots_equal"] is False


def test_demo_help_explains_how_to_read_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    for option in ("--minutes", "--seed", "--accounts", "--workers", "--data-dir", "--html"):
        assert option in out
    assert "roots equal" in out and "speedup" in out


def test_demo_runs_the_agent_market_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "report.html"
    code = main(["demo", "--minutes", "6", "--accounts", "30", "--json", "--html", str(html)])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 0 and summary["roots_equal"] is True
    assert summary["orders"] > 0 and summary["blocks"] >= 6 and summary["txs"] > 0
    assert summary["minutes"] == 6 and summary["accounts"] == 30
    assert (summary["stalls"], summary["lost"]) == (0, 0)
    assert summary["sequential_seconds"] > 0 and summary["parallel_seconds"] > 0
    assert "market: minute 6/6" in captured.err and html.read_text().count("data:image/png") == 6


def test_the_html_report_goes_to_the_data_dir_or_a_temporary_one_never_here(
    tmp_path: Path,
) -> None:
    import tempfile

    assert demo.report_path(None, tmp_path) == tmp_path / demo.REPORT_NAME
    assert demo.report_path(None, None) == Path(tempfile.gettempdir()) / demo.REPORT_NAME
    assert demo.report_path("mine.html", tmp_path) == Path("mine.html")
    assert demo.report_path("-", tmp_path) is None
