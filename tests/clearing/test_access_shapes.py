"""The clearing house's access sets in bulk (``ClearingMachine.access_batch``) equal its
handlers' access functions, transaction by transaction, on random blocks of every type:
names that collide (a self-trade, a transfer to oneself: transactions that will fail),
types without a shape (asked one by one) and a machine whose transactions declare nothing."""

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.clearing import ClearingMachine
from paraclear.clearing.access_shapes import SHAPES
from paraclear.clearing.transactions import (
    AmendOrder,
    Backstop,
    CancelOrder,
    CloseOrder,
    Deposit,
    Funding,
    Liquidate,
    PlaceOrder,
    PoolDeposit,
    SettleFill,
    Side,
    Trade,
    Transfer,
    Withdraw,
)
from paraclear.execution import plan_block
from paraclear.execution.schedule import plan_batch

names = st.sampled_from(["alice", "bob", "carol", "a" * 64, "~!"])
instruments = st.sampled_from(["BTC-PERP", "ETH-PERP", "BTC-29MAR24-60000-C"])
amounts = st.integers(1, 10**12)
nonces = st.integers(0, 50)
common = {"sender": names, "nonce": nonces, "fee": st.integers(0, 100)}
sides = st.sampled_from(Side)

SHAPED = [
    st.builds(PlaceOrder, **common, instrument=instruments, side=sides, price=amounts,
              size=amounts, reduce_only=st.booleans()),
    st.builds(CancelOrder, **common, instrument=instruments, order=nonces),
    st.builds(AmendOrder, **common, order=nonces, price=amounts, size=amounts),
    st.builds(SettleFill, **common, instrument=instruments, taker=names, taker_order=nonces,
              maker=names, maker_order=nonces, price=amounts, size=amounts),
    st.builds(CloseOrder, **common, account=names, instrument=instruments, order=nonces,
              reason=st.sampled_from(["cancelled", "expired"])),
    st.builds(Trade, **common, maker=names, instrument=instruments, side=sides, size=amounts,
              price=amounts),
    st.builds(Deposit, **common, amount=amounts),
    st.builds(Withdraw, **common, amount=amounts),
    st.builds(Transfer, **common, to=names, amount=amounts),
]  # fmt: skip
UNSHAPED = [
    st.builds(Liquidate, **common, account=names, instrument=instruments, size=amounts),
    st.builds(Backstop, **common, account=names),
    st.builds(Funding, **common, instrument=instruments),
    st.builds(PoolDeposit, **common, amount=amounts),
]
blocks = st.lists(st.one_of(*SHAPED, *UNSHAPED), max_size=60)


def test_every_shaped_type_has_a_strategy_here():
    assert {strategy.wrapped_strategy.target for strategy in SHAPED} == set(SHAPES)


@settings(max_examples=150, deadline=None)
@given(txs=blocks, declared=st.booleans())
def test_bulk_access_sets_equal_the_handlers_one_by_one(txs, declared):
    machine = ClearingMachine(declared=declared)
    batch = machine.access_batch(txs)
    assert len(batch) == len(txs)
    for index, tx in enumerate(txs):
        assert batch.access(index) == machine.access(tx)
    assert batch.declared.tolist() == [declared] * len(txs)
    if declared:  # the same schedule as from the access sets
        bulk = plan_batch(batch, 2)
        sets = plan_block([machine.access(tx) for tx in txs], 2, _by_nibble)
        assert (bulk.worker_of, bulk.round_of, bulk.rounds) == (
            sets.worker_of,
            sets.round_of,
            sets.rounds,
        )
        assert bulk.pure_deltas == sets.pure_deltas
        assert bulk.metrics.critical_path == sets.metrics.critical_path
        assert bulk.metrics.level_widths == sets.metrics.level_widths
        # Hot locks tie in order of first appearance, which differs: compare the counts.
        assert [n for _, n in bulk.metrics.hot_locks] == [n for _, n in sets.metrics.hot_locks]


@settings(max_examples=20, deadline=None)
@given(first=blocks, second=blocks)
def test_lock_ids_last_from_block_to_block(first, second):
    machine = ClearingMachine()
    one = machine.access_batch(first)
    known = list(machine._shaped.table.locks)
    two = machine.access_batch(second)
    assert machine._shaped.table.locks[: len(known)] == known
    for index, tx in enumerate(second):
        assert two.access(index) == machine.access(tx)
    assert len(one) == len(first)


def _by_nibble(lock):
    from paraclear.state.codec import lock_nibble

    return lock_nibble(lock) % 2
