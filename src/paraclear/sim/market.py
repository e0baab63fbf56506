"""The agent market: a node in-process and agents trading through its WebSocket API.

``run_market`` starts a ``NodeApp`` on a fresh data directory, lists BTC-PERP and two
expiries of BTC options through the API, funds every agent, and runs one tick per simulated
minute:

1. the clock moves one minute (the node's block time is the simulated clock);
2. the oracle agent publishes the index, smile, surface and impact prices (one block);
3. every agent acts concurrently (``asyncio.gather``): it reads through the API and fires
   its signed orders without waiting for them;
4. the driver waits until the node has checked every submission, makes the block (again
   while the builder deferred something), and the agents collect their answers.

Reproducible: each agent decides with its own seeded ``random.Random`` from what it reads,
and reads see only committed blocks, which change only when the driver makes one. The node
orders equal-fee transactions by (sender, nonce) (``NodeConfig.tie_break="sender"``), so a
block depends on which transactions were sent, not on which reached the socket first: the
same config gives the same blocks and root. The driver reads the node in-process only to
record the tick (insurance fund, fills, the makers' Greeks); agents act only through the
client.

Roles of ``MarketConfig.accounts``: a market maker per 25 accounts (at least 2), a
liquidator per 100 (at least 1), a fifth vol traders, the rest directional traders.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time as wallclock
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from paraclear.api.app import NodeApp
from paraclear.chain.core import BlockReport, Node, NodeConfig
from paraclear.clearing.events import Deleveraged, InsuranceCovered, Liquidated, OrderFilled
from paraclear.clearing.instruments import (
    EXPIRY_HOUR_UTC,
    Option,
    Perpetual,
    Right,
    expiry_time,
    format_expiry,
    parse_instrument,
)
from paraclear.clearing.records import Position
from paraclear.clearing.transactions import Backstop, ListInstrument
from paraclear.client.envelope import Keypair
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE, USDC_SCALE
from paraclear.sim.agents.base import UNDERLYING, Agent, Market, Outbox
from paraclear.sim.agents.keeper import Liquidator
from paraclear.sim.agents.maker import MarketMaker, book_greeks, regime_vols
from paraclear.sim.agents.oracle import IndexPath, OracleAgent, Scenario, smile
from paraclear.sim.agents.takers import DirectionalTrader, VolTrader, deposit_between
from paraclear.sim.records import Greeks, MarketRun, TickRecord
from paraclear.state import keys as k

log = logging.getLogger(__name__)

START: Final = expiry_time(1, 6, 2026) + 3_600
"""The first block's time: 2026-06-01 09:00 UTC."""
TICK_SECONDS: Final = 60
EXPIRY_DAYS: Final = (11, 25)
"""The options expire at 08:00 UTC this many days after the start's day."""
STRIKES: Final = (44_000, 48_000, 52_000, 56_000, 60_000, 64_000, 68_000, 72_000, 76_000)
SMILE_STRIKES: Final = np.arange(40_000.0, 80_001.0, 2_000.0)
CRASH_TICKS: Final = 3
STALL_SECONDS: Final = 30.0
"""How long the driver waits for any progress of the node's checks before it gives up on
the rest of what the agents sent (never in a sound run)."""
AGENT_SEED_BASE: Final = 10_000
"""Agent n signs with ``Keypair.from_seed_int(AGENT_SEED_BASE + n)``."""


@dataclass(frozen=True)
class MarketConfig:
    """One run of the agent market."""

    data_dir: Path
    seed: int = 1
    accounts: int = 200
    """Agent accounts in total, split among the roles (see the module docstring)."""
    minutes: int = 120
    """Ticks; one tick is one simulated minute."""
    crash_at: float = 0.6
    """Fraction of the run at which the crash starts."""
    tick_seconds: float = 0.0
    """Wall seconds each tick lasts at least: 0 runs as fast as it can; a live market that
    a person watches (``paraclear serve --market``) takes about 1."""
    stopping: Callable[[], bool] | None = None
    """Checked between ticks: the run ends early once it returns True."""

    @property
    def crash_tick(self) -> int:
        return min(int(self.minutes * self.crash_at), max(self.minutes - 1, 0))


def expiries(start: int) -> tuple[int, ...]:
    """The options' expiries for a market starting at ``start`` (``EXPIRY_DAYS``)."""
    day = start - start % 86_400
    return tuple(day + days * 86_400 + EXPIRY_HOUR_UTC * 3_600 for days in EXPIRY_DAYS)


EXPIRIES: Final = expiries(START)
"""12 and 26 June 2026."""


def listed_market(start: int = START) -> Market:
    """BTC-PERP and calls and puts of ``STRIKES`` for each expiry of ``expiries(start)``."""
    dates = expiries(start)
    options = tuple(
        Option(UNDERLYING, expiry, strike * PRICE_SCALE, right)
        for expiry in dates
        for strike in STRIKES
        for right in (Right.CALL, Right.PUT)
    )
    return Market(Perpetual(UNDERLYING), options, dates)


class SimClock:
    """The simulated clock the node takes block times from."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


def make_agents(config: MarketConfig) -> list[Agent]:
    """Every agent of the run, seeded from ``config.seed``, in a fixed order."""
    n = config.accounts
    makers = max(2, n // 25)
    keepers = max(1, n // 100)
    vol = n // 5
    directional = max(n - makers - keepers - vol, 0)
    agents: list[Agent] = []

    def keys(i: int) -> tuple[Keypair, random.Random]:
        return Keypair.from_seed_int(AGENT_SEED_BASE + i), random.Random(f"{config.seed}/{i}")

    for _ in range(makers):
        pair, rng = keys(len(agents))
        name = f"maker-{len(agents)}"
        agents.append(MarketMaker(name, pair, rng, 5_000_000 * USDC_SCALE))
    for rank in range(keepers):
        pair, rng = keys(len(agents))
        keeper = Liquidator(f"liquidator-{rank}", pair, rng, 20_000_000 * USDC_SCALE)
        keeper.peers, keeper.rank = keepers, rank
        agents.append(keeper)
    for _ in range(vol):
        pair, rng = keys(len(agents))
        deposit = deposit_between(rng, 50_000, 300_000)
        agents.append(VolTrader(f"vol-{len(agents)}", pair, rng, deposit))
    for _ in range(directional):
        pair, rng = keys(len(agents))
        deposit = deposit_between(rng, 2_000, 50_000)
        agents.append(DirectionalTrader(f"directional-{len(agents)}", pair, rng, deposit))
    return agents


class MarketDriver:
    """Runs the ticks of one market over one node (see the module docstring)."""

    def __init__(
        self,
        config: MarketConfig,
        app: NodeApp,
        clock: SimClock | None,
        progress: Callable[[TickRecord], None] | None,
    ) -> None:
        self.config = config
        self.app = app
        self.node: Node = app.node
        self.clock = clock
        self.progress = progress
        self.outbox = Outbox()
        self.start = clock.now if clock is not None else max(self.node.block_time, _now())
        self.market = listed_market(self.start)
        scenario = Scenario(
            crash_tick=config.crash_tick,
            crash_ticks=CRASH_TICKS,
            dip_tick=config.crash_tick // 2 if config.crash_tick >= 2 else -1,
        )
        path = IndexPath(scenario, random.Random(f"{config.seed}/index"))
        self.oracle = OracleAgent(self.node.operator, path, self.market.expiries)
        self.agents = make_agents(config)
        self.makers = [a.account for a in self.agents if isinstance(a, MarketMaker)]
        self.reports: list[BlockReport] = []
        self.run = MarketRun(config.seed, config.accounts, config.data_dir)
        self.run.crash_tick = config.crash_tick
        self.run.smile_expiry = format_expiry(self.market.expiries[0])
        self.run.names = {agent.account: agent.name for agent in self.agents}
        self.run.names[self.node.operator.account] = "oracle"

    # --- the run -------------------------------------------------------------------------------

    async def execute(self) -> MarketRun:
        self.node.subscribe(self.reports.append)
        try:
            await self.setup()
            for tick in range(self.config.minutes):
                if self.config.stopping is not None and self.config.stopping():
                    break
                started = wallclock.monotonic()
                await self.tick(tick)
                rest = self.config.tick_seconds - (wallclock.monotonic() - started)
                if rest > 0:
                    await asyncio.sleep(rest)
        finally:
            for agent in (self.oracle, *self.agents):
                await agent.close()
        self.run.final_root = self.node.store.last_root.hex()
        self.run.lost = self.outbox.lost
        for agent in (self.oracle, *self.agents):
            if agent is not self.oracle:
                self.run.roles[agent.role] = self.run.roles.get(agent.role, 0) + 1
            errors = self.run.errors.setdefault(agent.role, {})
            for code, count in sorted(agent.stats.errors.items()):
                errors[code] = errors.get(code, 0) + count
        return self.run

    async def setup(self) -> None:
        """List the market and publish the first index (one block), then fund every agent."""
        url, chain = self.app.url, self.node.chain_id
        await self.oracle.connect(url, chain, self.outbox, self.market)
        await self.oracle.begin_tick(force=True)
        for instrument in self.market.instruments:
            self.oracle.send("listing", ListInstrument, instrument=instrument)
        await self.oracle.publish(-1, self._time())
        await self.settle([self.oracle])
        listed = await self.oracle.client.call("public/get_instruments", {"currency": UNDERLYING})
        names = {row["instrument_name"] for row in listed}
        wanted = {i.name for i in self.market.instruments}
        if not wanted <= names:
            raise RuntimeError(f"listing failed: the node lists {sorted(names)}")
        options = (parse_instrument(name) for name in sorted(wanted))
        market = Market(
            self.market.perpetual,
            tuple(o for o in options if isinstance(o, Option)),
            self.market.expiries,
        )
        await asyncio.gather(*(a.connect(url, chain, self.outbox, market) for a in self.agents))
        await asyncio.gather(*(a.begin_tick(force=True) for a in self.agents))
        for agent in self.agents:
            agent.fund()
        await self.settle(self.agents)
        await asyncio.gather(*(agent.authenticate() for agent in self.agents))
        self.reports.clear()

    async def tick(self, tick: int) -> None:
        started = wallclock.perf_counter()
        before = [(a.stats.orders, a.stats.refused) for a in self.agents]
        if self.clock is not None:
            self.clock.now = self.start + TICK_SECONDS * (tick + 1)
        await self.oracle.publish(tick, self._time())
        await self.settle([self.oracle])
        if tick == self.config.crash_tick - 1 or (tick == 0 and self.config.crash_tick == 0):
            self.run.smiles["before"] = smile(
                self.oracle.path.regime, self.oracle.index, SMILE_STRIKES
            )
        await asyncio.gather(*(agent.begin_tick() for agent in self.agents))
        await asyncio.gather(*(agent.act(tick) for agent in self.agents))
        await self.settle(self.agents)
        if tick == self.config.crash_tick + CRASH_TICKS - 1 or (
            tick == self.config.minutes - 1 and "after" not in self.run.smiles
        ):
            self.run.smiles["after"] = smile(
                self.oracle.path.regime, self.oracle.index, SMILE_STRIKES
            )
        record = self.record(tick, before, wallclock.perf_counter() - started)
        self.run.ticks.append(record)
        if self.progress is not None:
            self.progress(record)

    async def settle(self, agents: Sequence[Agent]) -> None:
        """Send what the agents fired, wait until the node has checked all of it, make the
        blocks, and collect the answers."""
        for agent in agents:
            agent.launch()
        if not self.node.producing:
            await self._wait_checked(agents)
            while self.node.produce_block() is not None and len(self.node.mempool):
                pass
        await asyncio.gather(*(agent.collect() for agent in agents))

    async def _wait_checked(self, agents: Sequence[Agent]) -> None:
        """Wait until every request sent has reached the node and been checked.

        Requests the API refuses before the node (an agent's bug) never reach it: they are
        the requests answered before the block less the node's refusals, which it counts
        before it answers them. ``STALL_SECONDS`` without progress is a last resort (the
        driver goes on and counts ``MarketRun.stalls``)."""
        node, outbox = self.node, self.outbox
        refused_before = node.refused  # nothing of this round has left yet
        last, since = (node.checked, 0), wallclock.monotonic()
        while True:
            early = sum(agent.answered() for agent in agents)
            lost = max(early - (node.refused - refused_before), 0)
            if node.checked + outbox.lost + lost >= outbox.sent:
                outbox.lost += lost
                return
            await asyncio.sleep(0.001)
            if (node.checked, early) != last:
                last, since = (node.checked, early), wallclock.monotonic()
            elif wallclock.monotonic() - since > STALL_SECONDS:
                log.warning("the node checked %d of %d submissions", node.checked, outbox.sent)
                self.run.stalls += 1
                outbox.lost = outbox.sent - node.checked
                return

    def _time(self) -> int:
        return self.clock.now if self.clock is not None else max(self.node.block_time, _now())

    # --- recording -------------------------------------------------------------------------------

    def record(self, tick: int, before: list[tuple[int, int]], seconds: float) -> TickRecord:
        reports = list(self.reports)
        self.reports.clear()
        fills = liquidations = backstops = deleverages = failed = txs = covered = 0
        for report in reports:
            txs += len(report.block.txs)
            for tx, receipt in zip(report.block.txs, report.result.receipts, strict=True):
                failed += not receipt.ok
                backstops += receipt.ok and isinstance(tx, Backstop)
                for event in receipt.events:
                    fills += isinstance(event, OrderFilled)
                    liquidations += isinstance(event, Liquidated)
                    deleverages += isinstance(event, Deleveraged)
                    if isinstance(event, InsuranceCovered):
                        covered += event.amount
        orders = sum(a.stats.orders - b[0] for a, b in zip(self.agents, before, strict=True))
        refused = sum(a.stats.refused - b[1] for a, b in zip(self.agents, before, strict=True))
        fund = self.node.state.get(k.INSURANCE_FUND, 0)
        return TickRecord(
            tick=tick,
            time=self.node.block_time,
            index=self.oracle.index,
            atm_vol=self.oracle.path.regime.atm,
            height=self.node.height,
            blocks=len(reports),
            orders=orders,
            refused=refused,
            failed=failed,
            fills=fills,
            liquidations=liquidations,
            backstops=backstops,
            deleverages=deleverages,
            insurance_fund=(fund if isinstance(fund, int) else 0) / USDC_SCALE,
            mm_greeks=self.maker_greeks(),
            seconds=seconds,
            txs=txs,
            covered=covered / USDC_SCALE,
        )

    def maker_greeks(self) -> Greeks:
        """The market makers' books together, read from the node's state (recording only)."""
        held: dict[str, float] = {}
        state = self.node.state
        for account in self.makers:
            names = state.get(k.portfolio(account)) or ()
            for name in names if isinstance(names, tuple) else ():
                position = state.get(k.position(account, name))
                if isinstance(position, Position):
                    held[name] = held.get(name, 0.0) + position.size / SIZE_SCALE
        index = self.oracle.index
        vols = regime_vols(self.market, self.oracle.path.regime, index)
        return book_greeks(self.market, vols, index, self.node.block_time, held)


def _now() -> int:
    return int(wallclock.time())


def run_market(
    config: MarketConfig,
    *,
    progress: Callable[[TickRecord], None] | None = None,
    app: NodeApp | None = None,
) -> MarketRun:
    """Run the agent market described by ``config`` and return what it recorded.

    Without ``app`` it starts a node on ``config.data_dir`` (which must be empty or missing)
    with the simulated clock and manual block production, and stops it at the end. With
    ``app`` (started by the caller) it drives that node: blocks come from the caller's
    producer if it runs one, and the run is then not reproducible.
    """
    started = wallclock.perf_counter()
    owned = app is None
    clock: SimClock | None = None
    if app is None:
        data_dir = Path(config.data_dir)
        if data_dir.exists() and any(data_dir.iterdir()):
            raise ValueError(f"the agent market needs a fresh data directory: {data_dir}")
        data_dir.mkdir(parents=True, exist_ok=True)
        clock = SimClock(START)
        node_config = NodeConfig(data_dir=data_dir, tie_break="sender", genesis_time=START)
        app = NodeApp(node_config, clock=clock)
        app.start(produce=False)
    try:
        run = asyncio.run(MarketDriver(config, app, clock, progress).execute())
    finally:
        if owned:
            app.stop()
    run.data_dir = app.node.config.data_dir
    run.wall_seconds = wallclock.perf_counter() - started
    return run
