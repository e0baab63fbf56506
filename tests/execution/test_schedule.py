"""Dependency mapping and the parallel schedule, on hand-built access sets."""

from paraclear.execution import plan_block
from paraclear.state import AccessSet


def acct(name):
    return ("acct", name)


FEES = ("fund", "fees")
MARKET = ("market", "mark")


def by_parity(lock):
    """Two workers: even-numbered accounts on worker 0, odd ones on worker 1."""
    return int(lock[1][-1]) % 2 if lock[0] == "acct" else 0


def test_levels_follow_conflicts_and_deltas_commute():
    accesses = [
        AccessSet(writes=[acct("a0")], deltas=[FEES]),  # level 1
        AccessSet(writes=[acct("a1")], deltas=[FEES]),  # level 1: deltas commute
        AccessSet(reads=[acct("a0")], writes=[acct("a2")]),  # after 0: level 2
        AccessSet(reads=[acct("a0")], writes=[acct("a4")]),  # reads commute: level 2
        AccessSet(writes=[acct("a0")]),  # after both readers: level 3
    ]
    schedule = plan_block(accesses, 2, by_parity)
    metrics = schedule.metrics
    assert metrics.critical_path == 3
    assert metrics.level_widths == [2, 2, 1]
    assert metrics.hot_locks[0] == (acct("a0"), 4)
    assert schedule.pure_deltas == frozenset({FEES})


def test_delta_on_a_lock_that_is_also_read_is_ordered_with_the_read():
    accesses = [
        AccessSet(writes=[acct("a0")], deltas=[FEES]),
        AccessSet(reads=[FEES], writes=[acct("a2")]),
        AccessSet(writes=[acct("a4")], deltas=[FEES]),
    ]
    schedule = plan_block(accesses, 2, by_parity)
    assert schedule.pure_deltas == frozenset()
    assert schedule.metrics.critical_path == 3


def test_independent_work_spreads_over_the_owners_in_one_round():
    accesses = [AccessSet(writes=[acct(f"a{i}")]) for i in range(40)]
    schedule = plan_block(accesses, 2, by_parity)
    assert schedule.spread and schedule.rounds == 1
    assert schedule.worker_of == [i % 2 for i in range(40)]
    assert not schedule.sends and schedule.final == [[], []]


def test_a_cross_worker_dependency_moves_the_lock_once_and_adds_a_round():
    accesses = [AccessSet(writes=[acct(f"a{i}")]) for i in range(40)]
    accesses.append(AccessSet(writes=[acct("a1"), acct("a2")]))  # both owners qualify
    accesses.append(AccessSet(reads=[acct("a1")], writes=[acct("a3")]))  # on worker 1
    schedule = plan_block(accesses, 2, by_parity)
    crossing = schedule.worker_of[40]
    # Worker ``crossing`` needs the other account's lock: prefetched from its owner.
    other = acct("a2") if crossing == 1 else acct("a1")
    assert (crossing, other) in schedule.prefetch[1 - crossing]
    if crossing == 0:  # worker 1 then needs a1 back for tx 41, a round later
        assert schedule.sends[40] == [(1, acct("a1"))]
        assert schedule.round_of[41] == schedule.round_of[40] + 1
    # The last writer of a lock that is not its owner hands it over at the end.
    for worker, finals in enumerate(schedule.final):
        for owner, lock in finals:
            assert owner == by_parity(lock) != worker


def test_a_barrier_read_by_everyone_is_replicated_not_waited_for():
    oracle = AccessSet(writes=[acct("oracle1"), MARKET])
    trades = [AccessSet(reads=[MARKET], writes=[acct(f"a{i}")]) for i in range(100)]
    schedule = plan_block([oracle, *trades], 2, by_parity)
    assert schedule.replicated == [0]
    assert schedule.rounds == 1 and schedule.spread
    assert sorted(set(schedule.worker_of[1:])) == [0, 1]


def test_a_fully_contended_block_runs_in_one_place():
    accesses = [AccessSet(writes=[acct("a1"), acct(f"a{i % 2}")]) for i in range(200)]
    schedule = plan_block(accesses, 2, by_parity)
    assert not schedule.spread
    assert set(schedule.worker_of) == {0} and schedule.rounds == 1
    assert schedule.prefetch[1] == [(0, acct("a1"))]
    assert schedule.final[0] == [(1, acct("a1"))]


def test_one_worker_gets_everything():
    accesses = [AccessSet(writes=[acct(f"a{i}")], deltas=[FEES]) for i in range(10)]
    schedule = plan_block(accesses, 1, lambda lock: 0)
    assert schedule.worker_of == [0] * 10 and schedule.rounds == 1


def test_a_block_not_worth_spreading_is_left_unplaced_when_asked_with_the_same_metrics(
    monkeypatch,
):
    from paraclear.execution import schedule as planner

    accesses = [AccessSet(writes=[acct("a1"), acct(f"a{i % 2}")]) for i in range(200)]
    placed = plan_block(accesses, 2, by_parity)
    passes = []
    kernel = planner.plan_kernel
    monkeypatch.setattr(planner, "plan_kernel", lambda *a: passes.append(a[5]) or kernel(*a))
    unplaced = plan_block(accesses, 2, by_parity, place_unspread=False)
    assert passes == [-1]  # one pass: the spread one, found not worth it
    assert placed.placed and not unplaced.placed and not unplaced.spread
    assert unplaced.metrics == placed.metrics
    assert (unplaced.rounds, unplaced.replicated) == (placed.rounds, placed.replicated)
    spread = plan_block([AccessSet(writes=[acct(f"a{i}")]) for i in range(40)], 2, by_parity)
    assert spread.placed and spread.spread


def test_worker_sets_fit_one_int64_up_to_the_bound_and_more_workers_are_refused():
    """The compiled passes keep a set of workers as the bits of an int64: at 62 workers a
    barrier replicated to everyone and a lock read on the last worker still plan right."""
    import pytest

    from paraclear.execution.schedule import MAX_PLANNED_WORKERS

    workers = MAX_PLANNED_WORKERS

    def spread(lock):
        return int(lock[1][1:]) % workers if lock[0] == "acct" else 0

    oracle = AccessSet(writes=[acct("a0"), MARKET])
    trades = [AccessSet(reads=[MARKET], writes=[acct(f"a{i}")]) for i in range(1, 3 * workers)]
    last = AccessSet(reads=[acct(f"a{workers - 1}")], writes=[acct("a0")])
    schedule = plan_block([oracle, *trades, last], workers, spread)
    assert schedule.replicated == [0] and schedule.spread
    assert sorted(set(schedule.worker_of[1:-1])) == list(range(workers))
    # The last worker's account, written there in round 1, is sent to the last transaction.
    needed = (schedule.worker_of[-1], acct(f"a{workers - 1}"))
    assert schedule.worker_of[-1] != workers - 1
    assert any(needed in sends for sends in schedule.sends.values())
    for too_many in (0, workers + 1, 64):
        with pytest.raises(ValueError, match="workers must be"):
            plan_block([oracle], too_many, spread)
