"""The crash scenario: a leveraged market, a small dip, then −30 % in one block with a vol spike.

Set-up (all seeded): BTC-PERP and BTC puts and calls; accounts in four roles:

* leveraged longs (half the traders), 2× to 45× long the perpetual;
* shorts (a fifth), the longs' counterparties at low leverage: the profitable side after a
  crash, and so the auto-deleveraging queue;
* put sellers and put buyers (the rest), short and long out-of-the-money puts.

Then: a −1.5 % dip (the most leveraged longs are liquidated with equity left, and their
penalties seed the insurance fund); the crash, −30 % and volatility from 60 % to 150 %, in
one oracle block. After every oracle update the liquidation engine scans all accounts and
its transactions open the next block; liquidation sell pressure depresses the perpetual's
impact prices in the next oracle update (makers pull bids from the perpetual's book, whose
impact prices ``paraclear.sim.impact`` measures; the mark falls up to 1 % below the index)
and the index itself, which liquidates more: a cascade, until the scan comes back empty.
Every invariant is checked after every block.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import msgspec

from paraclear.clearing import ClearingMachine
from paraclear.clearing.accounts import equity, holdings
from paraclear.clearing.events import Deleveraged, InsuranceCovered, Liquidated
from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.instruments import Option, Perpetual, Right, expiry_time
from paraclear.clearing.invariants import check_invariants
from paraclear.clearing.margin import MarginModel, PortfolioMargin, StandardMargin
from paraclear.clearing.perpetuals import IMPACT_NOTIONAL
from paraclear.clearing.records import Bankruptcy, HouseConfig
from paraclear.clearing.transactions import (
    Deposit,
    ListInstrument,
    OracleUpdate,
    Side,
    Trade,
    Transaction,
)
from paraclear.execution import (
    Block,
    BlockContext,
    BlockResult,
    ParallelExecutor,
    SequentialExecutor,
)
from paraclear.market import OrderBook, OrderKind
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE, USDC_SCALE
from paraclear.sim.crash_report import CrashConfig as CrashConfig
from paraclear.sim.crash_report import CrashReport as CrashReport
from paraclear.sim.impact import impact_prices
from paraclear.sim.liquidator import LiquidationEngine
from paraclear.state import State, StateView
from paraclear.state import keys as k
from paraclear.state.keys import account_of

ADMIN, ORACLE = "admin", "oracle"
LIQUIDATORS = ("liquidator-0", "liquidator-1")
START = expiry_time(1, 6, 2026) + 3_600
EXPIRY = expiry_time(26, 6, 2026)
INDEX = 60_000
PERP = Perpetual(underlying="BTC")
PUTS = tuple(
    Option(underlying="BTC", expiry=EXPIRY, strike=s * PRICE_SCALE, right=Right.PUT)
    for s in (50_000, 55_000)
)
CALL = Option(underlying="BTC", expiry=EXPIRY, strike=70_000 * PRICE_SCALE, right=Right.CALL)
LADDER_LEVELS = 100
LADDER_STEP_PPM = 500
LEVEL_NOTIONAL = 400_000 * USDC_SCALE
"""The perpetual's market makers quote 100 levels a side, 0.05 % apart, 400,000 USDC each,
around the index; after a block of liquidations they pull bids worth what was sold."""
SPOT_DEPTH = 2_000_000_000 * USDC_SCALE
"""Liquidation flow that moves the index by 100 % once the crash has started (1 % per 20
million USDC sold, at most 1 % a block): liquidators hedge on spot markets."""


class CrashScenario:
    """Builds the market and runs the crash; ``run`` returns the report."""

    def __init__(self, config: CrashConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.machine = ClearingMachine(margin_model(config))
        self.executor: SequentialExecutor[Transaction] | ParallelExecutor[Transaction] = (
            ParallelExecutor(self.machine, config.workers, config.backend, spread=config.spread)
            if config.executor == "parallel"
            else SequentialExecutor(self.machine)
        )
        self.engine = LiquidationEngine(self.machine, LIQUIDATORS, max_steps=3)
        self.state: State = _genesis(config)
        self.skew_ppm = config.skew_before_ppm
        self.nonces: Counter[str] = Counter()
        self.height = 0
        self.time = START
        self.report = CrashReport(config)
        self.crashed = False
        self.setup_deposits: list[Transaction] = []

    def run(self) -> CrashReport:
        try:
            return self._run()
        finally:
            if isinstance(self.executor, ParallelExecutor):
                self.executor.close()

    def _run(self) -> CrashReport:
        self.setup_market()
        index = INDEX * (1_000_000 - self.config.dip_ppm) // 1_000_000
        self.publish_index(index, self.config.vol_before_ppm)
        self._liquidate_until_calm(index, self.config.vol_before_ppm, impact=False)
        self.report.fund_before_crash = self.report.fund_min = self._fund()
        self.crashed = True
        self._crash()
        self._finish()
        return self.report

    def _crash(self) -> None:
        """The crash in ``crash_blocks`` equal steps of the index, the volatility and the
        skew, each followed by liquidation until calm (whose sales move the index further)."""
        config, steps = self.config, self.config.crash_blocks
        index, level = INDEX, 1_000_000
        for step in range(1, steps + 1):
            after = 1_000_000 - config.crash_ppm * step // steps
            index, level = index * after // level, after
            vol = _between(config.vol_before_ppm, config.vol_after_ppm, step, steps)
            self.skew_ppm = _between(config.skew_before_ppm, config.skew_after_ppm, step, steps)
            self.publish_index(index, vol)
            self.report.cascade_blocks += self._liquidate_until_calm(index, vol, impact=True)
            index = self.report.final_index

    # --- phases ---------------------------------------------------------------------------

    def setup_market(self) -> None:
        perp = msgspec.structs.replace(
            PERP,
            initial_margin_ppm=self.config.perp_initial_ppm,
            maintenance_margin_ppm=self.config.perp_maintenance_ppm,
        )
        self._block([self._tx(ListInstrument, ADMIN, instrument=i) for i in (perp, *PUTS, CALL)])
        self.publish_index(INDEX, self.config.vol_before_ppm)
        deposits, trades = self._positions()
        self.setup_deposits = deposits
        self._block(deposits)
        for start in range(0, len(trades), 500):
            self._block(trades[start : start + 500])

    def _liquidate_until_calm(self, index: int, vol: int, *, impact: bool) -> int:
        """Alternate liquidation blocks and oracle updates until a scan finds nothing. With
        ``impact``, the perpetual sold in each block depresses its impact prices and the
        index in the next oracle update."""
        blocks = 0
        while blocks < self.config.max_blocks:
            txs = self.engine.plan(self.state.data, self.next_context())
            if not txs:
                break
            result = self._block(txs)
            blocks += 1
            sold = sum(
                e.size * e.price // SIZE_SCALE
                for r in result.receipts
                for e in r.events
                if isinstance(e, Liquidated | Deleveraged) and e.instrument == PERP.name
            )
            if not impact:
                sold = 0
            index -= index * min(sold * 1_000_000 // SPOT_DEPTH, 10_000) // 1_000_000
            self.publish_index(index, vol, pressure=sold)
        self.report.final_index = index
        return blocks

    def _finish(self) -> None:
        data = self.state.data
        self.report.fund_final = self._fund()
        self.report.bad_debt = sum(
            v.deficit
            for key, v in data.items()
            if isinstance(v, Bankruptcy) and account_of(key) is not None
        )
        self.report.net_deposits = data.get(k.NET_DEPOSITS, 0)  # type: ignore[assignment]
        self.report.state_root = self.state.root().hex()
        for key, v in data.items():
            account = account_of(key)
            if isinstance(v, Bankruptcy) and account is not None:
                self.report.deficits[account] += v.deficit
        view = StateView(data)
        for tx in self.setup_deposits:
            if isinstance(tx, Deposit) and tx.sender not in LIQUIDATORS:
                held = equity(view.get_int(k.collateral(tx.sender)), holdings(view, tx.sender))
                self.report.losses[tx.sender] = tx.amount - held

    # --- the market -----------------------------------------------------------------------

    def _positions(self) -> tuple[list[Transaction], list[Transaction]]:
        """Deposits and the trades that open every position, at the marks."""
        rng, n = self.rng, self.config.traders
        longs = [f"long-{i:04d}" for i in range(n // 2)]
        shorts = [f"short-{i:04d}" for i in range(max(1, n // 5))]
        option_traders = max(2, n - len(longs) - len(shorts))
        sellers = [f"put-seller-{i:04d}" for i in range(option_traders // 2)]
        buyers = [f"put-buyer-{i:04d}" for i in range(option_traders - len(sellers))]
        deposits: dict[str, int] = {a: 500_000_000 for a in LIQUIDATORS}
        short_notional: Counter[str] = Counter()
        trades: list[tuple[str, str, Perpetual | Option, int]] = []
        for i, account in enumerate(longs):
            deposit = rng.randrange(2_000, 50_000)
            leverage = rng.choice(self.config.leverages)
            lots = deposit * leverage // (INDEX // 1_000)
            deposits[account] = deposit
            short = shorts[i % len(shorts)]
            short_notional[short] += lots * INDEX // 1_000
            trades.append((account, short, PERP, lots * PERP.lot_size))
        for short in shorts:
            deposits[short] = max(short_notional[short] // 3, 10_000)
        marks = {put.name: self._mark(put.name) for put in PUTS}
        for i, seller in enumerate(sellers):
            deposit = rng.randrange(20_000, 200_000)
            put = PUTS[i % len(PUTS)]
            lots = max(1, deposit * 6 // 10 // 7_500 * 10)  # ~60 % of deposit as margin
            deposits[seller] = deposit
            buyer = buyers[i % len(buyers)]
            size = lots * put.lot_size
            premium = marks[put.name] * size // SIZE_SCALE // USDC_SCALE
            deposits[buyer] = deposits.get(buyer, 0) + 2 * premium + 5_000
            trades.append((buyer, seller, put, size))
        funding: list[Transaction] = [
            self._tx(Deposit, a, amount=amount * USDC_SCALE)
            for a, amount in sorted(deposits.items())
        ]
        opening = [
            self._trade(taker, maker, inst, Side.BUY, size) for taker, maker, inst, size in trades
        ]
        return funding, opening

    def _trade(
        self, taker: str, maker: str, inst: Perpetual | Option, side: Side, size: int
    ) -> Transaction:
        price = self._mark(inst.name) // inst.tick_size * inst.tick_size
        return self._tx(
            Trade, taker, maker=maker, instrument=inst.name, side=side, size=size, price=price
        )

    def _mark(self, name: str) -> int:
        return self.state.data[k.mark(name)].price  # type: ignore[attr-defined,no-any-return]

    def publish_index(self, index: int, vol_ppm: int, pressure: int = 0) -> None:
        """An oracle block, with the impact prices of the perpetual's book; ``pressure``
        (micro-USDC of perpetual liquidated in the last block) is the bids makers pull."""
        raw = index * PRICE_SCALE
        bid, ask = impact_prices(self._perpetual_book(raw, pressure), IMPACT_NOTIONAL)
        self._block(
            [
                self._tx(
                    OracleUpdate,
                    ORACLE,
                    underlying="BTC",
                    index_price=raw,
                    atm_vol_ppm=vol_ppm,
                    skew_ppm=self.skew_ppm,
                    impact_bid=bid,
                    impact_ask=ask,
                )
            ]
        )

    def _perpetual_book(self, index: int, pulled: int) -> OrderBook:
        """The makers' ladder around ``index`` (micro-USDC), without the best ``pulled``
        micro-USDC of bids."""
        book = OrderBook(PERP.tick_size, PERP.lot_size, max_open_orders=2 * LADDER_LEVELS)
        tick = PERP.tick_size
        for level in range(1, LADDER_LEVELS + 1):
            offset = index * level * LADDER_STEP_PPM // 1_000_000
            ask, bid = -(-(index + offset) // tick) * tick, (index - offset) // tick * tick
            for price, is_buy in ((ask, False), (bid, True)):
                size = LEVEL_NOTIONAL * SIZE_SCALE // price // PERP.lot_size * PERP.lot_size
                if is_buy and pulled > 0:
                    pulled -= price * size // SIZE_SCALE
                    continue
                book.place(
                    f"{level}{'b' if is_buy else 'a'}",
                    "maker",
                    is_buy,
                    OrderKind.LIMIT,
                    price,
                    size,
                )
        return book

    # --- plumbing -------------------------------------------------------------------------

    def _tx(self, cls: type, sender: str, **fields: object) -> Transaction:
        if sender in LIQUIDATORS and cls is not Deposit:
            raise AssertionError("liquidators' transactions come from the engine")
        nonce = self.nonces[sender]
        self.nonces[sender] += 1
        tx: Transaction = cls(sender=sender, nonce=nonce, **fields)
        return tx

    def next_context(self) -> BlockContext:
        return BlockContext(self.height, self.time + 12)

    def _block(self, txs: list[Transaction]) -> BlockResult:
        self.time += 12
        block = Block(self.height, self.time, tuple(txs))
        self.height += 1
        started = time.perf_counter()
        result = self.executor.execute(self.state, block)
        self.report.seconds += time.perf_counter() - started
        self.report.blocks += 1
        self.report.txs += len(txs)
        self._record(result)
        self.report.violations += [
            f"block {block.height}: {v}" for v in check_invariants(self.state)
        ]
        return result

    def _record(self, result: BlockResult) -> None:
        report = self.report
        for receipt in result.receipts:
            if receipt.error is not None:
                report.failed[receipt.error.code] += 1
            for event in receipt.events:
                report.events[type(event).__name__] += 1
                if isinstance(event, Liquidated):
                    report.liquidated_accounts.add(event.account)
                    report.penalties += event.penalty
                elif isinstance(event, Deleveraged):
                    report.deleveraged_accounts.add(event.account)
                    report.deleveraged_loss += event.loss
                    report.adl_volume += event.size * event.price // SIZE_SCALE
                    report.deficits[event.account] += event.loss
                elif isinstance(event, InsuranceCovered):
                    report.covered += event.amount
                    report.deficits[event.account] += event.amount
        if self.crashed:
            report.fund_min = min(report.fund_min, self._fund())

    def _fund(self) -> int:
        return self.state.data.get(k.INSURANCE_FUND, 0)  # type: ignore[return-value]


def run_crash(config: CrashConfig) -> CrashReport:
    """Run the crash scenario described by ``config``."""
    return CrashScenario(config).run()


def margin_model(config: CrashConfig) -> MarginModel:
    """The margin model ``config`` names, with its parameters."""
    if config.portfolio_margin:
        return PortfolioMargin()
    return StandardMargin(short_option_maintenance_ppm=config.option_maintenance_ppm)


def _genesis(config: CrashConfig) -> State:
    """The house, with ``config.insurance_fund`` in its fund (counted as deposited)."""
    house = HouseConfig(
        admin=ADMIN, oracle=ORACLE, liquidation_penalty_ppm=config.liquidation_penalty_ppm
    )
    state = genesis_state(house)
    if not config.insurance_fund:
        return state
    fund = config.insurance_fund
    return State({**state.data, k.INSURANCE_FUND: fund, k.NET_DEPOSITS: fund})


def _between(start: int, end: int, step: int, steps: int) -> int:
    """The value ``step`` of ``steps`` of the way from ``start`` to ``end``."""
    return start + (end - start) * step // steps
