"""A mock transaction universe for the generic engine: K keys, random reads, writes, deltas.

Fewer keys means more contention. Each transaction reads its keys, writes values derived
from what it read (so any wrong read order changes the result), adds to delta counters,
and may fail after writing (so rollback matters) or touch an undeclared key.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping, Sequence

import msgspec
import numpy as np

from paraclear.execution import NOT_HELD, Block, BlockContext, BlockRun, Receipt
from paraclear.execution.access_batch import DELTA, READ, WRITE, AccessBatch, LockTable
from paraclear.state import AccessSet, State, StateView, TxFailure


class MockFailure(TxFailure):
    fields = ("tx",)


class MockTx(msgspec.Struct, frozen=True):
    id: int
    sender: int
    reads: tuple[int, ...]
    writes: tuple[int, ...]
    deltas: tuple[int, ...]
    fails: bool = False
    stray: int | None = None
    """A key the transaction touches without declaring it."""
    declared: bool = True
    dynamic: int | None = None
    """A key written only when what the transaction read sums to an odd number: its access
    depends on state, so a prediction from the block-start state can miss it."""


def key(i: int) -> tuple[str, ...]:
    return ("k", str(i))


def counter(i: int) -> tuple[str, ...]:
    return ("c", str(i))


def nonce(sender: int) -> tuple[str, ...]:
    return ("n", str(sender))


class MockMachine:
    event_type = tuple[str, int, int]

    def access(self, tx: MockTx) -> AccessSet | None:
        if not tx.declared:
            return None
        return AccessSet(
            reads=[key(i) for i in tx.reads],
            writes=[key(i) for i in tx.writes] + [nonce(tx.sender)],
            deltas=[counter(i) for i in tx.deltas],
        )

    def begin(self, tx: MockTx, view: StateView, ctx: BlockContext) -> None:
        view.set(nonce(tx.sender), view.get_int(nonce(tx.sender)) + 1)

    def apply(self, tx: MockTx, view: StateView, ctx: BlockContext) -> Sequence[object]:
        seen = sum(view.get_int(key(i)) * (i + 1) for i in tx.reads) % 1_000_003
        for i in tx.writes:
            view.set(key(i), (seen + 31 * tx.id + view.get_int(key(i))) % 1_000_003 or None)
        for i in tx.deltas:
            view.add(counter(i), tx.id + 1)
        if tx.stray is not None:
            view.get(key(tx.stray))
        if tx.dynamic is not None and seen % 2:
            view.set(key(tx.dynamic), seen)
        if tx.fails:
            raise MockFailure(tx=tx.id)
        return [("done", tx.id, seen)]


class MockRunner:
    """A batch runner for the mock universe (``BatchRunner``): it runs a batch one by one as
    ``BlockRun.run_all`` would, and keeps a mirror of what it wrote, as a compiled runner
    keeps tables, which must follow what others set in between (``changed``): a stale
    mirror raises. Like a compiled runner it holds back the writes of locks a batch does
    not need (``needed``) until ``flush`` or its next batch."""

    def __init__(self) -> None:
        self.run: BlockRun[MockTx] | None = None
        self.mirror: dict[tuple[str, ...], object] = {}
        self.kept: dict[tuple[str, ...], object] = {}
        """Writes held back from the run's pending writes: its next batch reads them."""
        self.batches = 0

    def run_batch(
        self,
        run: BlockRun[MockTx],
        txs: Iterable[MockTx],
        needed: Collection[tuple[str, ...]] | None = None,
    ) -> list[Receipt]:
        if run is not self.run:
            self.run, self.mirror, self.kept = run, {}, {}
        self.flush(run)
        for key, value in self.mirror.items():
            if run.get(key) != value:
                raise AssertionError(f"the runner was not told that {key} changed")
        receipts = []
        for tx in txs:
            access = run.access(tx)
            receipt, view = run.attempt(tx, len(run.receipts), access)
            run.include(tx, receipt, view, access)
            self.mirror.update(view.writes)
            receipts.append(receipt)
        if needed is not None:
            self.kept = {key: value for key, value in run.pending.items() if key[:2] not in needed}
            for key in self.kept:
                del run.pending[key]
        self.batches += 1
        return receipts

    def flush(self, run: BlockRun[MockTx]) -> None:
        if run is self.run:
            run.pending.update(self.kept)
            self.kept = {}

    def held(self, run: BlockRun[MockTx], key: tuple[str, ...]) -> object:
        return self.kept.get(key, NOT_HELD) if run is self.run else NOT_HELD

    def hashed(self, run: BlockRun[MockTx]) -> None:
        return None

    def hashed_part(
        self, run: BlockRun[MockTx], data: object, writes: object, owned: object
    ) -> None:
        return None

    def committed(self, run: BlockRun[MockTx], state: State) -> None:
        self.run = None

    def warm_up(self) -> None:
        pass

    def spawn(self) -> MockRunner:
        return MockRunner()

    def carry(
        self,
        run: BlockRun[MockTx],
        to: BlockRun[MockTx],
        writes: Mapping[tuple[str, ...], object],
    ) -> None:
        if run is self.run:
            assert not self.kept, "writes held back past the end of the block"
            self.run = to
            self.changed(to, writes)

    def changed(self, run: BlockRun[MockTx], writes: Mapping[tuple[str, ...], object]) -> None:
        if run is self.run:
            self.mirror.update((key, value) for key, value in writes.items() if key in self.mirror)
            for key in writes:
                self.kept.pop(key, None)


class BatchedMockMachine(MockMachine):
    """The mock universe with a batch runner, and its access sets in bulk (``BatchAccess``):
    every entry of the block in one list, each family's names looked up at once."""

    def __init__(self) -> None:
        self.batch_runner = MockRunner()
        self.table = LockTable()

    def access_batch(self, txs: Sequence[MockTx]) -> AccessBatch:
        entries = [
            (kind, family, str(i))
            for tx in txs
            if tx.declared
            for kind, family, items in (
                (READ, "k", tx.reads),
                (WRITE, "k", tx.writes),
                (WRITE, "n", (tx.sender,)),
                (DELTA, "c", tx.deltas),
            )
            for i in items
        ]
        ids = np.empty(len(entries), dtype=np.int64)
        for family in ("k", "n", "c"):
            at = [j for j, entry in enumerate(entries) if entry[1] == family]
            ids[at] = self.table.ids(family, [entries[j][2] for j in at])
        sizes = [
            len(tx.reads) + len(tx.writes) + 1 + len(tx.deltas) if tx.declared else 0 for tx in txs
        ]
        pointers = np.zeros(len(txs) + 1, dtype=np.int64)
        np.cumsum(sizes, out=pointers[1:])
        kinds = np.array([entry[0] for entry in entries], dtype=np.int8)
        declared = np.array([tx.declared for tx in txs], dtype=np.bool_)
        return AccessBatch(self.table, pointers, ids, kinds, declared, np.zeros(len(txs), np.bool_))


def random_block(
    rng: random.Random,
    n_txs: int,
    n_keys: int,
    *,
    fail_rate: float = 0.1,
    optimistic_rate: float = 0.0,
    dynamic_rate: float = 0.0,
    height: int = 1,
) -> Block[MockTx]:
    txs = []
    for i in range(n_txs):
        reads = tuple(sorted(rng.sample(range(n_keys), min(n_keys, rng.randint(0, 3)))))
        writes = tuple(sorted(rng.sample(range(n_keys), min(n_keys, rng.randint(0, 2)))))
        deltas = tuple(sorted(rng.sample(range(4), rng.randint(0, 2))))
        stray = rng.randrange(n_keys) if rng.random() < 0.05 else None
        if stray is not None and stray in reads + writes:
            stray = None
        txs.append(
            MockTx(
                id=i,
                sender=rng.randrange(max(2, n_keys)),
                reads=reads,
                writes=writes,
                deltas=deltas,
                fails=rng.random() < fail_rate,
                stray=stray,
                declared=rng.random() >= optimistic_rate,
                dynamic=rng.randrange(n_keys) if rng.random() < dynamic_rate else None,
            )
        )
    return Block(height=height, time=1_000 + height, txs=tuple(txs))
