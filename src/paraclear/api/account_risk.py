"""Every account's margin, ranked by risk, maintained per block off the API's event loop.

``public/get_accounts`` reads a ``Ranking``: each account's collateral, equity, margins and
positions, riskiest first, as of one height. Recomputing every account per call cost 1.0–1.5 s
at 60,000 accounts on the event loop, during which every other client waited. Instead:

* each published block marks *dirty* the accounts its write set touched; a block that wrote
  a mark, an index or the house's configuration marks every account dirty (every mark
  changes what every position is worth);
* a ranking is computed at most once per height, on a worker thread of its own, and only for
  the dirty accounts; the others keep their rows. The order is kept sorted by re-inserting
  the dirty rows (bisect), or by one sort when most rows changed;
* a caller gets the newest ranking at once (``newest``: a ranking of every account after an
  oracle update takes seconds at 100,000 accounts; meanwhile the previous one is served,
  and each row says its height), or awaits the ranking of a height it names (``ranking``);
  either way the event loop goes on serving everyone else, a height's ranking is shared
  by every caller, and the worker offers the interpreter lock to the loop every
  ``YIELD_EVERY`` accounts.

Rows are small tuples; the JSON views (``overview``) are built only for the page a caller
asked for.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from paraclear.clearing.accounts import equity
from paraclear.clearing.errors import NoMarketData
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import MarkData, Position
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.keys import (
    AccountField,
    Field,
    MarketKey,
    OrderKey,
    PositionKey,
    parse_key,
)

RESORT_SHARE: Final = 0.05
"""Beyond this share of rows changed, one sort is cheaper than re-inserting each."""
YIELD_EVERY: Final = 16
"""Accounts ranked between two offers of the interpreter lock to the event loop's thread
(otherwise it waits up to the 5 ms switch interval for each)."""
MARKET_WIDE: Final = frozenset(("mark", "oracle", "config"))
"""Tables of market data (``MarketKey``) whose change reaches every account."""

Held = tuple[tuple[str, Position, MarkData], ...]


class AccountRow(NamedTuple):
    """One account's risk at a height (raw integers: micro-USDC)."""

    rank_key: float
    """Minus the margin ratio; minus infinity for an account under water (ranks first)."""
    account: str
    collateral: int
    equity: int
    initial: int
    maintenance: int
    ratio: float | None
    positions: Held


@dataclass(frozen=True)
class Ranking:
    """Every known account's row at ``height``, riskiest first (then by account)."""

    height: int
    rows: list[AccountRow]


def margin_ratio(equity: int, maintenance: int) -> float | None:
    """Maintenance margin per unit of equity; None for an account under water (negative
    equity, or none left while margin is owed), which ranks above every ratio."""
    if equity < 0 or (equity == 0 and maintenance > 0):
        return None
    if maintenance <= 0:
        return 0.0
    return maintenance / equity


def account_row(state: State, account: str, model: MarginModel) -> AccountRow | None:
    """The account's row in ``state``; None while a mark it needs is missing."""
    names = state.get(k.portfolio(account)) or ()
    held: list[tuple[str, Position, MarkData]] = []
    for name in names if isinstance(names, tuple) else ():
        position, mark = state.get(k.position(account, name)), state.get(k.mark(name))
        if not isinstance(position, Position):
            continue
        if not isinstance(mark, MarkData):
            return None
        held.append((name, position, mark))
    pairs = [(position, mark) for _, position, mark in held]
    collateral = state.get(k.collateral(account), 0)
    collateral = collateral if isinstance(collateral, int) else 0
    try:
        requirement = model.requirement(pairs)
    except NoMarketData:
        return None
    value = equity(collateral, pairs)
    ratio = margin_ratio(value, requirement.maintenance)
    return AccountRow(
        -math.inf if ratio is None else -ratio,
        account,
        collateral,
        value,
        requirement.initial,
        requirement.maintenance,
        ratio,
        tuple(entry for entry in held if entry[1].size),
    )


def touched_accounts(keys: Iterable[Any]) -> tuple[set[str], set[str], bool]:
    """Of written ``keys``: the accounts they touch, those that hold collateral or positions
    (the accounts ranked), and whether any key reaches every account."""
    touched: set[str] = set()
    holders: set[str] = set()
    everyone = False
    for key in keys:
        match parse_key(key):
            case AccountField(account, Field.COLLATERAL | Field.PORTFOLIO):
                touched.add(account)
                holders.add(account)
            case AccountField(account, _) | PositionKey(account, _) | OrderKey(account, _):
                touched.add(account)
            case MarketKey(table) if table in MARKET_WIDE:
                everyone = True
    return touched, holders, everyone


class AccountRisk:
    """The rankings of one node's accounts; see the module docstring.

    ``on_block`` runs on the event loop for each published block, and ``ranking`` is awaited
    there; the rows and their order belong to the worker thread.
    """

    def __init__(
        self,
        state: Callable[[], State],
        model: MarginModel,
        caught_up: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._state = state
        self._model = model
        self._caught_up = caught_up
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="account-risk")
        self._known: set[str] = set()
        self._dirty: set[str] = set()
        self._everyone = True
        self._rows: dict[str, AccountRow] = {}
        self._order: list[tuple[float, str]] = []
        self._latest: Ranking | None = None
        self._computing: tuple[int, asyncio.Future[Ranking]] | None = None

    @property
    def accounts(self) -> int:
        """How many accounts hold collateral or positions."""
        return len(self._known)

    def scan(self, state: State) -> None:
        """Learn every account in ``state`` (once, at start)."""
        self.on_block(list(state.data))

    def on_block(self, write_set: Iterable[Any]) -> None:
        """A block was published: its written keys make accounts known and dirty."""
        touched, holders, everyone = touched_accounts(write_set)
        self._known |= holders
        self._dirty |= touched
        self._everyone = self._everyone or everyone

    async def ranking(self, height: int) -> Ranking:
        """The ranking of ``height`` or later; computed on the worker if it is not yet."""
        if self._caught_up is not None:
            await self._caught_up(height)
        while self._latest is None or self._latest.height < height:
            if self._computing is None:
                self._start(height)
            assert self._computing is not None
            done = self._computing[1]
            if done.done():
                # Finished, but its callback (``_finished``) is still queued: awaiting a done
                # future does not yield, so this loop would spin and hold the event loop for
                # ever (it did, in a demo). Let the loop run the callback.
                await asyncio.sleep(0)
            else:
                await asyncio.shield(done)
        return self._latest

    async def newest(self, height: int) -> Ranking:
        """The newest ranking computed, at once, and a computation of ``height`` started
        if that one is older (the first call waits for the first ranking)."""
        if self._latest is None:
            return await self.ranking(height)
        if self._latest.height < height and self._computing is None:
            self._start(height)
        return self._latest

    def _start(self, height: int) -> None:
        accounts = set(self._known) if self._everyone else self._dirty & self._known
        self._dirty, self._everyone = set(), False
        future = asyncio.get_running_loop().run_in_executor(
            self._worker, self._compute, height, accounts
        )
        done: asyncio.Future[Ranking] = asyncio.ensure_future(future)
        done.add_done_callback(self._finished)
        self._computing = (height, done)

    def _finished(self, future: asyncio.Future[Ranking]) -> None:
        self._computing = None
        if future.cancelled() or future.exception() is not None:
            self._everyone = True  # start again from scratch next time
            return
        ranking = future.result()
        if self._latest is None or ranking.height >= self._latest.height:
            self._latest = ranking

    def _compute(self, height: int, accounts: set[str]) -> Ranking:
        """On the worker: new rows for ``accounts``, the order kept sorted."""
        state = self._state()
        resort = len(accounts) > len(self._order) * RESORT_SHARE
        for n, account in enumerate(sorted(accounts)):
            if n % YIELD_EVERY == YIELD_EVERY - 1:
                time.sleep(0)  # hand the interpreter to the event loop's thread
            old = self._rows.pop(account, None)
            new = account_row(state, account, self._model)
            if new is not None:
                self._rows[account] = new
            if resort:
                continue
            if old is not None:
                del self._order[bisect.bisect_left(self._order, old[:2])]
            if new is not None:
                bisect.insort(self._order, new[:2])
        if resort:
            self._order = sorted(row[:2] for row in self._rows.values())
        return Ranking(height, [self._rows[account] for _, account in self._order])

    def close(self) -> None:
        """Stop the worker (a computation under way is abandoned)."""
        self._worker.shutdown(wait=False, cancel_futures=True)
