import json
import subprocess
import sys

import pytest

from paraclear.cli import main


def test_simulate_json_reports_the_promised_keys_and_holds_invariants(capsys):
    code = main(
        [
            "simulate",
            "--seed",
            "3",
            "--accounts",
            "50",
            "--blocks",
            "4",
            "--txs-per-block",
            "60",
            "--json",
            "--quiet",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"state_root", "txs", "seconds", "tps", "failed_by_error", "invariants_ok"} <= set(
        summary
    )
    assert summary["txs"] == 4 * 60 and summary["invariants_ok"] is True
    assert len(summary["state_root"]) == 64


def test_simulate_on_the_parallel_executor_gives_one_root_whichever_way_it_spreads(capsys):
    argv = ["simulate", "--seed", "5", "--accounts", "200", "--blocks", "4"]
    argv += ["--txs-per-block", "80", "--json", "--quiet"]
    roots = set()
    for extra in ([], ["--executor", "parallel"], ["--executor", "parallel", "--spread", "model"]):
        assert main([*argv, *extra]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["invariants_ok"] is True
        roots.add(summary["state_root"])
    assert len(roots) == 1


def test_simulate_is_reproducible_from_its_seed(capsys):
    args = [
        "simulate",
        "--seed",
        "9",
        "--accounts",
        "30",
        "--blocks",
        "3",
        "--txs-per-block",
        "40",
        "--json",
        "--quiet",
    ]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main(args)
    second = json.loads(capsys.readouterr().out)
    assert first["state_root"] == second["state_root"]
    assert first["failed_by_error"] == second["failed_by_error"]


def test_simulate_text_output_shows_progress_and_summary(capsys):
    main(["simulate", "--accounts", "20", "--blocks", "2", "--txs-per-block", "30"])
    captured = capsys.readouterr()
    assert "block 2/2" in captured.err
    assert "invariants: all hold" in captured.out and "state root:" in captured.out


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--accounts", "1"],
        ["simulate", "--blocks", "-3"],
        ["simulate", "--txs-per-block", "many"],
        ["simulate", "--hot-share", "1.5"],
        ["simulate", "--pool-share", "-0.1"],
        ["simulate", "--executor", "parallel", "--spread", "always"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(argv):
    process = subprocess.run(
        [sys.executable, "-m", "paraclear", *argv], capture_output=True, text=True, check=False
    )
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and "error:" in process.stderr
    assert "Traceback" not in process.stderr


def test_help_explains_the_commands():
    process = subprocess.run(
        [sys.executable, "-m", "paraclear", "simulate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--txs-per-block" in process.stdout and "contention" in process.stdout


def test_bench_smoke_runs_report_json(capsys, tmp_path):
    plot = tmp_path / "speedup.png"
    argv = ["bench", "exec", "--accounts", "10,100", "--workers", "1,2", "--txs", "60"]
    argv += ["--spread", "measured", "model"]
    assert main([*argv, "--repeats", "1", "--json", "--plot", str(plot)]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["rows"]
    assert {r["backend"] for r in rows} == {"threads"}  # the default
    assert sorted((r["accounts"], r["engine"], r["workers"], r["spread_policy"]) for r in rows) == [
        (accounts, engine, workers, spread)
        for accounts in (10, 100)
        for engine in ("compiled", "reference")
        for workers in (1, 2)
        for spread in ("measured", "model")
    ]
    for row in rows:
        assert 0 <= row["spread_share"] <= row["planned_share"] <= 1
        assert row["cost_factor"] is None or row["cost_factor"] > 0
    keys = {"accounts", "workers", "seq_tps", "par_tps", "speedup", "roots_equal"}
    keys |= {"reexecutions", "critical_path", "dag_seconds"}
    for row in rows:
        assert keys <= set(row) and row["roots_equal"] is True
        assert row["seq_tps"] > 0 and row["par_tps"] > 0 and row["critical_path"] >= 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    args = ["--state-keys", "2000", "--changed", "100", "--fills", "50", "--repeats", "2"]
    assert main(["bench", "root", *args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ms_per_1000_keys"] > 0
    rows = result["rows"]
    assert {(r["workload"], r["tree"], r["commit"]) for r in rows} == {
        ("random", "reference", "plain"),
        ("random", "compiled", "plain"),
        ("block", "reference", "plain"),
        ("block", "compiled", "plain"),
        ("block", "compiled", "hashed"),
    }
    assert all(r["changed_keys"] > 0 and r["tree_ms"] > 0 for r in rows)
    block = [r for r in rows if r["workload"] == "block"]
    assert len({r["changed_keys"] for r in block}) == 1  # one write set, committed each way
    assert all((r["rows_ms"] > 0) == (r["commit"] == "hashed") for r in rows)


def test_bench_risk_is_reached_through_the_paraclear_command(capsys):
    assert main(["bench", "risk", "--quick", "--json", "--size", "1000"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["greeks_per_s"] > 0 and "pyvolr_greeks_per_s" in result


def test_simulate_pool_share_sends_transactions_to_the_pool(capsys):
    args = ["simulate", "--accounts", "30", "--blocks", "3", "--txs-per-block", "40"]
    assert main([*args, "--pool-share", "0.5", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["invariants_ok"] is True
    assert summary["events"]["PoolTraded"] > 0
    pool = summary["pool"]
    assert pool["nav"] > 0 and pool["total_shares"] > 0 and pool["positions"] > 0
    assert set(pool["greeks"]) <= {"BTC", "ETH"}
    main([*args, "--pool-share", "0.5", "--quiet"])
    assert "options pool: NAV" in capsys.readouterr().out
    main([*args, "--pool-share", "0", "--json", "--quiet"])
    assert json.loads(capsys.readouterr().out)["pool"] is None


def test_simulate_crash_json_reports_liquidations_fund_adl_and_invariants(capsys):
    code = main(["simulate", "--scenario", "crash", "--accounts", "60", "--seed", "2", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"liquidations", "adl_events", "insurance_fund", "invariants_ok", "state_root"} <= set(
        summary
    )
    assert summary["invariants_ok"] is True and len(summary["state_root"]) == 64
    assert summary["liquidations"] > 0 and summary["adl_events"] > 0
    assert summary["insurance_fund"]["exhausted"] is True


def test_simulate_crash_text_names_the_cascade(capsys):
    assert main(["simulate", "--scenario", "crash", "--accounts", "40"]) == 0
    out = capsys.readouterr().out
    assert "auto-deleveraging:" in out and "insurance fund:" in out and "all hold" in out


def test_bench_liquidation_json_compares_the_scan_with_the_exact_loop(capsys):
    args = ["bench", "liquidation", "--traders", "40", "--moves-ppm", "300000", "--repeats", "1"]
    assert main([*args, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["index_move_ppm"] == -300_000 and row["under_maintenance"] > 0
    assert row["scan_ms"] > 0 and row["one_by_one_ms"] > 0


def test_simulate_on_the_parallel_executor_reaches_the_sequential_root(capsys):
    argv = ["simulate", "--accounts", "50", "--blocks", "3", "--txs-per-block", "60", "--json"]
    assert main([*argv, "--quiet"]) == 0
    sequential = json.loads(capsys.readouterr().out)
    assert main([*argv, "--quiet", "--executor", "parallel", "--workers", "3"]) == 0
    parallel = json.loads(capsys.readouterr().out)
    assert parallel["executor"] == "parallel" and parallel["workers"] == 3
    assert parallel["state_root"] == sequential["state_root"]
    assert parallel["failed_by_error"] == sequential["failed_by_error"]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--executor", "parallel", "--workers", "17"])
    assert exited.value.code == 2
    assert "--workers: 17 is outside [1, 16]" in capsys.readouterr().err
