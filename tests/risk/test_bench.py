"""Smoke tests of the risk benchmark (quick mode): keys, sanity of figures, CLI."""

from __future__ import annotations

import json
import math

import pytest

from paraclear.bench.risk import main, run_risk_bench

REQUIRED = (
    "greeks_per_s", "greeks_per_s_2threads", "iv_per_s", "mc_path_steps_per_s",
    "pyvolr_greeks_per_s", "pyvolr_iv_per_s", "fast_vollib_greeks_per_s",
    "vollib_greeks_per_s", "quantlib_greeks_per_s",
)  # fmt: skip


def test_quick_run_reports_every_required_figure_and_progress() -> None:
    messages: list[str] = []
    r = run_risk_bench(n=5_000, quick=True, progress=messages.append)
    for key in REQUIRED:
        assert key in r, key
    assert r["greeks_per_s"] > 1e5 and r["iv_per_s"] > 1e4
    assert r["greeks_strict_per_s"] > 1e5
    assert r["iv_max_rel_err"] < 1e-10
    assert r["n_options"] == 5_000
    assert any("pyvolr" in m for m in messages)
    ratio = r["greeks_vs_pyvolr"]
    assert math.isnan(ratio) or ratio == pytest.approx(r["greeks_per_s"] / r["pyvolr_greeks_per_s"])


def test_main_json_prints_one_object_with_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--json", "--size", "2000"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["machine"]["cpu_count"] >= 1
    assert all(key in out for key in REQUIRED)


def test_help_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "--quick" in text and "--json" in text and "Greeks" in text
