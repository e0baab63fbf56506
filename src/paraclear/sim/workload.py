"""A seeded generator of clearing blocks: an option chain and perpetuals on BTC and ETH, funded
accounts, and blocks of mixed transactions whose contention is set by the number of accounts
and the share of trades that involve a few hot accounts.

The generator reads state between blocks, as a block producer reads its indexes: to find
accounts under maintenance margin (it sends liquidations for them) and the holders of an
expired series (it settles them). Everything it does follows from its seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from paraclear.clearing import accounts as acc
from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.instruments import Instrument, Option, Perpetual, Right, expiry_time
from paraclear.clearing.liquidation import liquidation_order, step_limit
from paraclear.clearing.margin import MarginModel, PortfolioMargin, StandardMargin
from paraclear.clearing.perpetuals import FUNDING_INTERVAL
from paraclear.clearing.records import HouseConfig, SviSlice
from paraclear.clearing.transactions import (
    Deposit,
    Funding,
    Liquidate,
    ListInstrument,
    OracleUpdate,
    SettleExpiry,
    Side,
    Trade,
    Transaction,
    Transfer,
    Withdraw,
)
from paraclear.execution import Block
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE, USDC_SCALE
from paraclear.sim.pool_flow import PoolFlow, svi_surface
from paraclear.sim.prices import PricePath
from paraclear.state import State, StateView
from paraclear.state import keys as k
from paraclear.state.keys import position_of

ADMIN = "admin"
ORACLE = "oracle"
LIQUIDATORS = ("liquidator-0", "liquidator-1")
UNDERLYINGS = {"BTC": (60_000.0, 0.60, 5_000), "ETH": (3_000.0, 0.75, 250)}
"""Underlying: (start index, annual vol, strike step)."""
START_TIME = expiry_time(1, 6, 2026) - 15 * 60
"""07:45 UTC on 1 June 2026: the first expiry comes 15 minutes into the run."""
EXPIRY_DAYS = ((1, 6), (5, 6), (26, 6))
SKEW = -0.1
"""Slope of the oracle's smile: vol per unit of log-moneyness."""


@dataclass
class WorkloadConfig:
    """What to generate. ``hot_share`` of trades have a hot account as maker."""

    seed: int = 1
    accounts: int = 1_000
    txs_per_block: int = 500
    block_seconds: int = 60
    hot_accounts: int = 2
    hot_share: float = 0.0
    strikes_each_side: int = 2
    portfolio_margin: bool = False
    pool_share: float = 0.0
    """Share of each block's transactions that go to the options pool (``sim.pool_flow``)."""
    mix: dict[str, float] = field(
        default_factory=lambda: {
            "trade": 0.85,
            "deposit": 0.04,
            "withdraw": 0.04,
            "transfer": 0.04,
            "liquidate": 0.03,
        }
    )


class Workload:
    """Generates the genesis state, a setup block, then one block per call of ``next_block``."""

    def __init__(self, config: WorkloadConfig, margin_model: MarginModel | None = None) -> None:
        if config.accounts < 2:
            raise ValueError("a workload needs at least 2 accounts")
        self.config = config
        self.rng = random.Random(config.seed)
        self.model = margin_model or (
            PortfolioMargin() if config.portfolio_margin else StandardMargin()
        )
        self.accounts = [f"acct-{i:05d}" for i in range(config.accounts)]
        self.hot = self.accounts[: max(1, min(config.hot_accounts, config.accounts))]
        self.height = 0
        self.time = START_TIME
        self.funded_at = START_TIME
        self.nonces: dict[str, int] = {}
        step_years = config.block_seconds / (365 * 86_400)
        self.paths = {
            u: PricePath(spot, vol, step_years, random.Random(self.rng.getrandbits(64)))
            for u, (spot, vol, _) in UNDERLYINGS.items()
        }
        self.instruments: list[Instrument] = self._chain()
        self.pool = (
            PoolFlow(self.rng, self._nonce, self.accounts, LIQUIDATORS)
            if config.pool_share > 0
            else None
        )

    def genesis(self) -> State:
        return genesis_state(HouseConfig(admin=ADMIN, oracle=ORACLE))

    def setup_block(self) -> Block[Transaction]:
        """List the chain, publish the first oracle data, and fund every account."""
        txs: list[Transaction] = [
            ListInstrument(sender=ADMIN, nonce=self._nonce(ADMIN), instrument=inst)
            for inst in self.instruments
        ]
        txs += self._oracle_updates()
        for account in [*self.accounts, *LIQUIDATORS]:
            amount = self.rng.randrange(20_000, 500_000) * USDC_SCALE
            if account in LIQUIDATORS or account in self.hot:
                amount = 50_000_000 * USDC_SCALE
            txs.append(Deposit(sender=account, nonce=self._nonce(account), amount=amount))
        if self.pool is not None:
            txs += self.pool.setup(ADMIN)
        return self._block(txs)

    def blocks(self, state: State, count: int) -> Iterator[Block[Transaction]]:
        """``count`` blocks; each is generated after the previous one was executed on ``state``."""
        for _ in range(count):
            yield self.next_block(state)

    def next_block(self, state: State) -> Block[Transaction]:
        self.time += self.config.block_seconds
        for path in self.paths.values():
            path.step()
        txs: list[Transaction] = self._oracle_updates()
        if self.time - self.funded_at >= FUNDING_INTERVAL:
            self.funded_at = self.time
            txs += self._funding()
        txs += self._settlements(state)
        view = StateView(state.data)
        kinds = list(self.config.mix)
        weights = list(self.config.mix.values())
        live = [i for i in self.instruments if not _expired(i, self.time)]
        while len(txs) < self.config.txs_per_block:
            if self.pool is not None and self.rng.random() < self.config.pool_share:
                txs.append(self.pool.make(view, live))
                continue
            kind = self.rng.choices(kinds, weights)[0]
            txs.append(self._make(kind, view, live))
        return self._block(txs)

    # --- transaction makers ---------------------------------------------------------------

    def _make(self, kind: str, view: StateView, live: list[Instrument]) -> Transaction:
        rng, a = self.rng, self._account()
        if kind == "deposit":
            amount = rng.randrange(1_000, 50_000) * USDC_SCALE
            return Deposit(sender=a, nonce=self._nonce(a), amount=amount)
        if kind == "withdraw":
            amount = rng.randrange(1_000, 100_000) * USDC_SCALE
            return Withdraw(sender=a, nonce=self._nonce(a), amount=amount)
        if kind == "transfer":
            to = self._other(a)
            amount = rng.randrange(100, 20_000) * USDC_SCALE
            return Transfer(sender=a, nonce=self._nonce(a), to=to, amount=amount)
        if kind == "liquidate":
            return self._liquidation(view, a)
        return self._trade(view, live)

    def _trade(self, view: StateView, live: list[Instrument]) -> Trade:
        rng = self.rng
        maker = rng.choice(self.hot) if rng.random() < self.config.hot_share else self._account()
        taker = self._other(maker)
        inst = rng.choice(live)
        mark = acc.read_mark(view, inst.name).price
        price = to_tick(mark * (1.0 + rng.uniform(-0.02, 0.02)), inst.tick_size)
        lots = rng.randint(1, 20 if isinstance(inst, Option) else 200)
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        return Trade(
            sender=taker,
            nonce=self._nonce(taker),
            maker=maker,
            instrument=inst.name,
            side=side,
            size=lots * inst.lot_size,
            price=price,
        )

    def _liquidation(self, view: StateView, fallback: str) -> Liquidate:
        """Liquidate the first under-margined account of a small random sample, if any: its
        next position in liquidation order, one bounded step."""
        liquidator = self.rng.choice(LIQUIDATORS)
        for account in self.rng.sample(self.accounts, min(8, len(self.accounts))):
            held = acc.holdings(view, account)
            if not held:
                continue
            status = acc.margin_status(view, account, self.model)
            if status.equity < status.maintenance:
                position, market = liquidation_order(held)[0]
                size = min(abs(position.size), step_limit(market.instrument, market))
                return self._liquidate(liquidator, account, market.instrument.name, size)
        target = view.get(k.portfolio(fallback)) or ("BTC-PERP",)
        return self._liquidate(liquidator, fallback, target[0], SIZE_SCALE // 1000)  # type: ignore[index]

    def _liquidate(self, liquidator: str, account: str, name: str, size: int) -> Liquidate:
        return Liquidate(
            sender=liquidator,
            nonce=self._nonce(liquidator),
            account=account,
            instrument=name,
            size=size,
        )

    def _oracle_updates(self) -> list[Transaction]:
        updates: list[Transaction] = []
        for underlying, path in self.paths.items():
            vol_ppm = int(UNDERLYINGS[underlying][1] * 1_000_000)
            index = to_tick(path.price * PRICE_SCALE, PRICE_SCALE // 100)
            bid, ask = self._impact_prices(index)
            updates.append(
                OracleUpdate(
                    sender=ORACLE,
                    nonce=self._nonce(ORACLE),
                    underlying=underlying,
                    index_price=index,
                    atm_vol_ppm=vol_ppm,
                    skew_ppm=round(SKEW * 1_000_000),
                    impact_bid=bid,
                    impact_ask=ask,
                    surface=self._surface(underlying),
                )
            )
        return updates

    def _surface(self, underlying: str) -> tuple[SviSlice, ...]:
        """With the pool on, an SVI surface matching the oracle's smile; otherwise none."""
        if self.pool is None:
            return ()
        expiries = [expiry_time(day, month, 2026) for day, month in EXPIRY_DAYS]
        return svi_surface(UNDERLYINGS[underlying][1], SKEW, expiries, self.time)

    def _impact_prices(self, index: int) -> tuple[int, int]:
        """A stand-in for the perpetual's book until books are transactions: impact prices
        0.05 % either side of a mid that trades at a small random premium to the index."""
        mid = index * (1.0 + self.rng.uniform(-0.002, 0.004))
        return round(mid * 0.9995), round(mid * 1.0005)

    def _funding(self) -> list[Transaction]:
        return [
            Funding(sender=ORACLE, nonce=self._nonce(ORACLE), instrument=inst.name)
            for inst in self.instruments
            if isinstance(inst, Perpetual)
        ]

    def _settlements(self, state: State) -> list[Transaction]:
        due = [i for i in self.instruments if isinstance(i, Option) and _expired(i, self.time)]
        txs: list[Transaction] = []
        for inst in due:
            holders = sorted(
                held.account
                for held in map(position_of, state.data)
                if held is not None and held.instrument == inst.name
            )
            txs.append(
                SettleExpiry(
                    sender=ORACLE,
                    nonce=self._nonce(ORACLE),
                    instrument=inst.name,
                    accounts=tuple(holders),
                )
            )
            self.instruments.remove(inst)
        return txs

    # --- helpers ----------------------------------------------------------------------------

    def _chain(self) -> list[Instrument]:
        chain: list[Instrument] = []
        for underlying, (spot, _, step) in UNDERLYINGS.items():
            chain.append(Perpetual(underlying=underlying))
            atm = round(spot / step) * step
            n = self.config.strikes_each_side
            for day, month in EXPIRY_DAYS:
                for strike in range(atm - n * step, atm + n * step + 1, step):
                    for right in Right:
                        chain.append(
                            Option(
                                underlying=underlying,
                                expiry=expiry_time(day, month, 2026),
                                strike=int(strike) * PRICE_SCALE,
                                right=right,
                            )
                        )
        return chain

    def _account(self) -> str:
        return self.rng.choice(self.accounts)

    def _other(self, account: str) -> str:
        while True:
            other = self.rng.choice(self.accounts)
            if other != account:
                return other

    def _nonce(self, account: str) -> int:
        nonce = self.nonces.get(account, 0)
        self.nonces[account] = nonce + 1
        return nonce

    def _block(self, txs: list[Transaction]) -> Block[Transaction]:
        block = Block(height=self.height, time=self.time, txs=tuple(txs))
        self.height += 1
        return block


def _expired(inst: Instrument, time: int) -> bool:
    return isinstance(inst, Option) and time >= inst.expiry


def to_tick(value: float, tick: int) -> int:
    """``value`` (micro-USDC) rounded to the nearest multiple of ``tick``, at least one tick."""
    return max(tick, round(value / tick) * tick)
