"""The blocks ``bench exec`` measures, one source per mix.

* ``trades``: the seeded workload's blocks of ``Trade`` transactions (a maker and a taker
  agreed off-chain; one margin check each).
* ``orders``: the node's order flow. ``sim.order_flow`` makes placements, amends and
  cancels at the accounts; the node's ``BlockBuilder`` dry-runs them, matches them in its
  books (``SerialMatcher``) and adds the ``SettleFill`` of every match and the
  ``CloseOrder`` of every order the books left with less open. The built block is what is
  measured.

Both start from the workload's genesis and setup block (the option chain and perpetuals
listed, marks published, every account funded). A source makes each block from the state
after the previous one; the caller executes it there before asking for the next.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Final, Protocol

from paraclear.bench import Margin, Mix
from paraclear.chain.builder import BlockBuilder, Built
from paraclear.clearing import ClearingMachine, Engine
from paraclear.clearing.kernels.timings import EngineTimings, engine_timings
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block
from paraclear.market import SerialMatcher
from paraclear.sim.order_flow import OrderFlow
from paraclear.sim.workload import ORACLE, Workload, WorkloadConfig
from paraclear.state import State, StateView

FIRST_GROWTH: Final = 1.4
"""First guess of built transactions per order transaction (fills and closes added)."""


class BlockSource(Protocol):
    """Blocks of one mix: ``setup_block`` first, then ``next_block`` on the state after it."""

    workload: Workload

    def setup_block(self) -> Block[Transaction]: ...

    def next_block(self, state: State) -> Block[Transaction]: ...


class TradeBlocks:
    """Blocks of ``txs`` trades over ``accounts`` accounts."""

    def __init__(self, accounts: int, txs: int, seed: int = 1, margin: Margin = "standard") -> None:
        self.workload = Workload(_config(accounts, txs, seed, margin))

    def setup_block(self) -> Block[Transaction]:
        return self.workload.setup_block()

    def next_block(self, state: State) -> Block[Transaction]:
        return self.workload.next_block(state)


class OrderBlocks:
    """Blocks of about ``txs`` transactions built by the node's builder from random order
    flow at ``accounts`` accounts, its dry run on ``engine``, its orders good for
    ``quote_life`` blocks (0: until cancelled or filled; ``OrderFlow``). ``built`` is the
    last build (its dry run's receipts are what every executor must return).

    As in the node, each dry run is committed to the builder's own state (``state``, a copy
    of the state the first block is built on), so the compiled engine keeps its tables from
    one dry run to the next."""

    def __init__(
        self,
        accounts: int,
        txs: int,
        seed: int = 1,
        engine: Engine = "compiled",
        margin: Margin = "standard",
        quote_life: int = 0,
    ) -> None:
        self.workload = Workload(_config(accounts, txs, seed, margin))
        self.txs = txs
        machine = ClearingMachine(self.workload.model, engine=engine)
        self.builder = BlockBuilder(machine, SerialMatcher(), operator=ORACLE)
        self.state: State | None = None
        self.root = b""
        """The state root after the last dry run was committed."""
        self.flow = OrderFlow(
            random.Random(self.workload.rng.getrandbits(64)),
            self.workload.accounts,
            self.workload.instruments,
            self.workload.nonces,
            quote_life=quote_life,
        )
        self.growth = FIRST_GROWTH
        self.deferred: list[Transaction] = []
        self.built: Built | None = None
        self.build_seconds = 0.0
        """Wall time of the last build: making the flow, dry run, matching."""
        self.dry_run: EngineTimings | None = None
        """Where the last dry run's time went (its seconds: ``built.run_seconds``); None
        for the reference engine."""

    def setup_block(self) -> Block[Transaction]:
        return self.workload.setup_block()

    def next_block(self, state: State) -> Block[Transaction]:
        """Build the next block on ``state`` (not modified: execute the block on it next;
        the builder's own state is a copy of the first ``state`` it is given)."""
        if self.state is None:
            self.state = state.copy()
        timings = engine_timings(self.builder.machine)
        before = timings.copy() if timings is not None else None
        started = time.perf_counter()
        height = self.workload.height
        self.workload.height += 1
        count = max(1, round(self.txs / self.growth) - len(self.deferred))
        orders = self.deferred + self.flow.batch(StateView(self.state.data), count, height)
        built = self.builder.build(self.state, height, self.workload.time + height, orders)
        self.growth = len(built.block.txs) / max(1, len(orders) - len(built.deferred))
        self.deferred, self.built = built.deferred, built
        self.build_seconds = time.perf_counter() - started
        if timings is not None and before is not None:
            self.dry_run = timings.since(before)
        self.root = built.run.finish(self.state).state_root
        return built.block


def make_source(
    mix: Mix,
    accounts: int,
    txs: int,
    builder: Engine = "compiled",
    margin: Margin = "standard",
    quote_life: int = 0,
) -> TradeBlocks | OrderBlocks:
    """The block source of ``mix`` (``builder``: the engine of the order flow's dry run;
    ``margin``: the accounts' margin model; ``quote_life``: blocks the order flow's orders
    are good for, 0 until cancelled or filled)."""
    if mix == "orders":
        return OrderBlocks(accounts, txs, engine=builder, margin=margin, quote_life=quote_life)
    return TradeBlocks(accounts, txs, margin=margin)


def _config(accounts: int, txs: int, seed: int, margin: Margin) -> WorkloadConfig:
    return WorkloadConfig(
        seed=seed,
        accounts=accounts,
        txs_per_block=txs,
        mix={"trade": 1},
        portfolio_margin=margin == "portfolio",
    )


def composition(block: Block[Transaction]) -> dict[str, int]:
    """Transactions of ``block`` by type name, most first."""
    return dict(Counter(type(tx).__name__ for tx in block.txs).most_common())
