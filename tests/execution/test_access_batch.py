"""A block's access sets as lock ids in columns (``AccessBatch``): made in bulk by a machine
(the mock universe's ``access_batch``) or from access sets one by one, they say the same,
and the planner gives the same schedule from either."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.execution import plan_block
from paraclear.execution.access_batch import AccessBatch, LockTable, access_batch
from paraclear.execution.schedule import plan_batch
from paraclear.state import AccessSet
from paraclear.state.codec import lock_nibble

from .universe import BatchedMockMachine, MockMachine, random_block


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    keys=st.sampled_from([2, 10, 100, 10_000]),
    fail_rate=st.sampled_from([0.0, 0.5]),
    optimistic_rate=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_bulk_lock_ids_equal_the_access_sets_one_by_one(seed, keys, fail_rate, optimistic_rate):
    rng = random.Random(seed)
    machine = BatchedMockMachine()
    block = random_block(rng, 80, keys, fail_rate=fail_rate, optimistic_rate=optimistic_rate)
    bulk = access_batch(machine, block.txs)
    one_by_one = access_batch(MockMachine(), block.txs)
    assert one_by_one.sets is not None and bulk.sets is None
    for index, tx in enumerate(block.txs):
        assert bulk.access(index) == one_by_one.access(index) == machine.access(tx)
    assert bulk.declared.tolist() == [tx.declared for tx in block.txs]
    if optimistic_rate == 0.0:
        by_nibble = plan_batch(bulk, 3)
        by_sets = plan_block(list(one_by_one.sets), 3, lambda lock: lock_nibble(lock) % 3)
        assert by_nibble.worker_of == by_sets.worker_of
        assert by_nibble.round_of == by_sets.round_of
        assert by_nibble.pure_deltas == by_sets.pure_deltas
        assert {i: sorted(s) for i, s in by_nibble.sends.items()} == {
            i: sorted(s) for i, s in by_sets.sends.items()
        }
        assert [sorted(p) for p in by_nibble.prefetch] == [sorted(p) for p in by_sets.prefetch]
        assert [sorted(f) for f in by_nibble.final] == [sorted(f) for f in by_sets.final]


def test_a_replaced_access_set_is_marked_predicted_and_the_rest_kept():
    sets = [
        AccessSet(writes=[("a", "1")]),
        None,
        AccessSet(reads=[("a", "1")], deltas=[("c", "0")]),
    ]
    batch = AccessBatch.of(sets)
    assert batch.declared.tolist() == [True, False, True]
    prediction = AccessSet(writes=[("a", "2")], predicted=True)
    replaced = batch.replaced({1: prediction})
    assert replaced.access(1) == prediction and replaced.access(1).predicted
    assert replaced.predicted.tolist() == [False, True, False]
    assert [replaced.access(i) for i in (0, 2)] == [sets[0], sets[2]]
    assert replaced.table is batch.table


def test_the_planner_refuses_a_transaction_neither_declared_nor_predicted():
    with pytest.raises(ValueError, match="declared or predicted"):
        plan_batch(AccessBatch.of([AccessSet(writes=[("a", "1")]), None]), 2)


def test_a_lock_table_keeps_ids_and_nibbles_as_it_grows():
    table = LockTable()
    first = table.ids("acct", ["x", "y", "x"])
    assert first.tolist() == [0, 1, 0] and table.id(("acct", "y")) == 1
    assert table.ids("oi", ["x"]).tolist() == [2]
    assert table.locks == [("acct", "x"), ("acct", "y"), ("oi", "x")]
    assert table.nibbles.tolist() == [lock_nibble(lock) for lock in table.locks]
    assert table.ids("acct", []).dtype == np.int64
