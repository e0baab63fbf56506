"""The local backend: forked workers, outcomes per item, a killed worker loses nothing."""

from paraclear.cluster import Backend, Outcome, run_tasks
from paraclear.cluster.pool import run_local
from paraclear.sim.stress import run_scenario, sample
from tests.cluster.support import DiesOnce, fails_on_odd


def _by_index(outcomes: list[Outcome]) -> dict[int, object]:
    return {o.index: o.value for o in outcomes}


def test_every_item_gets_its_outcome_and_errors_are_reported_per_item():
    outcomes = list(run_tasks(fails_on_odd, [0, 1, 2, 3], Backend(workers=2)))
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]
    assert _by_index([o for o in outcomes if o.ok]) == {0: 0, 2: 20}
    errors = {o.index: o.error for o in outcomes if not o.ok}
    assert errors == {1: "ValueError: odd 1", 3: "ValueError: odd 3"}


def test_a_worker_killed_mid_run_changes_and_loses_no_result(tmp_path):
    scenarios = sample(5, sample_seed=3, traders=24)
    clean = _by_index(list(run_local(run_scenario, scenarios, 2)))
    killer = DiesOnce(victim=2, marker=tmp_path / "died")
    survived = _by_index(list(run_local(killer, scenarios, 2)))
    assert (tmp_path / "died").exists()  # the worker did die
    assert sorted(survived) == sorted(clean) == list(range(5))
    assert all(survived[i].same_outcome(clean[i]) for i in clean)
