"""Per-block statistics: the DAG of every block, measured speedup under the parallel
executor, the ``blocks`` channel and ``public/get_block_stats``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paraclear.api import rpc
from paraclear.api.block_stats import HISTORY, block_stats
from paraclear.chain.core import BlockReport
from paraclear.clearing.transactions import OracleUpdate, OrderType, Side
from tests.clearing.harness import ONE, usd
from tests.node.test_api import Venue, error_of
from tests.node.test_core import _market, _order


def _reports(path: Path, **config: object) -> list[BlockReport]:
    """The reports of a block of two resting sells and a block where two buys take them."""
    node, _, (a, b, c) = _market(path, **config)
    reports: list[BlockReport] = []
    node.subscribe(reports.append)
    try:
        for orders in (
            [_order(a, Side.SELL, 60_000, ONE), _order(b, Side.SELL, 60_000, ONE)],
            [
                _order(c, Side.BUY, 60_000, ONE, kind=OrderType.IOC),
                _order(c, Side.BUY, 60_000, ONE, kind=OrderType.IOC),
            ],
        ):
            for signed in orders:
                node.submit(signed)
            node.admit_pending()
            assert node.produce_block() is not None
        stats = [block_stats(report, node.machine, node.config.executor) for report in reports]
    finally:
        node.stop()
    return stats  # type: ignore[return-value]


def test_dry_run_blocks_report_their_dag_and_a_parallelism_bound(tmp_path: Path) -> None:
    rested, took = _reports(tmp_path)
    assert rested["executor"] == "dry-run" and rested["speedup"] is None
    assert (rested["txs"], rested["submitted"], rested["fills"], rested["failed"]) == (2, 2, 0, 0)
    assert rested["critical_path"] == 1 and rested["widest_level"] == 2
    assert rested["parallelism"] == 2.0 and rested["index"] == {}
    # c's two buys and their two settlements all write c's account: a chain of four.
    assert (took["txs"], took["submitted"], took["fills"]) == (4, 2, 2)
    assert took["critical_path"] == 4 and took["parallelism"] == 1.0
    hot_lock, accesses = took["hot_keys"][0]
    assert hot_lock.startswith("acct/") and accesses == 4
    assert took["dag_seconds"] > 0
    assert set(took["seconds"]) == {
        "build",
        "dry_run",
        "execute",
        "persist",
        "total",
        "parallel_run",
    }
    assert took["seconds"]["parallel_run"] == 0.0
    assert 0 < took["seconds"]["dry_run"] <= took["seconds"]["build"] <= took["seconds"]["total"]
    assert took["orders_per_second"] > 0


def test_parallel_blocks_report_a_measured_speedup(tmp_path: Path) -> None:
    rested, took = _reports(tmp_path, executor="parallel", backend="inline", workers=2)
    for stats in (rested, took):
        assert stats["executor"] == "parallel"
        assert stats["speedup"] == pytest.approx(
            stats["seconds"]["dry_run"] / stats["seconds"]["parallel_run"], rel=1e-2, abs=1e-3
        )
        assert stats["speedup"] > 0
        assert 0 < stats["seconds"]["parallel_run"] <= stats["seconds"]["execute"]
    assert took["critical_path"] == 4 and rested["critical_path"] == 1


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    venue = Venue(tmp_path)
    yield venue
    venue.close()


def test_blocks_channel_and_history_carry_every_block(venue: Venue) -> None:
    maker, taker, _ = venue.traders
    watcher = venue.client()
    blocks = watcher.subscribe(["blocks"])
    venue.client(maker).sell(maker, "BTC-PERP", "2", "60000")
    venue.client(taker).buy(taker, "BTC-PERP", "1", "60010", kind=OrderType.IOC)
    seen: list[dict[str, object]] = []
    while not seen or seen[-1]["fills"] != 1:
        channel, message = blocks.get(timeout=30)
        assert channel == "blocks"
        seen.append(message)
    assert [m["height"] for m in seen] == list(range(seen[0]["height"], seen[-1]["height"] + 1))
    assert seen[-1]["hot_keys"] and seen[-1]["critical_path"] >= 2
    history = watcher.call("public/get_block_stats", {"count": 500})
    heights = [stats["height"] for stats in history]
    assert heights == sorted(heights) and set(heights) >= {m["height"] for m in seen}
    assert history == sorted(history, key=lambda stats: stats["height"])
    assert watcher.call("public/get_block_stats", {"count": 1}) == history[-1:]
    for count in (0, HISTORY + 1):
        error = error_of(watcher.call, "public/get_block_stats", {"count": count})
        assert error.code == rpc.INVALID_PARAMS


def test_a_block_with_an_oracle_update_reports_the_new_index(tmp_path: Path) -> None:
    node, operator, _ = _market(tmp_path)
    reports: list[BlockReport] = []
    node.subscribe(reports.append)
    try:
        update = operator.sign(
            OracleUpdate, underlying="BTC", index_price=usd(61_000), atm_vol_ppm=500_000
        )
        node.submit(update)
        node.admit_pending()
        assert node.produce_block() is not None
        [stats] = [block_stats(report, node.machine, "dry-run") for report in reports]
    finally:
        node.stop()
    assert stats["index"] == {"BTC": 61_000.0} and stats["txs"] == 1
    assert stats["critical_path"] == 1 and stats["hot_keys"]


@pytest.mark.parametrize("accounts", [3, 200])
def test_the_dag_from_bulk_access_sets_equals_the_one_from_each_transactions(
    accounts: int,
) -> None:
    """The statistics plan a block from the machine's bulk lock ids (``access_batch``);
    they must describe the same DAG as the access sets the handlers declare one by one."""
    from paraclear.api.block_stats import batch_metrics, dependency_metrics
    from paraclear.bench.blocks import OrderBlocks
    from paraclear.clearing.machine import ClearingMachine
    from paraclear.execution.sequential import execute_block

    source = OrderBlocks(accounts, 300)
    state = source.workload.genesis()
    machine = ClearingMachine(source.workload.model)
    execute_block(state, source.setup_block(), machine)
    for _ in range(3):
        txs = source.next_block(state).txs  # built on the source's own copy of ``state``
        one_by_one = dependency_metrics([machine.access(tx) for tx in txs])
        assert one_by_one is not None and one_by_one[0] > 1
        assert batch_metrics(machine.access_batch(txs)) == one_by_one
