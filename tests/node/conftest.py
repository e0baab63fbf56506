"""Shared chains for the node's storage tests: one small workload plan per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from paraclear.bench.crashtest import Plan, make_plan, run_plan
from paraclear.sim.workload import WorkloadConfig

SNAPSHOT_EVERY = 5


@pytest.fixture(scope="session")
def plan() -> Plan:
    """The setup block and 24 blocks of 25 mixed transactions over 60 accounts, a tenth of
    them with the options pool (so that state holds every kind of record)."""
    config = WorkloadConfig(seed=7, accounts=60, txs_per_block=25, pool_share=0.1)
    return make_plan(config, blocks=24)


@pytest.fixture
def chain_dir(tmp_path: Path, plan: Plan) -> Path:
    """A data directory holding the whole plan, snapshotted every 5 blocks."""
    data_dir = tmp_path / "chain"
    run_plan(data_dir, plan, lambda line: None, snapshot_every=SNAPSHOT_EVERY)
    return data_dir
