"""``paraclear stress``: JSON and HTML reports, resuming, rerunning one scenario, bad input."""

import json
import sys

from paraclear.cli import main

SMALL = ["stress", "--scenarios", "3", "--traders", "30", "--workers", "2", "--quiet"]


def test_stress_json_reports_every_figure_and_a_rerun_reproduces_the_worst(tmp_path, capsys):
    results, page = tmp_path / "r.jsonl", tmp_path / "report.html"
    args = [*SMALL, "--results", str(results), "--html", str(page), "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["completed"] == 3 and summary["failed"] == 0
    assert summary["invariants_violated"] == []
    assert {"cover_1", "cover_2", "exceedance", "liquidations", "adl_frequency"} <= set(summary)
    assert page.read_text().count("data:image/png;base64") == 3
    assert main(args) == 0  # a rerun resumes every scenario from the file
    assert json.loads(capsys.readouterr().out)["resumed"] == 3
    worst = summary["worst"][0]
    assert main(["stress", "--rerun", json.dumps(worst["scenario"]), "--json"]) == 0
    crash = json.loads(capsys.readouterr().out)
    assert crash["seed"] == worst["seed"] and crash["invariants_ok"]
    assert crash["insurance_fund"]["covered_out"] == worst["fund_paid"]


def test_stress_text_gives_the_cover_verdicts_and_rerun_commands(tmp_path, capsys):
    assert main([*SMALL, "--results", str(tmp_path / "r.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "Cover-1:" in out and "Cover-2:" in out and "paraclear stress --rerun '" in out


def test_stress_refuses_a_bad_range_and_a_bad_rerun(tmp_path, capsys):
    assert main([*SMALL, "--vary", "crash_ppm=9:1"]) == 2
    assert "LOW is above HIGH" in capsys.readouterr().err
    assert main([*SMALL, "--vary", "speed=1:2"]) == 2
    assert "expected NAME=LOW:HIGH" in capsys.readouterr().err
    assert main(["stress", "--rerun", "{}"]) == 2
    assert "not a scenario" in capsys.readouterr().err


def test_without_ray_the_command_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main([*SMALL, "--results", str(tmp_path / "r.jsonl"), "--ray"]) == 2
    assert "pip install 'paraclear[cluster]'" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


def test_bench_stress_and_bench_replay_run_and_agree_across_worker_counts(capsys):
    args = ["bench", "stress", "--scenarios", "2", "--traders", "20", "--workers", "1,2"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["workers"] for r in rows] == [1, 2] and all(r["failures"] == 0 for r in rows)
    args = ["bench", "replay", "--blocks", "12", "--snapshot-every", "4", "--accounts", "20"]
    assert main([*args, "--txs-per-block", "5", "--workers", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["blocks"] == 12 and all(r["ok"] for r in result["rows"])
    assert result["rows"][1]["segments"] == 3


def test_stress_grid_runs_every_combination_of_the_listed_values(tmp_path, capsys):
    args = [*SMALL, "--scenarios", "4", "--grid", "--results", str(tmp_path / "r.jsonl")]
    grid = ["--vary", "crash_ppm=150000,400000", "--vary", "margin=standard,portfolio"]
    assert main([*args, *grid, "--json"]) == 0
    worst = json.loads(capsys.readouterr().out)["worst"]
    points = {(w["scenario"]["crash_ppm"], w["scenario"]["margin"]) for w in worst}
    assert points == {(c, m) for c in (150_000, 400_000) for m in ("standard", "portfolio")}
