"""``BlockRun``: one transaction through begin and apply with rollback, deltas folded once,
typed access violations, and a block run one transaction at a time equal to the executors."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.execution import (
    Block,
    BlockContext,
    BlockRun,
    BlockRunFinished,
    ParallelExecutor,
    execute_block,
    fold_delta,
)
from paraclear.state import AccessSet, State, StateView
from paraclear.state.errors import AccessMispredicted

from .universe import MockFailure, MockMachine, MockTx, counter, key, nonce, random_block

MACHINE = MockMachine()
CTX = BlockContext(height=1, time=5)


class StrictNonceMachine(MockMachine):
    """``begin`` fails for sender 0, as a bad nonce would: the transaction changes nothing."""

    def begin(self, tx: MockTx, view: StateView, ctx: BlockContext) -> None:
        view.set(nonce(tx.sender), view.get_int(nonce(tx.sender)) + 1)
        if tx.sender == 0:
            raise MockFailure(tx=tx.id)


def test_a_failed_body_is_rolled_back_to_what_begin_wrote_and_included():
    state = State({key(3): 7, counter(1): 100})
    run = BlockRun(state.data, MACHINE, CTX)
    tx = MockTx(id=4, sender=9, reads=(3,), writes=(3,), deltas=(1,), fails=True)
    receipt = run.run(tx)
    assert not receipt.ok and receipt.error is not None
    assert (receipt.error.code, receipt.error.details) == ("MockFailure", (("tx", 4),))
    assert run.pending == {nonce(9): 1}  # not key 3, not the counter's delta
    assert run.txs == [tx] and run.receipts == [receipt]
    assert run.get(key(3)) == 7 and run.get(counter(1)) == 100


def test_a_failed_begin_changes_nothing_at_all():
    state = State({nonce(0): 3})
    run = BlockRun(state.data, StrictNonceMachine(), CTX)
    receipt, view = run.attempt(MockTx(id=1, sender=0, reads=(), writes=(2,), deltas=(0,)), 0, None)
    assert not receipt.ok and receipt.error is not None and receipt.error.code == "MockFailure"
    assert view.writes == {} and view.deltas == {}
    run.run(MockTx(id=1, sender=0, reads=(), writes=(2,), deltas=(0,)))
    assert run.pending == {} and run.get(nonce(0)) == 3


def test_deltas_fold_once_into_the_pending_writes_and_the_committed_state():
    state = State({counter(0): 10})
    run = BlockRun(state.data, MACHINE, CTX)
    run.run(MockTx(id=1, sender=1, reads=(), writes=(), deltas=(0, 2)))  # adds 2
    run.run(MockTx(id=4, sender=2, reads=(), writes=(), deltas=(0,)))  # adds 5
    assert run.get(counter(0)) == 10 + 2 + 5
    assert run.get(counter(2)) == 2
    result = run.finish(state)
    assert state.get(counter(0)) == 17 and state.get(counter(2)) == 2
    assert result.write_set[counter(0)] == 17


def test_fold_delta_adds_to_pending_else_committed_else_zero():
    pending: dict[tuple[str, ...], object] = {counter(1): 4}
    data = {counter(1): 100, counter(2): 50}
    assert fold_delta(pending, data, counter(1), 3) == 7  # pending shadows committed
    assert fold_delta(pending, data, counter(2), 3) == 53
    assert fold_delta(pending, data, counter(3), 3) == 3
    assert pending == {counter(1): 7, counter(2): 53, counter(3): 3}


def test_try_run_leaves_a_failure_out_and_the_next_transaction_takes_its_index():
    state = State()
    run = BlockRun(state.data, MACHINE, CTX)
    failing = MockTx(id=1, sender=1, reads=(), writes=(1,), deltas=(0,), fails=True)
    succeeding = MockTx(id=2, sender=2, reads=(), writes=(1,), deltas=(0,))
    assert not run.try_run(failing).ok
    assert run.pending == {} and run.txs == [] and run.receipts == []
    receipt = run.try_run(succeeding)
    assert receipt.ok and receipt.index == 0 and run.txs == [succeeding]
    expected = execute_block(State(), Block(1, 5, (succeeding,)), MACHINE)
    assert run.finish(state).consensus_bytes() == expected.consensus_bytes()


def test_an_undeclared_access_fails_with_a_typed_violation_keeping_begin():
    run = BlockRun(State().data, MACHINE, CTX)
    receipt = run.run(MockTx(id=0, sender=1, reads=(), writes=(1,), deltas=(0,), stray=5))
    assert receipt.error is not None and receipt.error.code == "AccessViolation"
    assert receipt.error.details == (("key", "k/5"), ("access", "read"))
    assert run.pending == {nonce(1): 1}


def test_a_mispredicted_access_escapes_for_the_executor_to_handle():
    run = BlockRun(State().data, MACHINE, CTX)
    predicted = AccessSet(writes=[nonce(1)], predicted=True)
    tx = MockTx(id=0, sender=1, reads=(), writes=(1,), deltas=(), declared=False)
    with pytest.raises(AccessMispredicted):
        run.attempt(tx, 0, predicted)
    assert run.pending == {} and run.receipts == []


def test_a_finished_run_commits_once_and_only_to_its_own_state():
    state = State()
    run = BlockRun(state.data, MACHINE, CTX)
    tx = MockTx(id=0, sender=1, reads=(), writes=(1,), deltas=())
    run.run(tx)
    with pytest.raises(ValueError, match="state"):
        run.finish(State())
    result = run.finish(state)
    assert result.state_root == state.root() and result.metrics.txs == 1
    with pytest.raises(BlockRunFinished):
        run.finish(state)
    with pytest.raises(BlockRunFinished):
        run.run(tx)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([2, 10, 100]))
def test_one_at_a_time_equals_run_all_and_both_executors(seed, n_keys):
    block = random_block(random.Random(seed), 60, n_keys, optimistic_rate=0.2)
    one_by_one = State()
    run = BlockRun(one_by_one.data, MACHINE, block.context)
    receipts = [run.run(tx) for tx in block.txs]
    assert receipts == run.receipts and run.txs == list(block.txs)
    stepped = run.finish(one_by_one)
    batched = State()
    all_at_once = BlockRun(batched.data, MACHINE, block.context)
    assert all_at_once.run_all(block.txs) == receipts
    sequential = execute_block(State(), block, MACHINE)
    with ParallelExecutor(MACHINE, 2, "inline", spread="model") as executor:
        parallel = executor.execute(State(), block)
    expected = sequential.consensus_bytes()
    assert stepped.consensus_bytes() == expected
    assert all_at_once.finish(batched).consensus_bytes() == expected
    assert parallel.consensus_bytes() == expected
