"""The liquidation engine: turns a scan of under-margined accounts into the transactions that
open the next block (Liquidate, Deleverage, Backstop), following
``paraclear.clearing.liquidation``'s sequence.

It plans against a dry run of those very transactions on top of committed state, in order,
so it knows each step's outcome (the equity left, the fund's balance, nonces) before
choosing the next, and includes only transactions that succeed. Executed first in the next
block, they reproduce the dry run exactly; consensus re-checks every one regardless.

Per account, at most ``max_steps`` transactions a block (liquidation is incremental):

* healthy again (equity ≥ maintenance) or no positions: stop;
* under water and the fund cannot cover the deficit: Deleverage one bounded step of the next
  position in liquidation order against the opposite holders ranked by ``adl_score``;
* otherwise: Liquidate one bounded step of it, by the first liquidator able to take it;
* left with negative collateral and no positions while the fund holds something: Backstop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paraclear.clearing import ClearingMachine
from paraclear.clearing.accounts import holdings, margin_status
from paraclear.clearing.liquidation import liquidation_order, step_limit
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import MarkData, Position
from paraclear.clearing.transactions import (
    MAX_ADL_COUNTERPARTIES,
    Backstop,
    Deleverage,
    Liquidate,
    Transaction,
)
from paraclear.execution import BlockContext, BlockRun, Receipt
from paraclear.execution.gc import paused_gc
from paraclear.sim.adl_queue import AdlQueue
from paraclear.sim.scan import ScanResult, scan
from paraclear.state import AccessSet, Key, StateView
from paraclear.state import keys as k
from paraclear.state.keys import account_of


class DryRun(BlockRun[Transaction]):
    """The planned transactions run in order on top of committed ``data`` (``BlockRun``),
    never committed; only successful ones are kept (``try_run``), as the block producer
    will include them."""

    def __init__(self, data: Mapping[Key, object], machine: ClearingMachine, ctx: BlockContext):
        super().__init__(data, machine, ctx)
        self.equities: dict[str, int] = {}
        """Equity of accounts the dry run has not changed since it was computed (marks do not
        move within a block, so only a transaction's own writes change an account's equity)."""
        self.changed: list[str] = []
        """Accounts under whose lock each kept transaction wrote, in order."""
        self.queues: dict[tuple[str, bool], AdlQueue] = {}

    def nonce(self, account: str) -> int:
        return self.view().get_int(k.nonce(account))

    def include(
        self, tx: Transaction, receipt: Receipt, view: StateView, access: AccessSet | None
    ) -> None:
        super().include(tx, receipt, view, access)
        for key in (*view.writes, *view.deltas):
            account = account_of(key)
            if account is not None:
                self.equities.pop(account, None)
                self.changed.append(account)

    def equity(self, account: str, model: MarginModel) -> int:
        """``account``'s equity in the state the next transaction will see."""
        known = self.equities.get(account)
        if known is None:
            known = self.equities[account] = margin_status(self.view(), account, model).equity
        return known


class LiquidationEngine:
    """Plans the liquidation transactions of the next block from committed state."""

    def __init__(
        self, machine: ClearingMachine, liquidators: Sequence[str], max_steps: int = 8
    ) -> None:
        if not liquidators:
            raise ValueError("the engine needs at least one liquidator")
        self.machine = machine
        self.liquidators = list(liquidators)
        self.max_steps = max_steps
        self.last_scan: ScanResult | None = None

    def plan(self, data: Mapping[Key, object], ctx: BlockContext) -> list[Transaction]:
        """The transactions to open the block ``ctx``: accounts that still have equity first
        (their penalties feed the fund), then the under-water ones, smallest deficit first."""
        with paused_gc():
            return self._plan(data, ctx)

    def _plan(self, data: Mapping[Key, object], ctx: BlockContext) -> list[Transaction]:
        found = scan(data, self.machine.margin_model)
        self.last_scan = found
        dry = DryRun(data, self.machine, ctx)
        order = sorted(
            found.under_maintenance.items(),
            key=lambda item: (item[1].equity < 0, -min(item[1].equity, 0), item[0]),
        )
        for account, _ in order:
            self._resolve(dry, account, found)
        for account in found.bankrupt_without_positions:
            self._backstop(dry, account)
        return dry.txs

    def _resolve(self, dry: DryRun, account: str, found: ScanResult) -> None:
        model = self.machine.margin_model
        for _ in range(self.max_steps):
            view = dry.view()
            held = holdings(view, account)
            if not held:
                break
            status = margin_status(view, account, model)
            if status.equity >= status.maintenance:
                return
            position, market = liquidation_order(held)[0]
            fund = view.get_int(k.INSURANCE_FUND)
            done = status.equity < 0 and fund < -status.equity
            done = done and self._deleverage(dry, account, position, market, found)
            if not done and not self._liquidate(dry, account, position, market):
                return
        self._backstop(dry, account)

    def _liquidate(self, dry: DryRun, account: str, position: Position, market: MarkData) -> bool:
        size = min(abs(position.size), step_limit(market.instrument, market))
        for liquidator in self.liquidators:
            tx = Liquidate(
                sender=liquidator,
                nonce=dry.nonce(liquidator),
                account=account,
                instrument=market.instrument.name,
                size=size,
            )
            if dry.try_run(tx).ok:
                return True
        return False

    def _deleverage(
        self, dry: DryRun, account: str, position: Position, market: MarkData, found: ScanResult
    ) -> bool:
        """Close one bounded step of the position (the Liquidate step size) against ranked
        opposite holders; a counterparty that cannot take its share (it would be left under
        water, or cannot pay for an option) is dropped and the rest retried."""
        excluded: set[str] = set()
        for _ in range(4):
            ranked = self._ranked_opposites(dry, account, position, market, found, excluded)
            target = min(abs(position.size), step_limit(market.instrument, market))
            counterparties: list[str] = []
            size = 0
            for name, held in ranked:
                if size >= target or len(counterparties) == MAX_ADL_COUNTERPARTIES:
                    break
                counterparties.append(name)
                size += held
            size = min(size, target)
            if not counterparties:
                return False
            keeper = self.liquidators[0]
            tx = Deleverage(
                sender=keeper,
                nonce=dry.nonce(keeper),
                account=account,
                instrument=market.instrument.name,
                size=size,
                counterparties=tuple(counterparties),
            )
            receipt = dry.try_run(tx)
            if receipt.ok:
                return True
            culprit = dict(receipt.error.details).get("account") if receipt.error else None
            if culprit not in counterparties:  # not a counterparty's refusal: give up
                return False
            excluded.add(str(culprit))
        return False

    def _ranked_opposites(
        self,
        dry: DryRun,
        account: str,
        position: Position,
        market: MarkData,
        found: ScanResult,
        excluded: set[str],
    ) -> list[tuple[str, int]]:
        """Opposite holders with a positive ADL score, highest first (ties by name)."""
        name, long = market.instrument.name, position.size > 0
        queue = dry.queues.get((name, long))
        if queue is None:
            queue = dry.queues[name, long] = AdlQueue(market, long, found.table.holders(name))
        model = self.machine.margin_model
        view = dry.view()
        ranked = queue.ranked(
            dry.changed,
            lambda holder: view.get(k.position(holder, name)),
            lambda holder: dry.equity(holder, model),
        )
        return [
            (holder, size)
            for _, holder, size in ranked
            if holder != account and holder not in excluded
        ]

    def _backstop(self, dry: DryRun, account: str) -> None:
        view = dry.view()
        if view.get_int(k.collateral(account)) >= 0 or view.get(k.portfolio(account)):
            return
        if view.get_int(k.INSURANCE_FUND) <= 0:
            return
        keeper = self.liquidators[0]
        dry.try_run(Backstop(sender=keeper, nonce=dry.nonce(keeper), account=account))
