"""The compiled engine against the reference handlers, block after block.

Random order flow (every order type, cancels, amends, good-til-block, reduce-only, orders
that fail margin, stale cancels) goes through the node's block builder, which dry-runs it
with the reference handlers and matches it in the books; each built block (placements,
amends, cancels, fills, closes, oracle updates) is then executed by the compiled engine on a
replica of the state. Receipts, write sets and roots must be identical after every block,
with deposits, withdrawals, expiry and oracle updates (reference transactions) between
them, after the state was changed behind the engine's back, and under portfolio margin.
"""

from __future__ import annotations

import random
from collections import Counter
from functools import partial
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.chain.builder import BlockBuilder
from paraclear.clearing import ClearingMachine
from paraclear.clearing.instruments import Instrument
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.kernels.rows import MAX_OPEN_ORDERS
from paraclear.clearing.margin import MarginModel, PortfolioMargin
from paraclear.clearing.records import Bankruptcy, OpenOrder, Position
from paraclear.clearing.transactions import (
    CancelOrder,
    Deposit,
    Liquidate,
    OracleUpdate,
    PlaceOrder,
    SettleFill,
    Side,
    Trade,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import Block, BlockResult, BlockRun, SequentialExecutor, execute_block
from paraclear.market import SerialMatcher
from paraclear.numbers import MAX_ABS_RAW, MAX_BALANCE, SIZE_SCALE
from paraclear.sim import crash
from paraclear.sim.crash import CrashConfig, run_crash
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import State
from paraclear.state import keys as k
from tests.clearing.harness import CALL, ONE, OTM_CALL, PERP, PUT, Exchange, usd
from tests.node.test_builder import ACCOUNTS, Flow


def _market(model: MarginModel | None = None) -> Exchange:
    ex = Exchange(model).market(index=60_000)
    ex.fund(**{a: 2_000_000 if i % 4 else 300 for i, a in enumerate(ACCOUNTS)})
    return ex


def _same(got: BlockResult, want: BlockResult, block: Block[Transaction]) -> None:
    for tx, mine, theirs in zip(block.txs, got.receipts, want.receipts, strict=True):
        assert mine == theirs, tx
    assert got.write_set == want.write_set
    assert got.state_root == want.state_root


def _mirrored(machine: ClearingMachine, state: State) -> bool:
    """Whether the compiled ``machine``'s engine checked that the tables it carries into
    its next block mirror ``state`` (``kernels.mirror``; it raises if they do not)."""
    engine = machine.batch_runner
    assert isinstance(engine, CompiledEngine)
    return engine.check_tables(state)


def _follow(
    seed: int,
    blocks: int,
    per_block: int,
    model: MarginModel | None = None,
    extra: dict[int, list[Transaction]] | None = None,
) -> CompiledEngine:
    """Build ``blocks`` blocks of random order flow and run each with both engines."""
    ex = _market(model)
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(seed, dict(ex.nonces))
    deferred: list[Transaction] = []
    for number in range(blocks):
        height = ex.height + 1 + number
        txs = deferred + flow.batch(per_block, height)
        for tx in (extra or {}).get(number, []):
            txs.append(flow.tx(type(tx), tx.sender, **_fields(tx)))
        built = builder.build(ex.state, height, ex.time + 60 * height, txs)
        deferred = built.deferred
        want = SequentialExecutor(ex.machine).execute(ex.state, built.block)
        got = SequentialExecutor(compiled).execute(replica, built.block)
        _same(got, want, built.block)
        assert _mirrored(compiled, replica)
    assert isinstance(compiled.batch_runner, CompiledEngine)
    return compiled.batch_runner


def _fields(tx: Transaction) -> dict[str, object]:
    return {
        name: getattr(tx, name) for name in tx.__struct_fields__ if name not in ("sender", "nonce")
    }


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_block=st.sampled_from([5, 40, 120]))
def test_compiled_equals_reference_block_after_block(seed: int, per_block: int) -> None:
    engine = _follow(seed, blocks=6, per_block=per_block)
    assert engine.tables is not None


def test_most_order_flow_runs_in_the_kernels() -> None:
    engine = _follow(5, blocks=8, per_block=80)
    tables = engine.tables
    assert tables is not None and tables.usable
    assert engine.fallbacks < 8 * 80 // 10


def test_reference_transactions_between_kernels() -> None:
    extra = {
        1: [Deposit(sender="trader1", nonce=0, amount=5_000_000)],
        2: [Withdraw(sender="trader2", nonce=0, amount=1_000_000)],
        3: [Withdraw(sender="trader0", nonce=0, amount=10**15)],  # fails: more than it has
    }
    _follow(9, blocks=5, per_block=60, extra=extra)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_block=st.sampled_from([5, 40, 120]))
def test_portfolio_margin_in_the_kernels(seed: int, per_block: int) -> None:
    engine = _follow(seed, blocks=5, per_block=per_block, model=PortfolioMargin())
    assert engine.tables is not None and engine.tables.usable
    assert engine.fallbacks == 0


def _alternate(per_block: int) -> object:
    """Six blocks of order flow, every other one run on the reference handlers, the
    others on the compiled engine (its tables no longer mirror the state and must be
    loaded again), each equal to the handlers' run; the compiled machine's batch runner."""
    ex = _market()
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    reference = SequentialExecutor(ex.machine)
    fast = SequentialExecutor(compiled)
    replica = ex.state.copy()
    flow = Flow(2, dict(ex.nonces))
    for number in range(6):
        height = ex.height + 1 + number
        block = Block(height, ex.time + 60 * height, tuple(flow.batch(per_block, height)))
        want = reference.execute(ex.state, block)
        got = (fast if number % 2 == 0 else reference).execute(replica, block)
        _same(got, want, block)
    return compiled.batch_runner


def test_a_state_changed_behind_the_engine_is_loaded_again() -> None:
    engine = _alternate(30)
    assert isinstance(engine, CompiledEngine) and engine.loads >= 2


def test_extreme_sizes_and_prices_agree() -> None:
    """Sizes and prices near the largest a transaction may carry: the kernels compute the
    products exactly in 128 bits or hand the transaction to the reference handlers."""
    ex = _market()
    ex.fund(whale=10**11)
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    nonce = 0
    txs: list[Transaction] = []
    lot, tick = PERP.lot_size, PERP.tick_size
    for size in (lot, 2**40 * lot, MAX_ABS_RAW // lot * lot):
        for price in (tick, 60_000 * 10**6, MAX_ABS_RAW // tick * tick):
            for side in Side:
                order = PlaceOrder(
                    sender="whale", nonce=nonce, instrument=PERP.name, side=side, price=price,
                    size=size,
                )  # fmt: skip
                txs.append(order)
                nonce += 1
    txs.append(CancelOrder(sender="whale", nonce=nonce, instrument=PERP.name, order=0))
    block = Block(ex.height + 1, ex.time + 60, tuple(txs))
    want = SequentialExecutor(ex.machine).execute(ex.state, block)
    got = SequentialExecutor(compiled).execute(replica, block)
    _same(got, want, block)
    assert _mirrored(compiled, replica)
    assert any(receipt.ok for receipt in got.receipts)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine must be one of"):
        ClearingMachine(engine="fast")  # type: ignore[arg-type]


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    accounts=st.sampled_from([2, 10, 200]),
    portfolio=st.booleans(),
)
def test_the_simulation_workload_agrees(seed: int, accounts: int, portfolio: bool) -> None:
    """Trades (with failures for margin and collateral), liquidations, oracle updates,
    funding and expiries from the simulation's workload, at several contention levels."""
    workload = Workload(
        WorkloadConfig(seed=seed, accounts=accounts, txs_per_block=80, portfolio_margin=portfolio)
    )
    reference = ClearingMachine(workload.model)
    compiled = ClearingMachine(workload.model, engine="compiled")
    state = workload.genesis()
    execute_block(state, workload.setup_block(), reference)
    replica = state.copy()
    for _ in range(5):
        block = workload.next_block(state)
        want = execute_block(state, block, reference)
        got = execute_block(replica, block, compiled)
        _same(got, want, block)
        _mirrored(compiled, replica)  # False after a block with nothing for the kernels


def test_funds_failures_and_a_bankruptcy_paid_back() -> None:
    """Deposits, withdrawals and transfers in the kernels, with every failure they have: a
    bankrupt account cannot withdraw until deposits bring it back to zero or more (which
    ends its bankruptcy), a transfer to oneself, more than the free collateral, a balance
    beyond the limit."""
    ex = _market()
    ex.state.apply(
        {
            k.collateral("broke"): -500,
            k.bankruptcy("broke"): Bankruptcy(height=1, deficit=500),
            k.collateral("rich"): MAX_BALANCE - 10,
        }
    )
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    txs: list[Transaction] = [
        Deposit(sender="broke", nonce=0, amount=300),
        Withdraw(sender="broke", nonce=1, amount=1),
        Deposit(sender="broke", nonce=2, amount=300),
        Withdraw(sender="broke", nonce=3, amount=50),
        Transfer(sender="broke", nonce=4, to="broke", amount=1),
        Transfer(sender="broke", nonce=5, to="trader1", amount=10**9),
        Transfer(sender="broke", nonce=6, to="rich", amount=20),
        Transfer(sender="broke", nonce=7, to="trader1", amount=10),
        Deposit(sender="rich", nonce=0, amount=11),
        Deposit(sender="rich", nonce=1, amount=10),
        Withdraw(sender="trader0", nonce=ex.nonces["trader0"], amount=10**15, fee=1),
        Deposit(sender="broke", nonce=9, amount=1),
    ]
    block = Block(ex.height + 1, ex.time + 60, tuple(txs))
    want = SequentialExecutor(ex.machine).execute(ex.state, block)
    got = SequentialExecutor(compiled).execute(replica, block)
    _same(got, want, block)
    assert _mirrored(compiled, replica)
    codes = [receipt.error.code if receipt.error else "ok" for receipt in got.receipts]
    assert codes == [
        "ok", "AccountBankrupt", "ok", "ok", "Malformed", "InsufficientCollateral",
        "BalanceLimit", "ok", "BalanceLimit", "ok", "InsufficientCollateral", "InvalidNonce",
    ]  # fmt: skip
    assert isinstance(compiled.batch_runner, CompiledEngine)
    assert compiled.batch_runner.fallbacks == 0


@pytest.mark.parametrize("portfolio", [False, True])
def test_a_liquidation_cascade_agrees(monkeypatch: pytest.MonkeyPatch, portfolio: bool) -> None:
    """The crash scenario (a market built by trades, a -30 % move, liquidations, backstops
    and deleveraging planned against dry runs) on the compiled engine: the same report."""
    config = CrashConfig(seed=5, traders=80, portfolio_margin=portfolio)
    want = run_crash(config).as_dict()
    monkeypatch.setattr(crash, "ClearingMachine", partial(ClearingMachine, engine="compiled"))
    got = run_crash(config).as_dict()
    for timing in ("seconds", "tps"):
        want.pop(timing, None), got.pop(timing, None)
    assert got == want
    assert want["liquidations"] > 0


def test_fills_whose_counters_and_sizes_leave_int64_agree() -> None:
    """Fills of about 2^62 raw contracts: an order's filled size, the block's open-interest
    delta and a bankrupt account's deficit pass 2^63 - 1. The kernels must hand exactly
    those transactions to the handlers (Python integers), and agree on everything else."""
    ex = _market()
    lot = PERP.lot_size
    size = MAX_ABS_RAW // lot * lot
    half = size // 2 // lot * lot
    price = PERP.tick_size
    setup: dict[tuple[str, ...], object] = {}
    for buyer, seller in (("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")):
        for account, is_buy in ((buyer, True), (seller, False)):
            filled = 2**63 - 1 - half // 2 if account == "a" else 0
            setup[k.collateral(account)] = MAX_BALANCE
            setup[k.order(account, 100)] = OpenOrder(
                instrument=PERP.name, is_buy=is_buy, kind="limit", price=price,
                remaining=size, filled=filled, reserved=0,
            )  # fmt: skip
            setup[k.open_orders(account)] = (100,)
    setup[k.collateral("broke")] = -(2**63)
    setup[k.bankruptcy("broke")] = Bankruptcy(height=1, deficit=2**63)
    ex.state.apply(setup)
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()

    def fill(taker: str, maker: str, amount: int) -> SettleFill:
        return SettleFill(
            sender="oracle", nonce=0, instrument=PERP.name, taker=taker, taker_order=100,
            maker=maker, maker_order=100, price=price, size=amount,
        )  # fmt: skip

    txs: list[Transaction] = [
        fill("a", "b", half),  # a's filled size passes 2^63 - 1
        fill("c", "d", size),
        fill("e", "f", size),
        fill("g", "h", size),  # the block's open-interest delta passes 2^63 - 1
        PlaceOrder(
            sender="broke", nonce=0, instrument=PERP.name, side=Side.BUY, price=price, size=lot
        ),
        Withdraw(sender="broke", nonce=1, amount=1),
    ]
    block = Block(ex.height + 1, ex.time + 60, tuple(txs))
    want = SequentialExecutor(ex.machine).execute(ex.state, block)
    got = SequentialExecutor(compiled).execute(replica, block)
    _same(got, want, block)
    assert _mirrored(compiled, replica)
    assert [receipt.ok for receipt in got.receipts] == [True, True, True, True, False, False]
    assert dict(got.receipts[4].error.details)["deficit"] == 2**63  # type: ignore[union-attr]
    assert isinstance(compiled.batch_runner, CompiledEngine)
    assert compiled.batch_runner.fallbacks == 4  # both fills past int64, both of broke's


def test_a_block_failing_mostly_the_same_way_agrees() -> None:
    """Full contention: two accounts place past their open-order limit, with stale nonces,
    cancels of orders they never had and reduce-only orders without a position between. The
    kernels' receipts build each distinct error once per batch (``glue.receipts_of``); they
    must still equal the handlers' one by one, the repeated ones and the others."""
    ex = _market()
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    price, lot = 50_000 * 10**6, PERP.lot_size
    txs: list[Transaction] = []
    for number in range(MAX_OPEN_ORDERS + 40):
        for account in ("trader1", "trader2"):
            side = Side.BUY if number % 2 else Side.SELL
            tick = price + (number % 7) * PERP.tick_size
            order = {"instrument": PERP.name, "side": side, "price": tick, "size": lot}
            txs.append(ex.tx(PlaceOrder, account, **order))
            if number % 25 == 0:
                txs.append(PlaceOrder(sender=account, nonce=number // 25, **order))  # stale
                txs.append(ex.tx(CancelOrder, account, instrument=PERP.name, order=10**6))
                txs.append(ex.tx(PlaceOrder, account, **order, reduce_only=True))
    block = Block(ex.height + 1, ex.time + 60, tuple(txs))
    want = SequentialExecutor(ex.machine).execute(ex.state, block)
    got = SequentialExecutor(compiled).execute(replica, block)
    _same(got, want, block)
    codes = Counter(receipt.error.code for receipt in got.receipts if receipt.error)
    assert codes["TooManyOrders"] >= 2 * 40
    assert codes["InvalidNonce"] and codes["UnknownOrder"] and codes["ReduceOnlyWouldIncrease"]


def test_blocks_of_reference_transactions_alone_leave_the_tables_until_kernels_run() -> None:
    # Blocks of oracle updates alone (as the parallel executor's coordinator runs between
    # spread blocks), and blocks run one transaction at a time that open with them (as the
    # node's builder runs them): the engine runs the updates on the handlers without its
    # tables, which catch up at the next batch for the kernels.
    workload = Workload(WorkloadConfig(seed=3, accounts=200, txs_per_block=80))
    reference = ClearingMachine(workload.model)
    compiled = ClearingMachine(workload.model, engine="compiled")
    want_state, got_state = workload.genesis(), workload.genesis()
    engine = compiled.batch_runner
    assert isinstance(engine, CompiledEngine)
    setup = workload.setup_block()
    execute_block(want_state, setup, reference)
    execute_block(got_state, setup, compiled)
    for number in range(6):
        whole = workload.next_block(want_state.copy())
        assert {type(tx) for tx in whole.txs[:2]} == {OracleUpdate}
        for txs in [whole.txs[:2], whole.txs[2:]] if number % 2 else [whole.txs]:
            block = Block(height=want_state.version + 1, time=whole.time, txs=txs)
            want = execute_block(want_state, block, reference)
            before = engine.timings.reference
            if number % 2:
                got = execute_block(got_state, block, compiled)
                if len(txs) == 2:  # the updates ran beside the tables
                    assert engine.timings.reference == before
            else:
                run = BlockRun(got_state.data, compiled, block.context)
                for at, tx in enumerate(block.txs):
                    run.run(tx)
                    if at == 1:
                        assert engine.timings.reference == before
                got = run.finish(got_state)
            _same(got, want, block)
    assert got_state.data == want_state.data
    assert engine.loads == 1


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    portfolio=st.booleans(),
    moves=st.lists(st.sampled_from([-25, -8, 0, 6, 30]), min_size=1, max_size=3),
)
def test_margin_memos_follow_positions_and_marks_that_move_mid_block(
    seed: int, portfolio: bool, moves: list[int]
) -> None:
    """Trades between a few accounts in every instrument (each account's margin check sums
    many positions: the kernels keep those sums per account, ``kernels.margin.memo``), with
    oracle updates moving the index between them in the same block (the marks every memo was
    summed at change) and withdrawals that test equity; the same receipts, writes and root
    as the reference, both margin models."""
    rng = random.Random(seed)
    model: MarginModel | None = PortfolioMargin() if portfolio else None
    ex = _market(model)
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    instruments = (PERP, CALL, PUT, OTM_CALL)
    index = 60_000
    for move in moves:
        txs: list[Transaction] = []
        for _ in range(40):
            taker, maker = rng.sample(ACCOUNTS, 2)
            instrument = rng.choice(instruments)
            price = ex.mark(instrument).price // instrument.tick_size * instrument.tick_size
            txs.append(
                ex.tx(Trade, taker, maker=maker, instrument=instrument.name,
                      side=rng.choice(list(Side)), price=max(price, instrument.tick_size),
                      size=instrument.lot_size * rng.randint(1, 40))
            )  # fmt: skip
            if rng.random() < 0.1:
                txs.append(ex.tx(Withdraw, rng.choice(ACCOUNTS), amount=rng.randint(1, 10**11)))
        index = index * (100 + move) // 100
        txs.insert(20, ex.tx(OracleUpdate, "oracle", underlying="BTC",
                             index_price=usd(index), atm_vol_ppm=600_000))  # fmt: skip
        block = Block(ex.height + 1, ex.time + 60, tuple(txs))
        ex.height, ex.time = block.height, block.time
        want = execute_block(ex.state, block, ex.machine)
        got = execute_block(replica, block, compiled)
        _same(got, want, block)
        _mirrored(compiled, replica)  # False after a block with nothing for the kernels
    assert isinstance(compiled.batch_runner, CompiledEngine)
    assert compiled.batch_runner.timings.kernel_txs > 0


@pytest.mark.parametrize("portfolio", [False, True])
def test_margin_memos_near_int64_agree(portfolio: bool) -> None:
    """Accounts that hold perpetual and short option positions whose initial requirements
    are a few 1e18 micro-USDC each (set in state: trades could not open them), at the most
    collateral an account may hold. Their first check makes the memo; the trades after it
    swap in terms and sums past int64 (a term, a sum of the memo less and plus one
    position, equity), which must hand the check to the walk and then the transaction to
    the reference, never wrap; others reduce the positions and fit. Also trades near the
    largest sizes and prices a transaction may carry. The reference's receipts, writes and
    root."""
    model: MarginModel | None = PortfolioMargin() if portfolio else None
    ex = _market(model)
    perp_mark = ex.mark(PERP).price

    def lots(instrument: Instrument, raw: int) -> int:
        return raw // instrument.lot_size * instrument.lot_size

    # A perpetual's notional is at most int64 (its quote holds it); a short option's
    # initial requirement (~9e3 micro-USDC a raw unit here) has no such bound.
    holdings = {
        "deep": {PERP: lots(PERP, 10**14), CALL: -lots(CALL, 6 * 10**14)},
        "wide": {PERP: lots(PERP, 5 * 10**13), CALL: -lots(CALL, 4 * 10**14)},
        "short": {CALL: -lots(CALL, 5 * 10**14), PUT: -lots(PUT, 5 * 10**14)},
    }

    # Long puts worth nearly int64 (a value term that fits): with the most collateral,
    # equity passes int64 (``rich``); with a little, equity fits, and a put bought on top
    # at the lowest price takes the position's value past it (``near``).
    def worth(value: int) -> int:
        return lots(PUT, value * SIZE_SCALE // ex.mark(PUT).price)

    holdings["rich"] = {PUT: worth(2**63 - 1 - 3 * 10**15)}
    holdings["near"] = {PUT: worth(2**63 - 1 - 2 * 10**16)}
    collateral = dict.fromkeys(holdings, MAX_BALANCE) | {"near": 10**16}
    setup: dict[tuple[str, ...], object] = {}
    for account, held in holdings.items():
        setup[k.collateral(account)] = collateral[account]
        for instrument, size in held.items():
            quote = -(size * perp_mark // SIZE_SCALE) if instrument is PERP else 0
            setup[k.position(account, instrument.name)] = Position(size, quote, 0)
        setup[k.portfolio(account)] = tuple(sorted(i.name for i in held))
        setup[k.collateral(f"{account}-street")] = MAX_BALANCE  # its own counterparty
    ex.state.apply(setup)
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    replica = ex.state.copy()
    nonces = dict.fromkeys([*holdings, *(f"{account}-street" for account in holdings)], 0)
    txs: list[Transaction] = []
    for account in holdings:
        for instrument in (PERP, CALL, PUT):
            lot, tick = instrument.lot_size, instrument.tick_size
            mark = max(ex.mark(instrument).price // tick * tick, tick)
            worth_6e15 = lots(instrument, 6 * 10**15 * SIZE_SCALE // mark)
            sizes = [lot, worth_6e15, *(lots(instrument, n * 10**14) for n in (1, 3, 6))]
            sizes.append(lots(instrument, MAX_ABS_RAW))
            street = f"{account}-street"
            for size, price, side in product(sizes, (mark, tick), Side):
                for taker, maker in ((account, street), (street, account)):
                    txs.append(
                        Trade(sender=taker, nonce=nonces[taker], maker=maker,
                              instrument=instrument.name, side=side, price=price, size=size)
                    )  # fmt: skip
                    nonces[taker] += 1
    block = Block(ex.height + 1, ex.time + 60, tuple(txs))
    want = execute_block(ex.state, block, ex.machine)
    got = execute_block(replica, block, compiled)
    _same(got, want, block)
    codes = {receipt.error.code if receipt.error else "ok" for receipt in want.receipts}
    assert {"ok", "InsufficientMargin"} <= codes
    assert isinstance(compiled.batch_runner, CompiledEngine)
    assert compiled.batch_runner.timings.kernel_txs > 0


@pytest.mark.parametrize("portfolio", [False, True])
def test_a_position_a_handler_moves_mid_block_is_seen_by_the_next_margin_check(
    portfolio: bool,
) -> None:
    """alice's trade (the kernels check her margin: her memo made; it fails), her
    liquidation (a reference handler moves her position: the memo must go stale) and the
    same trade again (the kernels check her margin again, against half the position) in
    one block: the reference's receipts and root."""
    model: MarginModel | None = PortfolioMargin() if portfolio else None
    funds, crash = (20_000, 48_000) if portfolio else (2_000, 58_500)  # then liquidatable
    ex = Exchange(model).market().fund(alice=funds, bob=1_000_000, liq=1_000_000)
    one = ONE
    ex.trade("alice", "bob", PERP, Side.BUY, one, usd(60_000))
    ex.oracle(crash)
    replica = ex.state.copy()
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    more = {"maker": "bob", "instrument": PERP.name, "side": Side.BUY, "size": PERP.lot_size}
    block = Block(ex.height + 1, ex.time + 60, (
        ex.tx(Trade, "alice", price=usd(58_500), **more),
        ex.tx(Liquidate, "liq", account="alice", instrument=PERP.name, size=one // 2),
        ex.tx(Trade, "alice", price=usd(58_500), **more),
    ))  # fmt: skip
    want = execute_block(ex.state, block, ex.machine)
    got = execute_block(replica, block, compiled)
    first, liquidated, _ = want.receipts
    assert first.error is not None and first.error.code == "InsufficientMargin"
    assert liquidated.ok, liquidated
    _same(got, want, block)
