import random

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.execution import Block, SequentialExecutor, execute_block
from paraclear.state import State

from .universe import MockMachine, MockTx, counter, key, nonce, random_block


def run(block: Block[MockTx], state: State | None = None):
    state = state or State()
    return state, execute_block(state, block, MockMachine())


def test_successful_transaction_commits_writes_deltas_and_events():
    tx = MockTx(id=3, sender=1, reads=(), writes=(2,), deltas=(0,))
    state, result = run(Block(height=1, time=5, txs=(tx,)))
    receipt = result.receipts[0]
    assert receipt.ok and receipt.error is None and receipt.events == (("done", 3, 0),)
    assert state.get(key(2)) == 31 * 3
    assert state.get(counter(0)) == 4
    assert state.get(nonce(1)) == 1
    assert result.state_root == state.root()
    assert result.metrics.txs == 1 and result.metrics.failed == 0


def test_failed_transaction_keeps_only_what_begin_wrote():
    state = State({key(3): 7})
    tx = MockTx(id=4, sender=9, reads=(3,), writes=(3,), deltas=(1,), fails=True)
    _, result = run(Block(height=1, time=5, txs=(tx,)), state)
    receipt = result.receipts[0]
    assert not receipt.ok
    assert receipt.error is not None and receipt.error.code == "MockFailure"
    assert receipt.error.details == (("tx", 4),)
    assert state.get(key(3)) == 7
    assert state.get(counter(1)) is None
    assert state.get(nonce(9)) == 1


def test_touching_an_undeclared_key_fails_with_access_violation_but_not_when_optimistic():
    declared = MockTx(id=0, sender=1, reads=(), writes=(1,), deltas=(), stray=5)
    _, result = run(Block(height=1, time=5, txs=(declared,)))
    assert result.receipts[0].error is not None
    assert result.receipts[0].error.code == "AccessViolation"
    optimistic = MockTx(id=0, sender=1, reads=(), writes=(1,), deltas=(), stray=5, declared=False)
    _, result = run(Block(height=1, time=5, txs=(optimistic,)))
    assert result.receipts[0].ok


def test_later_transactions_see_earlier_writes_of_the_same_block():
    first = MockTx(id=1, sender=1, reads=(), writes=(0,), deltas=(0,))
    second = MockTx(id=2, sender=2, reads=(0,), writes=(1,), deltas=(0,))
    state, result = run(Block(height=1, time=5, txs=(first, second)))
    written = state.get(key(0))
    assert result.receipts[1].events == (("done", 2, (written or 0) * 1 % 1_000_003),)
    assert state.get(counter(0)) == 2 + 3


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([2, 10, 100]))
def test_executing_a_block_is_deterministic_and_the_root_matches_a_rebuilt_state(seed, n_keys):
    block = random_block(random.Random(seed), 60, n_keys)
    state_a, result_a = run(block)
    _, result_b = run(block)
    assert result_a.consensus_bytes() == result_b.consensus_bytes()
    assert State(state_a.data).root() == result_a.state_root


def test_sequential_executor_object_matches_the_function():
    block = random_block(random.Random(1), 50, 10)
    _, direct = run(block)
    state = State()
    via_object = SequentialExecutor(MockMachine()).execute(state, block)
    assert direct.consensus_bytes() == via_object.consensus_bytes()


def test_metrics_split_out_the_access_sets_and_the_commits_encode_hashes_and_tree():
    block = random_block(random.Random(3), 60, 12)
    _, result = run(block)
    metrics = result.metrics
    assert 0 < metrics.access_seconds <= metrics.execute_seconds
    commit = (metrics.encode_seconds, metrics.value_hash_seconds, metrics.tree_seconds)
    assert all(seconds > 0 for seconds in commit)
    assert sum(commit) <= metrics.commit_seconds
