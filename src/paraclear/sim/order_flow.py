"""Random order flow at many accounts, for the node's block builder: what a venue's order
entry looks like, without the API.

Each transaction is one of (shares in ``FlowMix``):

* a **maker** placement: a limit or post-only order resting on its own side of the mark,
  up to half a per cent away;
* a **taker** placement: a limit, immediate-or-cancel or market order priced through the
  mark by up to 0.3 per cent, which takes from the makers' orders (a limit's rest stays);
* an **amend** of one of the sender's open orders: a new price on its side of the mark and
  a new size (the book re-enters it, where it may take);
* a **cancel** of one of the sender's open orders.

An amend or cancel with no open order to edit (the first block, say) is a maker placement.

By default a resting order stays until it is cancelled or filled, so the books deepen from
block to block (makers place more than takers, amends and cancels take away). With
``quote_life`` every placement is good for that many blocks (``good_til``: its block's
height plus ``quote_life`` less one), after which the builder expires what is left of it:
the books stop deepening. (The state still grows as the accounts open positions in more of
the instruments: at 10,000 accounts ~1,800 positions a block.)

Half the orders go to the two perpetuals, half to the listed options. Edits read the open
orders from committed state (``k.open_orders``, ``k.order``), as a client reads its own;
an order is edited at most once a block, so the builder defers nothing of this flow but
what it carries over. The builder turns the flow into a block: it adds a ``SettleFill``
per match and a ``CloseOrder`` per order the books left with less open. Everything follows
from the generator's ``random.Random``; making a transaction costs a few microseconds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.records import MarkData, OpenOrder
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    OrderType,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.sim.workload import to_tick
from paraclear.state import StateView
from paraclear.state import keys as k

MAKER_AWAY: Final = (0.0002, 0.005)
"""A maker's price: this fraction of the mark away from it, on its own side."""
TAKER_THROUGH: Final = (0.0005, 0.003)
"""A taker's limit: this fraction of the mark through it."""
PERP_LOTS: Final = 200
OPTION_LOTS: Final = 20
"""Order sizes: 1 to this many lots (0.001 BTC or ETH on a perpetual, 0.1 on an option)."""
EDIT_TRIES: Final = 3
"""Accounts tried for an order to amend or cancel before placing one instead."""


@dataclass(frozen=True)
class FlowMix:
    """Shares of makers, takers and amends; cancels are the rest. Among takers, the shares
    of immediate-or-cancel and market orders (the rest are limits)."""

    maker: float = 0.45
    taker: float = 0.20
    amend: float = 0.20
    ioc: float = 0.35
    market: float = 0.15
    post_only: float = 0.4
    """Share of maker orders that are post-only (the rest are limits)."""


class OrderFlow:
    """Makes order transactions for ``accounts`` over ``instruments`` with the senders'
    next nonces from ``nonces`` (shared with whoever else sends for them)."""

    def __init__(
        self,
        rng: random.Random,
        accounts: Sequence[str],
        instruments: Sequence[Instrument],
        nonces: dict[str, int],
        mix: FlowMix | None = None,
        quote_life: int = 0,
    ) -> None:
        if quote_life < 0:
            raise ValueError(f"quote_life must be 0 (none) or more blocks, not {quote_life}")
        self.rng = rng
        self.quote_life = quote_life
        """Blocks a placement is good for (0: until cancelled or filled)."""
        self._good_til = 0
        self.accounts = list(accounts)
        self.perpetuals: list[Instrument] = [i for i in instruments if not isinstance(i, Option)]
        self.options: list[Instrument] = [i for i in instruments if isinstance(i, Option)]
        self.by_name = {i.name: i for i in instruments}
        self.nonces = nonces
        self.mix = mix or FlowMix()
        self.resting: list[str] = []
        """Accounts that sent an order that may rest in an earlier batch: where edits look."""
        self._resting_now: list[str] = []
        self._marks: dict[str, int] = {}
        self._edited: set[tuple[str, int]] = set()

    def batch(self, view: StateView, count: int, height: int = 0) -> list[Transaction]:
        """``count`` transactions over the committed state ``view`` (marks, open orders),
        for the block at ``height`` (it dates their ``good_til`` if ``quote_life`` is set).

        Raises ``ValueError`` for ``quote_life`` without a height."""
        if self.quote_life and height <= 0:
            raise ValueError("an order flow with a quote_life needs the block's height")
        self._good_til = height + self.quote_life - 1 if self.quote_life else 0
        self._marks = {
            name: mark.price
            for name in self.by_name
            if isinstance(mark := view.get(k.mark(name)), MarkData)
        }
        self._edited = set()
        self.resting += self._resting_now
        self._resting_now = []
        mix, roll = self.mix, self.rng.random
        txs: list[Transaction] = []
        for _ in range(count):
            r = roll()
            if r < mix.maker:
                txs.append(self._maker())
            elif r < mix.maker + mix.taker:
                txs.append(self._taker())
            else:
                amend = r < mix.maker + mix.taker + mix.amend
                txs.append(self._edit(view, amend) or self._maker())
        return txs

    # --- makers and takers -----------------------------------------------------------------

    def _maker(self) -> PlaceOrder:
        inst, mark = self._instrument()
        is_buy = self.rng.random() < 0.5
        away = self.rng.uniform(*MAKER_AWAY)
        price = mark * (1.0 - away if is_buy else 1.0 + away)
        post_only = self.rng.random() < self.mix.post_only
        kind = OrderType.POST_ONLY if post_only else OrderType.LIMIT
        return self._place(inst, is_buy, kind, price)

    def _taker(self) -> PlaceOrder:
        inst, mark = self._instrument()
        is_buy = self.rng.random() < 0.5
        through = self.rng.uniform(*TAKER_THROUGH)
        price = mark * (1.0 + through if is_buy else 1.0 - through)
        r = self.rng.random()
        kind = (
            OrderType.IOC
            if r < self.mix.ioc
            else OrderType.MARKET
            if r < self.mix.ioc + self.mix.market
            else OrderType.LIMIT
        )
        return self._place(inst, is_buy, kind, price)

    def _place(self, inst: Instrument, is_buy: bool, kind: OrderType, price: float) -> PlaceOrder:
        sender = self.rng.choice(self.accounts)
        if kind in (OrderType.LIMIT, OrderType.POST_ONLY):
            self._resting_now.append(sender)
        return PlaceOrder(
            sender=sender,
            nonce=self._nonce(sender),
            instrument=inst.name,
            side=Side.BUY if is_buy else Side.SELL,
            kind=kind,
            price=to_tick(price, inst.tick_size),
            size=self._size(inst),
            good_til=self._good_til,
        )

    def _instrument(self) -> tuple[Instrument, int]:
        """A perpetual half the time, else an option; with its mark (micro-USDC)."""
        pool = self.perpetuals if self.rng.random() < 0.5 or not self.options else self.options
        inst = self.rng.choice(pool)
        return inst, self._marks[inst.name]

    def _size(self, inst: Instrument) -> int:
        lots = OPTION_LOTS if isinstance(inst, Option) else PERP_LOTS
        return self.rng.randint(1, lots) * inst.lot_size

    # --- amends and cancels ----------------------------------------------------------------

    def _edit(self, view: StateView, amend: bool) -> Transaction | None:
        """An amend or cancel of an open order of a recent maker, or None if the accounts
        tried have none left unedited this block."""
        found = self._open_order(view)
        if found is None:
            return None
        sender, nonce, order = found
        self._edited.add((sender, nonce))
        if not amend:
            return CancelOrder(
                sender=sender, nonce=self._nonce(sender), instrument=order.instrument, order=nonce
            )
        inst = self.by_name[order.instrument]
        mark = self._marks[order.instrument]
        away = self.rng.uniform(*MAKER_AWAY)
        price = mark * (1.0 - away if order.is_buy else 1.0 + away)
        return AmendOrder(
            sender=sender,
            nonce=self._nonce(sender),
            order=nonce,
            price=to_tick(price, inst.tick_size),
            size=self._size(inst),
        )

    def _open_order(self, view: StateView) -> tuple[str, int, OpenOrder] | None:
        for _ in range(EDIT_TRIES):
            if not self.resting:
                return None
            index = self.rng.randrange(len(self.resting))
            sender = self.resting[index]
            nonces: tuple[int, ...] = view.get(k.open_orders(sender)) or ()  # type: ignore[assignment]
            mine = [n for n in nonces if (sender, n) not in self._edited]
            if not mine:
                self.resting[index] = self.resting[-1]  # forget it: swap with the last
                self.resting.pop()
                continue
            nonce = self.rng.choice(mine)
            order = view.get(k.order(sender, nonce))
            if isinstance(order, OpenOrder):
                return sender, nonce, order
        return None

    def _nonce(self, account: str) -> int:
        nonce = self.nonces.get(account, 0)
        self.nonces[account] = nonce + 1
        return nonce
