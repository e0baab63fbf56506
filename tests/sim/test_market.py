"""The agent market: agents trade through the node's API, reproducibly from a seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from paraclear.chain.replay import replay
from paraclear.chain.storage import BlockStore
from paraclear.sim.agents.oracle import VolRegime
from paraclear.sim.market import (
    EXPIRIES,
    START,
    STRIKES,
    MarketConfig,
    listed_market,
    run_market,
)
from paraclear.sim.records import MarketRun, TickRecord

SMALL = {"accounts": 30, "minutes": 12, "crash_at": 0.5}


def _run(path: Path, seed: int = 1) -> MarketRun:
    return run_market(MarketConfig(path, seed=seed, **SMALL))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MarketRun, MarketRun]]:
    """The same small crash run twice, on two fresh data directories."""
    yield _run(tmp_path_factory.mktemp("first")), _run(tmp_path_factory.mktemp("second"))


def _without_wall_time(tick: TickRecord) -> TickRecord:
    return dataclasses.replace(tick, seconds=0.0)


def test_the_same_seed_gives_the_same_blocks_root_and_records(
    runs: tuple[MarketRun, MarketRun],
) -> None:
    first, second = runs
    assert first.final_root == second.final_root and len(first.final_root) == 64
    assert list(map(_without_wall_time, first.ticks)) == list(map(_without_wall_time, second.ticks))
    assert first.smiles == second.smiles and first.errors == second.errors
    assert (first.lost, first.stalls) == (0, 0)
    with BlockStore.open(first.data_dir) as a, BlockStore.open(second.data_dir) as b:
        assert a.height == b.height == first.blocks
        for height in range(1, a.height + 1):
            assert a.block(height).block == b.block(height).block


def test_a_different_seed_gives_a_different_market(tmp_path: Path) -> None:
    other = _run(tmp_path, seed=2)
    assert other.final_root != _run(tmp_path / "again", seed=1).final_root


def test_agents_trade_and_the_crash_liquidates(runs: tuple[MarketRun, MarketRun]) -> None:
    run = runs[0]
    assert len(run.ticks) == SMALL["minutes"] and run.crash_tick == 6
    assert run.orders > 100 and sum(t.fills for t in run.ticks) > 0
    assert run.liquidations >= 1
    before, after = run.ticks[run.crash_tick - 1], run.ticks[run.crash_tick + 2]
    assert after.index < 0.8 * before.index and after.atm_vol > 1.5 * before.atm_vol
    assert run.roles == {"maker": 2, "liquidator": 1, "vol": 6, "directional": 21}
    assert [t.time for t in run.ticks] == [START + 60 * (n + 1) for n in range(12)]
    assert run.ticks[-1].height == run.blocks and all(t.blocks >= 2 for t in run.ticks)
    assert any(t.mm_greeks.vega != 0.0 for t in run.ticks)


def _skew(points: list[tuple[float, float]], forward: float) -> float:
    """Vol 10 % below the forward minus vol 10 % above it."""
    strikes, vols = zip(*points, strict=True)
    low, high = np.interp([0.9 * forward, 1.1 * forward], strikes, vols)
    return float(low - high)


def test_the_smile_steepens_and_rises_after_the_crash(runs: tuple[MarketRun, MarketRun]) -> None:
    run = runs[0]
    before, after = run.smiles["before"], run.smiles["after"]
    assert [k for k, _ in before] == [k for k, _ in after] and len(before) > 10
    assert all(late > early for (_, early), (_, late) in zip(before, after, strict=True))
    calm, crashed = run.ticks[run.crash_tick - 1].index, run.ticks[run.crash_tick + 2].index
    assert _skew(after, crashed) > 2 * _skew(before, calm) > 0


def test_replaying_the_data_dir_reproduces_the_final_root(
    runs: tuple[MarketRun, MarketRun],
) -> None:
    run = runs[0]
    with BlockStore.open(run.data_dir) as store:
        _, report = replay(store, "genesis")
    assert report.mismatch is None and report.state_root.hex() == run.final_root


def test_a_used_data_dir_is_refused(runs: tuple[MarketRun, MarketRun]) -> None:
    with pytest.raises(ValueError, match="fresh data directory"):
        run_market(MarketConfig(runs[0].data_dir, minutes=1))


def test_the_surface_has_the_regime_at_the_money_and_passes_the_arbitrage_checks() -> None:
    from paraclear.clearing.quotes import check_surface

    for regime in (VolRegime(0.6, -0.15, -0.5), VolRegime(1.2, -0.45, -0.75)):
        slices = regime.surface(EXPIRIES, START)
        check_surface(slices, START)  # raises on butterfly or calendar arbitrage
        assert regime.vols(np.array([0.0]))[0] == pytest.approx(regime.atm)
    assert len(listed_market().options) == len(EXPIRIES) * len(STRIKES) * 2


def test_agents_can_drive_a_node_app_started_by_the_caller(tmp_path: Path) -> None:
    from paraclear.api.app import NodeApp
    from paraclear.chain.core import NodeConfig

    config = NodeConfig(data_dir=tmp_path, tie_break="sender", block_interval=0.02)
    with NodeApp(config) as app:  # its own producer thread and the wall clock
        run = run_market(MarketConfig(tmp_path, accounts=8, minutes=3), app=app)
        assert app.node.producing
    assert run.orders > 0 and len(run.ticks) == 3 and run.blocks == run.ticks[-1].height


def test_a_request_refused_before_the_node_is_counted_lost_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paraclear.clearing.transactions import Liquidate
    from paraclear.sim import market
    from paraclear.sim.agents.keeper import Liquidator

    async def liquidate_itself(self: Liquidator, tick: int) -> None:
        if tick == 1:  # the API refuses it at decoding: the node never counts it
            self.send("liquidate", Liquidate, account=self.account, instrument="BTC-PERP", size=1)

    monkeypatch.setattr(market, "STALL_SECONDS", 600.0)  # the test would time out instead
    monkeypatch.setattr(Liquidator, "act", liquidate_itself)
    run = run_market(MarketConfig(tmp_path, accounts=8, minutes=3))
    assert (run.lost, run.stalls, len(run.ticks)) == (1, 0, 3)
    assert sum(run.errors["liquidator"].values()) == 1
