"""``paraclear bench chaos`` in small: a live node killed under load a few times loses and
duplicates nothing, and every damaged copy of its WAL is refused at start."""

from __future__ import annotations

from paraclear.bench.chaos import bench_chaos


def test_a_few_kills_under_load_lose_nothing_and_damage_is_detected() -> None:
    result = bench_chaos(rounds=3, traders=2, window=8, max_kill_after=0.5, startup_share=0.5)
    assert result["kills_under_load"] == 3
    assert result["kills"] == 3 + result["kills_at_startup"]
    assert result["acknowledged"] > 0 and result["sent"] >= result["acknowledged"]
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["replay_ok"] and result["clean_stop_exit"] == 0
    # Each damaged copy is refused, or opens with every acknowledged block (the WAL's
    # blocks may all have been checkpointed into the database when the node was killed,
    # and then deleting it costs nothing): never opened lower. That a damaged WAL holding
    # acknowledged blocks is refused every time is tests/node/test_damage.py's.
    damage = result["damage"]
    assert set(damage) == {"truncated_wal", "flipped_wal", "deleted_wal"}, damage
    assert "silent" not in damage.values(), damage
    assert all(
        found in ("detected", "intact", "no_wal") or found.startswith("refused: ")
        for found in damage.values()
    ), damage


def test_kills_of_the_core_with_frontends_up_lose_nothing() -> None:
    result = bench_chaos(
        rounds=2, traders=2, window=8, max_kill_after=0.5, startup_share=0.0, frontends=2
    )
    assert result["frontends"] == 2 and result["kills_under_load"] == 2
    assert result["acknowledged"] > 0
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["replay_ok"] and result["clean_stop_exit"] == 0
