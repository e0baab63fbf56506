"""``SpreadGauge``: whether spreading blocks over the workers pays on this machine, measured.

The schedule's model (``schedule.plan_batch``) spreads a block when its rounds' slowest
workers cost less than the whole block on one worker, counting a spread transaction as
dear as a sequential one. What a spread transaction really costs depends on the machine
and the engine: on a box whose workers share one interpreter lock, the workers' Python
runs one at a time and their exchanges come on top; with compiled work and free cores, the
workers run side by side. The gauge measures it, block by block:

* ``spread_rate``: seconds per unit of the model's cost (``Schedule.cost``) of the blocks
  the workers ran;
* ``here_rate``: seconds per transaction of the blocks the model would have spread but
  that ran on the sequential executor in the coordinator's thread.

Only blocks that paid for nothing but themselves count: a spread block whose workers were
started for it (loading their shards) or a block run here right after spread ones (its
runner reloading its tables) does not. Their ratio is the ``cost_factor`` the next block is
planned with. It starts at 1.0 (the model alone) until a spread block counts; then blocks
run here until one counts there; from then on the measured factor decides.

Trying again costs: the blocks from a probe's first spread block to the next counted one
here (workers started, spread blocks at their rate, the runner here reloading) take
``overhead`` seconds more than running them here would have. While the factor declines
blocks, the gauge probes again once the time spent on declined blocks reaches ``wait``
times the last overhead (and at least ``min_gap`` of them ran). ``wait`` starts at
``patience`` and grows ``backoff`` times after each probe, up to ``max_patience``, until
the factor spreads a block again (then it is ``patience`` again): probing costs at most
``1 / patience`` of the time at first and less the longer spreading keeps not paying
(on a 2-core box whose workers share one interpreter lock, for ever), while a machine where
spreading starts to pay (a quieter box, more cores, a faster engine) is still noticed.
Each rate is a moving average (``weight`` on the newest block).

While the factor is at least the number of workers, no schedule can win (the model's cost
of a spread block is at least its transactions over the workers), so the executor need not
plan the block at all (``measuring`` False: no probe waits for a planned block here to
close it): such a block counts towards the patience (``observe`` with ``cost`` None) but
moves no rate, which the next probe measures again.

Some blocks leave the model nothing to spread whatever the factor: too small (``schedule.
may_spread``), or their dependencies one long chain (a hot account, a fully contended
block). A block too small runs unplanned. After ``contended_after`` planned blocks in a
row that the model would not spread at a factor of 1, the next ones likely look the same:
only one in ``sample_every`` is planned (``skip_contended``) until one could be spread.

The decision changes only where a block runs: every executor gives the same receipts and
root whichever way it goes.
"""

from __future__ import annotations

import math


class SpreadGauge:
    """Measured cost of a spread transaction against one run here (``factor``)."""

    def __init__(
        self,
        patience: float = 20.0,
        min_gap: int = 8,
        weight: float = 0.3,
        backoff: float = 2.0,
        max_patience: float | None = None,
        contended_after: int = 4,
        sample_every: int = 8,
    ) -> None:
        """``max_patience``: 32 times ``patience`` unless given."""
        if max_patience is None:
            max_patience = 32 * patience
        if not patience > 0 or min_gap < 1:
            raise ValueError(f"need patience > 0 and min_gap >= 1, got {patience}, {min_gap}")
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"weight must be in (0, 1], not {weight}")
        if not backoff >= 1.0 or not max_patience >= patience:
            raise ValueError(
                f"need backoff >= 1 and max_patience >= patience, got {backoff}, {max_patience}"
            )
        if contended_after < 1 or sample_every < 1:
            raise ValueError(
                f"need contended_after and sample_every >= 1, got {contended_after}, {sample_every}"
            )
        self.patience = patience
        self.backoff = backoff
        self.max_patience = max_patience
        self.wait = patience
        """Declined time, in units of the last probe's overhead, before the next probe."""
        self.contended_after = contended_after
        self.sample_every = sample_every
        self.contended = 0
        """Planned blocks in a row (each big enough to spread) that the model would not
        spread at a factor of 1: their dependencies left nothing to spread."""
        self._skipped = 0
        self.min_gap = min_gap
        self.weight = weight
        self.spread_rate: float | None = None
        """Seconds per unit of model cost of the spread blocks (moving average)."""
        self.here_rate: float | None = None
        """Seconds per transaction of the blocks worth spreading by the model that ran here."""
        self.probing = True
        """Spreading whatever the factor says, until a spread block counts."""
        self.overhead = 0.0
        """What the last probe cost beyond running its blocks here, in seconds."""
        self.spent = 0.0
        """Seconds of the counted blocks run here since the last probe."""
        self.declined = 0
        """Counted blocks run here since the last probe."""
        self._probe: tuple[float, int] | None = None
        """Seconds and transactions of the blocks since the probe began, until one run here
        counts (None: no probe open)."""

    def factor(self) -> float:
        """The ``cost_factor`` to plan the next block with."""
        if self.probing or self.spread_rate is None:
            return 1.0
        if self.here_rate is None:
            return math.inf
        return self.spread_rate / self.here_rate

    def planned(self, spreadable: bool) -> None:
        """A block big enough to spread was planned; ``spreadable``: the model would spread
        it at a factor of 1 (its cost below its transactions)."""
        self.contended = 0 if spreadable else self.contended + 1
        self._skipped = 0

    def skip_contended(self) -> bool:
        """Whether the next block may run unplanned because the last ``contended_after``
        planned ones left nothing to spread; every ``sample_every``-th is planned anyway,
        to notice when the blocks change. Counts the skip."""
        if self.contended < self.contended_after or self._skipped + 1 >= self.sample_every:
            return False
        self._skipped += 1
        return True

    @property
    def measuring(self) -> bool:
        """Whether a probe is open: the next counted block run here closes it (``overhead``)
        and must come with the model's cost."""
        return self._probe is not None

    def observe(
        self, spread: bool, seconds: float, cost: float | None, txs: int, *, counted: bool = True
    ) -> None:
        """A block of ``txs`` transactions (model cost ``cost``) ran in ``seconds``, spread
        over the workers or (``spread`` False) here. Blocks the model itself would not
        spread teach nothing about spreading and are ignored; a block not ``counted`` (it
        paid for catching up: workers started, tables reloaded) moves no rate. ``cost``
        None: a block run here without a plan (the factor ruled spreading out): it counts
        towards the patience only."""
        if cost is None:
            if not spread and counted and txs > 0 and seconds > 0 and self._probe is None:
                self._declined(seconds)
            return
        if txs <= 0 or not 0 < cost < txs or not seconds > 0:
            return
        if spread or not counted:
            taken, ran = self._probe or (0.0, 0)
            self._probe = (taken + seconds, ran + txs)
            if spread and counted:
                if not self.probing:  # the factor spread it, not a probe: spreading pays
                    self.wait = self.patience
                self.spread_rate = self._averaged(self.spread_rate, seconds / cost)
                self.probing = False
            return
        self.here_rate = self._averaged(self.here_rate, seconds / txs)
        if self._probe is not None:
            taken, ran = self._probe
            self.overhead = max(0.0, taken - self.here_rate * ran)
            self._probe, self.spent, self.declined = None, 0.0, 0
            return
        self._declined(seconds)

    def _declined(self, seconds: float) -> None:
        """A counted block ran here for ``seconds`` while the factor declined spreading."""
        self.spent += seconds
        self.declined += 1
        if self.declined >= self.min_gap and self.spent >= self.wait * self.overhead:
            self.probing = True
            self.wait = min(self.wait * self.backoff, self.max_patience)

    def _averaged(self, old: float | None, new: float) -> float:
        return new if old is None else old + self.weight * (new - old)
