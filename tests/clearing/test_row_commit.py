"""The compiled engine's hot keys committed pre-hashed (``CompiledEngine.hashed``,
``State.apply(hashed=...)``) against the same blocks committed from the values alone: the
same roots, state, write sets and proofs, block after block, with reference handlers in the
middle of blocks, deposits and withdrawals, both margin models; and a key that a reference
handler writes after the kernels did in the same block is never committed from a stale row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.bench.root import executed_block
from paraclear.chain.builder import BlockBuilder
from paraclear.clearing import ClearingMachine
from paraclear.clearing.kernels import hashed as row_hashes
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.margin import MarginModel, PortfolioMargin
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import (
    Deposit,
    OracleUpdate,
    SettleFill,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import Block, BlockResult, BlockRun, execute_block
from paraclear.market import SerialMatcher
from paraclear.numbers import MAX_ABS_RAW, MAX_BALANCE
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.compiled import PARALLEL_MIN_VALUES, set_threads
from paraclear.state.hashed import HashedWrites
from tests.clearing.harness import PERP, usd
from tests.clearing.test_kernels import _fields, _market
from tests.node.test_builder import ACCOUNTS, Flow


class Counting:
    """Wraps an engine's ``hashed``: how many keys it handed over pre-hashed, and what they
    were (an account's field, else ``counter`` and the key's first part: ``oi``, ``orders``,
    ``fund``); checks that no key is handed over twice, that a ``rest`` it names is every
    other key of the write set, and that the tables' lists of open orders equal the run's
    values. ``rests``: the commits that named their rest."""

    def __init__(self, engine: CompiledEngine) -> None:
        self.keys = 0
        self.rests = 0
        self.kinds: set[str] = set()
        self._engine = engine
        self._hashed = engine.hashed
        engine.hashed = self  # type: ignore[method-assign]

    def __call__(self, run: BlockRun[Transaction]) -> HashedWrites | None:
        hashed = self._hashed(run)
        self.keys += 0 if hashed is None else len(hashed.keys)
        if hashed is not None:  # distinct: ``whole`` counts them against the write set
            assert len(set(hashed.keys)) == len(hashed.keys)
        if hashed is not None and hashed.rest is not None:
            assert set(hashed.rest) == set(run.pending) - set(hashed.keys)
            assert len(hashed.rest) == len(set(hashed.rest))
            self.rests += 1
        for key in () if hashed is None else hashed.keys:
            self.kinds.add(key[2] if key[0] == "acct" else f"counter {key[0]}")
        tables = self._engine.tables
        if hashed is not None and tables is not None:
            for row, name in enumerate(tables.account_names):
                assert tables.open_orders[row] == list(run.get(k.open_orders(name)) or ())
        return hashed


def _engine(machine: ClearingMachine) -> CompiledEngine:
    assert isinstance(machine.batch_runner, CompiledEngine)
    return machine.batch_runner


@contextmanager
def _pair(model: MarginModel) -> Iterator[tuple[ClearingMachine, ClearingMachine, Counting]]:
    """Two compiled machines: one commits pre-hashed (counted), one from values alone
    (``prehashed`` off: checked to hand over no key)."""
    hashed = ClearingMachine(model, engine="compiled")
    plain = ClearingMachine(model, engine="compiled")
    _engine(plain).prehashed = False
    none = Counting(_engine(plain))
    yield hashed, plain, Counting(_engine(hashed))
    assert none.keys == 0


def _same_state(got: BlockResult, want: BlockResult, mine: State, theirs: State) -> None:
    assert got.receipts == want.receipts
    assert got.write_set == want.write_set
    assert got.state_root == want.state_root == mine.root() == theirs.root()
    assert mine.data == theirs.data
    for key in list(got.write_set)[:50]:
        assert mine.prove(key) == theirs.prove(key)


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    per_block=st.sampled_from([5, 40, 120]),
    portfolio=st.booleans(),
)
def test_order_flow_commits_the_same_with_and_without_row_hashes(
    seed: int, per_block: int, portfolio: bool
) -> None:
    """The builder's random order flow (placements of every kind, amends, cancels, fills,
    failures) with deposits and withdrawals added, over several blocks."""
    model: MarginModel | None = PortfolioMargin() if portfolio else None
    ex = _market(model)
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(seed, dict(ex.nonces))
    mine, theirs = ex.state.copy(), ex.state.copy()
    with _pair(ex.machine.margin_model) as (hashed, plain, counting):
        for number in range(5):
            height = ex.height + 1 + number
            txs = flow.batch(per_block, height)
            sender = ACCOUNTS[number % len(ACCOUNTS)]
            txs.insert(len(txs) // 2, flow.tx(Deposit, sender, amount=1_000 + number))
            txs.append(flow.tx(Withdraw, ACCOUNTS[-1 - number], amount=10**15 * (number % 2)))
            built = builder.build(ex.state, height, ex.time + 60 * height, txs)
            execute_block(ex.state, built.block, ex.machine)
            got = execute_block(mine, built.block, hashed)
            want = execute_block(theirs, built.block, plain)
            _same_state(got, want, mine, theirs)
            assert got.state_root == ex.state.root()
    assert counting.keys > 0
    assert {"order", "nonce"} <= counting.kinds


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), portfolio=st.booleans())
def test_the_simulation_workload_commits_the_same(seed: int, portfolio: bool) -> None:
    """Trades, liquidations, oracle updates, funding and expiries (reference handlers
    between and among the kernels' transactions)."""
    workload = Workload(
        WorkloadConfig(seed=seed, accounts=40, txs_per_block=80, portfolio_margin=portfolio)
    )
    state = workload.genesis()
    execute_block(state, workload.setup_block(), ClearingMachine(workload.model))
    mine, theirs = state.copy(), state.copy()
    with _pair(workload.model) as (hashed, plain, counting):
        for _ in range(5):
            block = workload.next_block(mine)
            _same_state(
                execute_block(mine, block, hashed),
                execute_block(theirs, block, plain),
                mine,
                theirs,
            )
    assert counting.keys > 0
    assert "counter oi" in counting.kinds
    assert counting.rests > 0  # the blocks' oracle updates: marks and the oracle's nonce


@pytest.mark.parametrize("tree", ["compiled", "reference"])
def test_an_order_the_kernels_wrote_then_a_handler_wrote_is_not_hashed_stale(tree: str) -> None:
    """A fill in the kernels writes a's order; the next fill of the same order leaves its
    filled size past int64, falls back to the handler, which writes the order again: the
    tables cannot hold that value (the row keeps the kernel's), so the order must be
    committed from the handler's value."""
    ex = _market()
    lot, price = PERP.lot_size, PERP.tick_size
    size = MAX_ABS_RAW // lot * lot
    half = size // 2 // lot * lot
    setup: dict[tuple[str, ...], object] = {}
    for account, is_buy in (("a", True), ("b", False)):
        filled = 2**63 - 1 - half // 2 if account == "a" else 0
        setup[k.collateral(account)] = MAX_BALANCE
        setup[k.order(account, 100)] = OpenOrder(
            instrument=PERP.name, is_buy=is_buy, kind="limit", price=price,
            remaining=size, filled=filled, reserved=0,
        )  # fmt: skip
        setup[k.open_orders(account)] = (100,)
    ex.state.apply(setup)
    mine = State(dict(ex.state.data), tree=tree)  # type: ignore[arg-type]

    def fill(amount: int) -> SettleFill:
        return SettleFill(
            sender="oracle", nonce=0, instrument=PERP.name, taker="a", taker_order=100,
            maker="b", maker_order=100, price=price, size=amount,
        )  # fmt: skip

    block = Block(ex.height + 1, ex.time + 60, (fill(lot), fill(half)))
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    counting = Counting(_engine(compiled))
    want = execute_block(ex.state, block, ex.machine)
    got = execute_block(mine, block, compiled)
    assert [receipt.ok for receipt in got.receipts] == [True, True]
    assert _engine(compiled).fallbacks == 1
    assert got.write_set == want.write_set
    assert got.state_root == want.state_root
    assert mine.prove(k.order("a", 100)) == ex.state.prove(k.order("a", 100))
    assert counting.keys > 0


def test_reference_transactions_mid_block_commit_the_same() -> None:
    """Deposits and withdrawals the kernels run, and a withdrawal far beyond the balance,
    placed in the middle of the order flow of several blocks."""
    ex = _market()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(11, dict(ex.nonces))
    mine, theirs = ex.state.copy(), ex.state.copy()
    extra: list[Transaction] = [
        Deposit(sender="trader1", nonce=0, amount=5_000_000),
        Withdraw(sender="trader2", nonce=0, amount=1_000_000),
        Withdraw(sender="trader0", nonce=0, amount=10**15),
    ]
    with _pair(ex.machine.margin_model) as (hashed, plain, counting):
        for number, tx in enumerate(extra):
            height = ex.height + 1 + number
            txs = flow.batch(60, height)
            txs.insert(30, flow.tx(type(tx), tx.sender, **_fields(tx)))
            built = builder.build(ex.state, height, ex.time + 60 * height, txs)
            execute_block(ex.state, built.block, ex.machine)
            got = execute_block(mine, built.block, hashed)
            _same_state(got, execute_block(theirs, built.block, plain), mine, theirs)
    assert counting.keys > 0
    assert {"orders", "counter orders", "counter fund"} <= counting.kinds  # fund: deposits


Handed = list[tuple[list[object], bytes, bytes, list[bool], bool]]


def _recorded(engine: CompiledEngine) -> Handed:
    """Every ``HashedWrites`` the engine hands over from now on, as plain values."""
    handed: Handed = []
    inner = engine.hashed

    def keep(run: BlockRun[Transaction]) -> HashedWrites | None:
        hashed = inner(run)
        assert hashed is not None
        paths, hashes, deleted = hashed.paths.tobytes(), hashed.hashes.tobytes(), hashed.deleted
        handed.append((list(hashed.keys), paths, hashes, deleted.tolist(), hashed.whole))
        return hashed

    engine.hashed = keep  # type: ignore[method-assign]
    return handed


@pytest.mark.parametrize("per_block", [5, 80])
def test_rows_hashed_one_at_a_time_hash_what_the_array_calls_hash(
    monkeypatch: pytest.MonkeyPatch, per_block: int
) -> None:
    """The same blocks' rows hashed one at a time (every batch below ``SMALL``) and by
    array calls (none below): the same keys, paths, hashes and deletions, in the same order,
    and the roots of the reference handlers."""
    seen = []
    for small in (10**9, 0):
        monkeypatch.setattr(row_hashes, "SMALL", small)
        ex = _market(None)
        builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
        flow = Flow(7, dict(ex.nonces))
        machine = ClearingMachine(ex.machine.margin_model, engine="compiled")
        handed = _recorded(_engine(machine))
        mine = ex.state.copy()
        for number in range(5):
            height = ex.height + 1 + number
            txs = flow.batch(per_block, height)
            built = builder.build(ex.state, height, ex.time + 60 * height, txs)
            want = execute_block(ex.state, built.block, ex.machine)
            assert execute_block(mine, built.block, machine).state_root == want.state_root
        seen.append(handed)
    assert seen[0] == seen[1]
    assert sum(len(keys) for keys, *_ in seen[0]) > 0


def test_a_key_a_handler_wrote_and_the_kernels_wrote_after_is_hashed_not_named_rest() -> None:
    """An oracle update (a reference handler: marks and the oracle's nonce), then the
    oracle's deposit and transfers between every account (kernels: the oracle's nonce again,
    a flush last; more hashed keys than noted ones): the commit names the update's market
    keys as its rest and hashes the nonce; the same root and state as committing every key
    from its value."""
    ex = _market()
    mine, theirs = ex.state.copy(), ex.state.copy()
    txs = [
        ex.tx(OracleUpdate, "oracle", underlying="BTC", index_price=usd(61_000),
              atm_vol_ppm=600_000),
        ex.tx(Deposit, "oracle", amount=5_000_000),
        *(ex.tx(Transfer, sender, to="oracle", amount=1) for sender in ACCOUNTS),
    ]  # fmt: skip
    block = Block(ex.height + 1, ex.time + 60, tuple(txs))
    with _pair(ex.machine.margin_model) as (hashed, plain, counting):
        named: list[HashedWrites] = []
        inner = counting.__call__

        def keep(run: BlockRun[Transaction]) -> HashedWrites | None:
            made = inner(run)
            if made is not None:
                named.append(made)
            return made

        _engine(hashed).hashed = keep  # type: ignore[method-assign]
        got = execute_block(mine, block, hashed)
        _same_state(got, execute_block(theirs, block, plain), mine, theirs)
    assert all(receipt.ok for receipt in got.receipts)
    assert len(named) == 1 and named[0].rest is not None and counting.rests == 1
    assert k.nonce("oracle") in set(named[0].keys)
    assert named[0].rest and all(key[0] == "market" for key in named[0].rest)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_large_blocks_values_hashed_beside_the_dictionary_commit_the_same(threads: int) -> None:
    """From ``PARALLEL_MIN_VALUES`` hashed keys and with more than one thread, the engine
    hashes the values on another thread while ``State.apply`` sets the dictionary
    (``HashedWrites.ready``); with one thread, at once. Either way the commit is the one
    from the values alone, and the proofs are."""
    previous = set_threads(threads)
    try:
        before, run = executed_block(2_000)
        assert run.runner is not None
        hashed = run.runner.hashed(run)
        assert hashed is not None and len(hashed.keys) >= PARALLEL_MIN_VALUES
        assert (hashed.ready is not None) == (threads > 1)
        mine, theirs = State(before), State(before)
        timings: dict[str, float] = {}
        mine.apply(run.pending, timings, hashed)
        theirs.apply(run.pending)
        assert hashed.ready is None or hashed.ready.done()
        assert timings["rows_wait"] >= 0.0 and (threads > 1 or timings["rows_wait"] == 0.0)
        assert mine.root() == theirs.root()
        assert mine.data == theirs.data
        for key in list(run.pending)[:: len(run.pending) // 40]:
            assert mine.prove(key) == theirs.prove(key)
    finally:
        set_threads(previous)
