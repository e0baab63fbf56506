"""Liquidators: find accounts under maintenance margin through the API and liquidate them.

Each tick a liquidator reads ``public/get_accounts`` as of the latest block (every
account's equity, margins and positions with marks, riskiest first) and takes its share of
the accounts under maintenance (the liquidators split the list by rank, so that they do not
race for the same account).
For each, following ``paraclear.clearing.liquidation``:

* positions in liquidation order (perpetuals first, then options, by name), in steps of at
  most ``LIQUIDATION_STEP_NOTIONAL``, as many steps as it takes to bring the account back
  above maintenance (each step moves the position's maintenance and a penalty), at most
  ``MAX_STEPS`` a tick;
* an account under water (equity < 0) gets an auto-deleveraging step first, against the
  most leveraged opposite holder: it fails (``InsuranceFundSufficient``) while the fund
  can cover the deficit, and the liquidation steps after it go ahead instead;
* an account left with negative collateral and no positions gets a ``Backstop``.

A liquidator takes the positions over at the mark; it sells them back into the book with
immediate-or-cancel orders over the next ticks.
"""

from __future__ import annotations

from typing import Any, Final

from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.liquidation import LIQUIDATION_STEP_NOTIONAL
from paraclear.clearing.transactions import Backstop, Deleverage, Liquidate, OrderType, Side
from paraclear.numbers import SIZE_SCALE
from paraclear.sim.agents.base import Agent, Answer, floor_to, raw_price, raw_size

MAX_STEPS: Final = 6
"""Liquidation steps per account per tick."""
PENALTY: Final = 0.005
ACCOUNTS_READ: Final = 1_000
UNWIND_SHARE: Final = 0.25
"""Of its inventory, what a liquidator sells back each tick."""


class Liquidator(Agent):
    """Liquidates its share of the accounts under maintenance; see the module docstring."""

    role = "liquidator"
    peers = 1
    rank = 0
    fund_empty = False
    """Set when a backstop found the insurance fund empty; cleared when one of this
    liquidator's liquidations paid a penalty into it (backstops wait until then)."""

    async def act(self, tick: int) -> None:
        self._capacity: dict[tuple[str, str], int] = {}
        height = (await self.client.call("public/status"))["height"]
        rows = await self.client.call(
            "public/get_accounts",
            {"limit": ACCOUNTS_READ, "sort": "margin_ratio", "min_height": height},
        )
        mine = [
            row
            for n, row in enumerate(r for r in rows if _in_trouble(r))
            if n % self.peers == self.rank and row["account"] != self.account
        ]
        index = await self.read_index() if mine else 0.0
        for row in mine:
            self._resolve(row, rows, index)
        await self._unwind()

    def _resolve(self, row: dict[str, Any], rows: list[dict[str, Any]], index: float) -> None:
        positions = [p for p in row["positions"] if p["size"] != 0]
        account = row["account"]
        if not positions:
            if row.get("collateral", row["equity"]) < 0 and not self.fund_empty:
                self.send("backstop", Backstop, account=account)
            return
        equity, maintenance = row["equity"], row["maintenance_margin"]
        steps = 0
        for position in sorted(positions, key=_liquidation_order):
            instrument = self._instrument(position["instrument_name"])
            if instrument is None:
                continue
            held = raw_size(abs(position["size"]))
            limit = _step_limit(instrument, position["mark_price"], index)
            deleveraged = 0
            if equity < 0 and steps == 0:
                deleveraged = self._deleverage(
                    account, instrument, position, min(held, limit), rows
                )
                held -= deleveraged
            while held > 0 and steps < MAX_STEPS:
                size = min(held, limit)
                self.send(
                    "liquidate", Liquidate, account=account, instrument=instrument.name, size=size
                )
                held -= size
                steps += 1
                moved = size / 1e6 * position["mark_price"]
                maintenance -= _maintenance_share(instrument, moved)
                equity -= PENALTY * moved
                if equity >= maintenance > 0:
                    return
            if steps >= MAX_STEPS or deleveraged:  # a failed ADL step leaves some of it
                return

    def _deleverage(
        self,
        account: str,
        instrument: Instrument,
        position: dict[str, Any],
        size: int,
        rows: list[dict[str, Any]],
    ) -> int:
        """One ADL step against the most leveraged opposite holder with equity to spare (and
        size left after this tick's other steps); returns the size it asks for."""
        long = position["size"] > 0
        best: tuple[float, str, int] | None = None
        for row in rows:
            if row["account"] in (account, self.account) or row["equity"] <= 0:
                continue
            if row["equity"] < row["maintenance_margin"] * 2:
                continue
            for theirs in row["positions"]:
                if theirs["instrument_name"] != instrument.name or (theirs["size"] > 0) == long:
                    continue
                key = (row["account"], instrument.name)
                left = self._capacity.get(key, raw_size(abs(theirs["size"])))
                leverage = abs(theirs["size"]) * theirs["mark_price"] / row["equity"]
                if left > 0 and (best is None or leverage > best[0]):
                    best = (leverage, row["account"], left)
        if best is None:
            return 0
        take = floor_to(min(size, best[2]), instrument.lot_size)
        if take > 0:
            self._capacity[(best[1], instrument.name)] = best[2] - take
            self.send(
                "deleverage",
                Deleverage,
                account=account,
                instrument=instrument.name,
                size=take,
                counterparties=(best[1],),
            )
        return take

    def on_answer(self, answer: Answer) -> None:
        error = (answer.result or {}).get("error") if isinstance(answer.result, dict) else None
        if answer.kind == "backstop" and error and error.get("error") == "InsuranceFundEmpty":
            self.fund_empty = True
        elif answer.kind == "liquidate" and answer.result and answer.result.get("ok"):
            self.fund_empty = False

    async def _unwind(self) -> None:
        """Sell back part of what liquidations left with this account, against the book."""
        rows = await self.client.call("private/get_positions")
        for row in rows:
            instrument = self._instrument(row["instrument_name"])
            if instrument is None or row["size"] == 0:
                continue
            size = floor_to(raw_size(abs(row["size"]) * UNWIND_SHARE), instrument.lot_size)
            if size <= 0:
                size = floor_to(raw_size(abs(row["size"])), instrument.lot_size)
            if size <= 0:
                continue
            side = Side.SELL if row["size"] > 0 else Side.BUY
            mark = float(row["mark_price"])
            bound = mark * (0.97 if side is Side.SELL else 1.03)
            price = max(floor_to(raw_price(bound), instrument.tick_size), instrument.tick_size)
            self.place(instrument, side, size, price, OrderType.IOC, "unwind")

    def _instrument(self, name: str) -> Instrument | None:
        assert self.market is not None
        return next((i for i in self.market.instruments if i.name == name), None)


def _in_trouble(row: dict[str, Any]) -> bool:
    """Under maintenance with positions, or left with negative collateral."""
    has_positions = any(p["size"] != 0 for p in row["positions"])
    if has_positions:
        return bool(row["equity"] < row["maintenance_margin"])
    return bool(row.get("collateral", 0.0) < 0)


def _liquidation_order(position: dict[str, Any]) -> tuple[bool, str]:
    name: str = position["instrument_name"]
    return (not name.endswith("-PERP"), name)


def _step_limit(instrument: Instrument, mark: float, index: float) -> int:
    """``paraclear.clearing.liquidation.step_limit`` from the API's view: an option's step
    counts the underlying's notional (at the index), a perpetual's its own (at the mark)."""
    price = raw_price(index if isinstance(instrument, Option) else mark)
    per_contract = max(price * instrument.contract_size // SIZE_SCALE, 1)
    lots = LIQUIDATION_STEP_NOTIONAL * SIZE_SCALE // per_contract // instrument.lot_size
    return max(lots, 1) * instrument.lot_size


def _maintenance_share(instrument: Instrument, notional: float) -> float:
    if isinstance(instrument, Option):
        return 0.0
    return notional * instrument.maintenance_margin_ppm / 1e6
