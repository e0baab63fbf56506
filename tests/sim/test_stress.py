"""Stress scenarios: deterministic, the default one is the crash, results resume from a file."""

import msgspec
import pytest

from paraclear.cluster import Backend
from paraclear.sim.crash import CrashConfig, run_crash
from paraclear.sim.stress import Range, Scenario, run_scenario, sample
from paraclear.sim.stress_file import ResultFile
from paraclear.sim.stress_report import exceedance, summarise, worst_results
from paraclear.sim.stress_run import run_stress


def test_a_scenario_with_default_parameters_is_the_crash_scenario():
    result = run_scenario(Scenario(index=0, sample_seed=0, seed=5, traders=120))
    crash = run_crash(CrashConfig(seed=5, traders=120))
    assert result.state_root == crash.state_root
    assert result.liquidations == crash.events["Liquidated"]
    assert result.adl_events == crash.events["Deleveraged"] > 0
    assert result.invariants_ok and result.fund_paid == crash.covered


def test_a_scenario_is_a_pure_function_of_its_parameters():
    scenario = sample(1, sample_seed=9, traders=40)[0]
    assert run_scenario(scenario).same_outcome(run_scenario(scenario))


def test_a_larger_sample_starts_with_the_same_scenarios():
    assert sample(8, 4)[:3] == sample(3, 4)
    assert len({s.key for s in sample(50, 4)}) == 50


def test_unknown_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown parameters: nope"):
        sample(1, ranges={"nope": Range(1, 2)})


def test_a_genesis_insurance_fund_is_there_at_the_crash_and_invariants_hold():
    seeded = Scenario(index=0, sample_seed=0, seed=5, traders=60, insurance_fund=10**12)
    bare = Scenario(index=0, sample_seed=0, seed=5, traders=60)
    rich, poor = run_scenario(seeded), run_scenario(bare)
    assert rich.invariants_ok and rich.fund_before == poor.fund_before + 10**12
    assert rich.adl_loss < poor.adl_loss  # the fund took what ADL took without it
    assert rich.cover(1) and not poor.cover(1)


def test_a_slower_crash_takes_more_oracle_updates():
    fast = run_scenario(Scenario(index=0, sample_seed=0, seed=2, traders=60))
    slow = run_scenario(Scenario(index=0, sample_seed=0, seed=2, traders=60, crash_blocks=3))
    assert slow.invariants_ok and slow.blocks > fast.blocks
    assert slow.state_root != fast.state_root


def test_results_are_the_same_on_one_or_two_workers_and_resume_from_the_file(tmp_path):
    scenarios = sample(6, sample_seed=2, traders=30)
    one = run_stress(scenarios, Backend(workers=1))
    path = tmp_path / "results.jsonl"
    first = run_stress(scenarios[:4], Backend(workers=2), path)
    with path.open("ab") as out:  # a result cut short when its writer was killed
        out.write(b'{"scenario": {"index": 4')
    resumed = run_stress(scenarios, Backend(workers=2), path)
    assert first.resumed == 0 and resumed.resumed == 4 and resumed.ran == 2
    assert [r.scenario for r in resumed.results] == scenarios
    assert all(a.same_outcome(b) for a, b in zip(one.results, resumed.results, strict=True))
    assert len(ResultFile(path).load()) == 6


def test_the_summary_names_the_worst_scenarios_and_the_cover_verdicts():
    scenarios = sample(4, sample_seed=5, traders=40)
    run = run_stress(scenarios, Backend(workers=2))
    summary = summarise(run, worst=2)
    worst = worst_results(run.results, 2)
    assert [w["index"] for w in summary["worst"]] == [r.scenario.index for r in worst]
    assert worst[0].shortfall == max(r.shortfall for r in run.results)
    rerun = summary["worst"][0]["scenario"]
    assert msgspec.convert(rerun, Scenario) == worst[0].scenario
    assert summary["cover_1"]["holds"] == all(r.cover(1) for r in run.results)
    assert summary["cover_2"]["failed"] == sum(not r.cover(2) for r in run.results)
    assert summary["exceedance"][-1] == [summary["shortfall"]["max"], 0.0]


def test_the_exceedance_curve_counts_scenarios_strictly_above_each_level():
    assert exceedance([0, 0, 0, 5, 7, 7, 9]) == [(0, 4 / 7), (5, 3 / 7), (7, 1 / 7), (9, 0.0)]
    thinned = exceedance(list(range(1000)), points=50)
    assert 50 <= len(thinned) <= 52 and thinned[-1] == (999, 0.0)


def test_a_grid_takes_every_combination_in_turn_with_its_own_seed():
    ranges = {
        "crash_ppm": Range(choices=(100_000, 300_000)),
        "margin": Range(choices=("standard",)),
    }
    ranges["insurance_fund"] = Range(choices=(0, 10**12))
    scenarios = sample(8, 3, ranges, grid=True)
    points = [(s.crash_ppm, s.insurance_fund, s.margin) for s in scenarios]
    assert points[:4] == [
        (100_000, 0, "standard"),
        (100_000, 10**12, "standard"),
        (300_000, 0, "standard"),
        (300_000, 10**12, "standard"),
    ]
    assert points[4:] == points[:4] and len({s.seed for s in scenarios}) == 8
    assert sample(8, 3, ranges) != scenarios  # without --grid the lists are random choices
