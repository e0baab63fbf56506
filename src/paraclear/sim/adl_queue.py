"""The auto-deleveraging queue of one instrument and side, kept up to date through a dry run.

The liquidation engine ranks the holders opposite a bankrupt position by ``adl_score`` before
every Deleverage it plans. Ranking from scratch costs one ``margin_status`` and one exact
(``Fraction``) score per holder, and a sort: in a crash cascade with hundreds of Deleverage
steps over a few hundred holders, that was four fifths of a scenario's time. Within one
planned block the marks do not move, so a holder's score changes only when a planned
transaction writes under that holder's account lock: the queue rescores just those holders
(``DryRun.changed`` logs them in order) and moves their entries in a sorted list by
bisection.
The result is exactly the from-scratch ranking: the same entries, sorted by the same keys.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from fractions import Fraction

from paraclear.clearing.liquidation import adl_score
from paraclear.clearing.records import MarkData, Position

Entry = tuple[Fraction, str, int]
"""(minus the score, holder, absolute size): sorting entries ranks highest score first,
ties by name."""
PositionOf = Callable[[str], object]
EquityOf = Callable[[str], int]


class AdlQueue:
    """Holders of ``market``'s instrument opposite a position that is long if ``long``,
    with a positive ADL score, as of the dry run's latest transaction."""

    def __init__(self, market: MarkData, long: bool, holders: Iterable[str]) -> None:
        self.market = market
        self.long = long
        self.candidates = set(holders)
        self.entries: dict[str, Entry] = {}
        self.order: list[Entry] = []
        self.seen = 0
        """How many of the dry run's changed accounts the entries already reflect."""

    def ranked(
        self, changed: list[str], position_of: PositionOf, equity_of: EquityOf
    ) -> list[Entry]:
        """The queue after every change logged in ``changed`` (the first call scores every
        candidate), highest score first."""
        if self.seen == 0 and not self.entries:
            self._rescore(sorted(self.candidates), position_of, equity_of)
        self._rescore(changed[self.seen :], position_of, equity_of)
        self.seen = len(changed)
        return self.order

    def _rescore(
        self, holders: Iterable[str], position_of: PositionOf, equity_of: EquityOf
    ) -> None:
        """Replace the entries of ``holders`` (those that are candidates) by their current
        ones, keeping ``order`` sorted by bisection."""
        for holder in holders:
            if holder not in self.candidates:
                continue
            old = self.entries.pop(holder, None)
            if old is not None:
                del self.order[bisect.bisect_left(self.order, old)]
            entry = self._entry(holder, position_of(holder), equity_of)
            if entry is not None:
                self.entries[holder] = entry
                bisect.insort(self.order, entry)

    def _entry(self, holder: str, theirs: object, equity_of: EquityOf) -> Entry | None:
        if not isinstance(theirs, Position) or (theirs.size > 0) == self.long:
            return None
        score = adl_score(theirs, self.market, equity_of(holder))
        return (-score, holder, abs(theirs.size)) if score > 0 else None
