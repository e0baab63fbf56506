"""The market's tape: what committed blocks say about trading, kept for the API.

``Tape.record`` reads one committed block (its transactions and receipts) on the producer
thread, after the block is durable and before listeners hear of it. A node rebuilds its tape
from the whole block log when it starts (``Tape.from_log``), so a restart changes nothing a
client reads: trades and their numbers, last prices, 24 h statistics, candles, index and
funding history and settlements are all derived from committed blocks only.

Kept per instrument: the latest ``RECENT_TRADES`` fills, each with Deribit's ``trade_seq``
(1, 2, 3, ... over every fill of the instrument since the chain began) and
``tick_direction``; one-minute candles over the latest ``CANDLE_MINUTES`` minutes with
trades; perpetuals' funding payments. Per underlying: the oracle's latest publication and
one sample per minute (its last) over ``INDEX_MINUTES``. Settlements at expiry, of every
instrument. Times are block times, Unix seconds; prices and sizes raw fixed point.

Readers run on other threads: every sequence here is appended to or replaced whole, and
readers copy it (``list(deque)`` runs without releasing the GIL) before walking it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NamedTuple

from paraclear.chain.store_errors import StorageError
from paraclear.chain.store_records import StoredBlock
from paraclear.clearing.events import ExpirySettled, FundingPaid, OrderFilled
from paraclear.clearing.records import OracleData
from paraclear.clearing.transactions import OracleUpdate, Transaction
from paraclear.execution import Block, Receipt
from paraclear.numbers import notional

log = logging.getLogger(__name__)

RECENT_TRADES: Final = 1_000
"""Fills kept per instrument."""
CANDLE_MINUTES: Final = 7 * 1_440
"""One-minute candles kept per instrument (minutes without trades have none)."""
INDEX_MINUTES: Final = 30 * 1_440
"""One-minute index samples kept per underlying."""
FUNDING_KEPT: Final = 10_000
SETTLEMENTS_KEPT: Final = 10_000
DAY: Final = 86_400
MINUTE: Final = 60
RESOLUTIONS: Final = {
    **{str(minutes): minutes for minutes in (1, 3, 5, 10, 15, 30, 60, 120, 180, 360, 720)},
    "1D": 1_440,
}
"""Deribit's candle resolutions (chart data and ``chart.trades`` channels), in minutes."""


class TapeTrade(NamedTuple):
    """One fill as the tape keeps it. ``number``: among the block's fills of its
    instrument, from 0; ``seq``: Deribit's ``trade_seq``; ``tick_direction``: Deribit's
    0 (up), 1 (zero-up), 2 (down), 3 (zero-down) against the previous trade's price;
    ``oracle``: the underlying's index and smile when the fill happened, if published."""

    height: int
    time: int
    fill: OrderFilled
    number: int
    seq: int
    tick_direction: int
    oracle: OracleData | None


class Candle(NamedTuple):
    """Trades of one minute: ``start`` (Unix seconds), prices, ``volume`` (raw size) and
    ``cost`` (micro-USDC)."""

    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    cost: int


def merged(first: Candle, then: Candle) -> Candle:
    """One candle of ``first``'s start covering ``first`` and the trades after it, ``then``."""
    return Candle(
        first.start,
        first.open,
        max(first.high, then.high),
        min(first.low, then.low),
        then.close,
        first.volume + then.volume,
        first.cost + then.cost,
    )


class Funding(NamedTuple):
    """A funding payment: ``rate_ppm`` of the index per contract (longs pay when positive),
    the index then (raw price) and the funding index after it (micro-USDC per lot)."""

    time: int
    rate_ppm: int
    index_price: int
    funding_index: int


class Settlement(NamedTuple):
    """An instrument's settlement at expiry: price (raw) and positions settled."""

    time: int
    height: int
    instrument: str
    price: int
    positions: int


class DayStats(NamedTuple):
    """Deribit's 24 h ``stats``: raw prices (None without trades), raw size, micro-USDC,
    and the price change in parts per million of the first trade's price."""

    high: int | None
    low: int | None
    volume: int
    cost: int
    change_ppm: int | None


class Tape:
    """Market data derived from committed blocks; see the module docstring."""

    def __init__(self) -> None:
        self.trades: dict[str, deque[TapeTrade]] = {}
        self.seq: dict[str, int] = {}
        self._starts: dict[str, deque[tuple[int, int]]] = {}
        """Per instrument, (height, ``seq`` of its first fill) of each block with fills."""
        """Fills of each instrument since the chain began."""
        self.candles: dict[str, deque[Candle]] = {}
        self.oracles: dict[str, OracleData] = {}
        """Each underlying's latest oracle publication."""
        self.index_history: dict[str, deque[OracleData]] = {}
        self.funding: dict[str, deque[Funding]] = {}
        self.settlements: deque[Settlement] = deque(maxlen=SETTLEMENTS_KEPT)
        self.height = 0

    @classmethod
    def from_log(cls, blocks: Iterable[StoredBlock]) -> Tape:
        """The tape of a chain, replayed from its stored blocks in order.

        The node starts even on a log damaged below its latest snapshot (its background
        check reports the damage), so a block that cannot be read stops the replay there
        and one whose receipts do not match its transactions is left out: logged, never
        raised."""
        tape = cls()
        try:
            for stored in blocks:
                receipts = stored.receipts()
                if len(receipts) != len(stored.block.txs):
                    log.error("tape: block %d has receipts that do not match", stored.height)
                    continue
                tape.record(stored.block, receipts)
        except StorageError as error:
            log.error("tape: replay stopped at a damaged block: %s", error)
        return tape

    def record(self, block: Block[Transaction], receipts: Sequence[Receipt]) -> None:
        """Add what one committed block did, in transaction order (``record_receipts``).
        Raises ValueError if the receipts are not one per transaction."""
        if len(receipts) != len(block.txs):
            raise ValueError(f"{len(receipts)} receipts for {len(block.txs)} transactions")
        self.record_receipts(block.height, block.time, receipts, oracle_updates(block.txs))

    def record_receipts(
        self,
        height: int,
        time: int,
        receipts: Sequence[Receipt],
        updates: Mapping[int, OracleUpdate],
    ) -> None:
        """Add what block ``height`` did, from its receipts and its oracle updates by index
        (all the tape reads of its transactions). A fill keeps the oracle of its moment (an
        update earlier in the block counts); the block's fills of an instrument are then
        added together, and make one candle merged into the minute's."""
        fills: dict[str, list[tuple[OrderFilled, OracleData | None]]] = {}
        oracles = self.oracles
        for index, receipt in enumerate(receipts):
            if not receipt.ok:
                continue
            update = updates.get(index) if updates else None
            if update is not None:
                self._oracle(update, time)
            for event in receipt.events:
                if isinstance(event, OrderFilled):
                    name = event.instrument
                    made = fills.get(name)
                    if made is None:
                        made = fills[name] = []
                    made.append((event, oracles.get(_underlying(name))))
                elif isinstance(event, FundingPaid):
                    self._funding(event, time)
                elif isinstance(event, ExpirySettled):
                    self.settlements.append(
                        Settlement(
                            time, height, event.instrument, event.settlement_price, event.positions
                        )
                    )
        for name, made in fills.items():
            self._fills(height, time, name, made)
            self._candle(name, time, [fill for fill, _ in made])
        self.height = height

    def _oracle(self, tx: OracleUpdate, time: int) -> None:
        oracle = OracleData(tx.index_price, tx.atm_vol_ppm, tx.skew_ppm, time)
        self.oracles[tx.underlying] = oracle
        history = self.index_history.setdefault(tx.underlying, deque(maxlen=INDEX_MINUTES))
        if history and history[-1].time // MINUTE == time // MINUTE:
            history[-1] = oracle
        else:
            history.append(oracle)

    def _fills(
        self, height: int, time: int, name: str, made: list[tuple[OrderFilled, OracleData | None]]
    ) -> None:
        """Keep a block's fills of one instrument (at least one), numbered in its order."""
        seq = self.seq.get(name, 0)
        starts = self._starts.setdefault(name, deque(maxlen=RECENT_TRADES))
        starts.append((height, seq + 1))
        trades = self.trades.setdefault(name, deque(maxlen=RECENT_TRADES))
        previous = trades[-1] if trades else None
        for number, (fill, oracle) in enumerate(made):
            seq += 1
            previous = TapeTrade(
                height, time, fill, number, seq, _tick_direction(previous, fill.price), oracle
            )
            trades.append(previous)
        self.seq[name] = seq

    def _candle(self, name: str, time: int, fills: list[OrderFilled]) -> None:
        """Merge a block's fills of one instrument (at least one, all at ``time``) into the
        candle of their minute."""
        candles = self.candles.setdefault(name, deque(maxlen=CANDLE_MINUTES))
        start = time - time % MINUTE
        prices = [fill.price for fill in fills]
        candle = Candle(
            start,
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            sum(fill.size for fill in fills),
            sum(notional(fill.price, fill.size) for fill in fills),
        )
        if candles and candles[-1].start == start:
            candles[-1] = merged(candles[-1], candle)
        else:
            candles.append(candle)

    def _funding(self, event: FundingPaid, time: int) -> None:
        oracle = self.oracles.get(_underlying(event.instrument))
        history = self.funding.setdefault(event.instrument, deque(maxlen=FUNDING_KEPT))
        index = oracle.index if oracle is not None else 0
        history.append(Funding(time, event.rate_ppm, index, event.funding_index))

    # --- reading -------------------------------------------------------------------------

    def recent(self, name: str) -> list[TapeTrade]:
        """The instrument's kept fills, oldest first."""
        return list(self.trades.get(name, ()))

    def last_price(self, name: str) -> int | None:
        trades = self.trades.get(name)
        return trades[-1].fill.price if trades else None

    def block_trades(self, name: str, height: int) -> list[TapeTrade]:
        """The instrument's fills in block ``height``, if kept."""
        found = []
        for trade in reversed(self.trades.get(name, ())):
            if trade.height < height:
                break
            if trade.height == height:
                found.append(trade)
        return found[::-1]

    def seq_of(self, name: str, height: int, number: int) -> int | None:
        """``trade_seq`` of the instrument's fill ``number`` of block ``height``, if kept
        (looked up from the block's first ``seq``, not by walking the trades: the API asks
        once per fill of every order it answers)."""
        starts = self._starts.get(name, ())
        for at in range(len(starts) - 1, -1, -1):
            block, first = starts[at]
            if block < height:
                return None
            if block == height:
                end = starts[at + 1][1] if at + 1 < len(starts) else self.seq[name] + 1
                seq = first + number
                kept = self.trades[name]
                return seq if seq < end and kept and seq >= kept[0].seq else None
        return None

    def candles_between(self, name: str, start: int, end: int) -> list[Candle]:
        """One-minute candles that start in ``[start, end]`` (Unix seconds)."""
        return [c for c in list(self.candles.get(name, ())) if start <= c.start <= end]

    def day_stats(self, name: str, now: int) -> DayStats:
        """The 24 h statistics at ``now``: the candles that start in the last day."""
        day = self.candles_between(name, now - DAY + 1, now)
        if not day:
            return DayStats(None, None, 0, 0, None)
        first = day[0].open
        change = (day[-1].close - first) * 1_000_000 // first if first else None
        return DayStats(
            max(c.high for c in day),
            min(c.low for c in day),
            sum(c.volume for c in day),
            sum(c.cost for c in day),
            change,
        )


def oracle_updates(txs: Sequence[Transaction]) -> dict[int, OracleUpdate]:
    """A block's oracle updates by their index in it."""
    return {index: tx for index, tx in enumerate(txs) if isinstance(tx, OracleUpdate)}


def _underlying(name: str) -> str:
    return name.partition("-")[0]


def _tick_direction(previous: TapeTrade | None, price: int) -> int:
    if previous is None:
        return 0
    if price > previous.fill.price:
        return 0
    if price < previous.fill.price:
        return 2
    return 1 if previous.tick_direction in (0, 1) else 3
