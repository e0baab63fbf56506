"""The Ray backend on a real local Ray instance: the same results as the local workers on one
Ray worker and on two Ray nodes, a worker killed mid-run changes and loses nothing, and the
chain's segments verify on Ray."""

import pytest
import ray
from ray import cloudpickle
from ray.cluster_utils import Cluster

import tests.cluster.support
from paraclear.bench.store import write_chain
from paraclear.chain.segments import replay_segments
from paraclear.cluster import Backend, run_tasks
from paraclear.cluster.pool import run_local
from paraclear.sim.stress import run_scenario, sample
from paraclear.sim.stress_run import run_stress
from tests.cluster.support import DiesOnce

cloudpickle.register_pickle_by_value(tests.cluster.support)  # Ray workers need not import tests


@pytest.fixture(scope="module")
def scenarios():
    return sample(4, sample_seed=7, traders=24)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """12 blocks, a snapshot every 4."""
    data_dir = tmp_path_factory.mktemp("chain")
    write_chain(data_dir, 20, 11, 8, snapshot_every=4, keep_snapshots=10)
    return data_dir


@pytest.fixture(scope="module")
def local(scenarios):
    return {o.index: o.value for o in run_local(run_scenario, scenarios, 1)}


def _same(results, local):
    assert sorted(results) == sorted(local)
    assert all(results[i].same_outcome(local[i]) for i in local)


def test_an_embedded_ray_instance_of_one_worker_gives_the_local_results(scenarios, local):
    run = run_stress(scenarios, Backend(workers=1, ray=True))
    assert not ray.is_initialized()  # the instance it started is stopped
    assert run.backend == "Ray (embedded, 1 CPUs)" and not run.failures
    _same({r.scenario.index: r for r in run.results}, local)


def test_two_ray_nodes_give_the_local_results_even_when_a_worker_is_killed(
    scenarios, local, chain, tmp_path
):
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    try:
        backend = Backend(ray=True, address=cluster.address)
        clean = {o.index: o.value for o in run_tasks(run_scenario, scenarios, backend)}
        assert len({n["NodeID"] for n in ray.nodes() if n["Alive"]}) == 2
        killer = DiesOnce(victim=1, marker=tmp_path / "died")
        survived = {o.index: o.value for o in run_tasks(killer, scenarios, backend)}
        replayed = replay_segments(chain, backend)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert (tmp_path / "died").exists()  # a worker did die, and Ray ran its task again
    _same(clean, local)
    _same(survived, local)
    assert replayed.ok and replayed.blocks == 12 and len(replayed.segments) == 3
