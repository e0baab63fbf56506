"""Running a block: ``BlockRun``, the one way transactions are run, by every executor, the
node's block builder and the liquidation planner.

A run holds a block's pending writes over committed state data. Each transaction runs in its
own ``StateView`` over them: ``begin`` (nonce, fee), a savepoint, then the body. A failure in
the body rolls back to what ``begin`` wrote; a failure in ``begin`` leaves nothing. Other
exceptions are bugs, or the parallel executor's ``AccessMispredicted``, and propagate. An
included transaction's writes and deltas are folded into the pending writes once
(``fold``), and its receipt joins the block's. ``finish`` commits the pending writes to
the state and returns the ``BlockResult``.

Who runs what:

* the sequential executor: ``run_all`` over the block, then ``finish``;
* the node's builder (dry run) and the liquidation planner: ``run`` (include whatever the
  outcome) or ``try_run`` (include only what succeeds), reading the state as the next
  transaction will see it (``get``, ``view``); the node commits the builder's run itself
  with ``finish``; the planner follows what each included transaction wrote by extending
  ``include``;
* the parallel executor's shard workers: ``attempt`` each transaction of their part of the
  block at its index in the block, and fold its writes with their own bookkeeping of the
  locks that move between workers (``fold_delta``).

``run_all`` is where a machine's batch entry point takes over: a machine with a
``batch_runner`` (``BatchRunner``: a compiled runner over a block's transactions) runs the
whole list itself and must give the same receipts and pending writes as running them one by
one; ``finish`` asks it for the paths and value hashes of the keys it wrote from its own
tables (``hashed``), commits them with the rest, and tells it the run was committed. The
parallel executor's shard workers each ``spawn`` a runner of their own and run each round's
declared transactions as one batch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from time import perf_counter
from typing import Final, Generic, Protocol, TypeVar

from paraclear.execution.machine import BlockContext, StateMachine
from paraclear.execution.metrics import BlockMetrics
from paraclear.execution.result import BlockResult, ErrorInfo, Receipt
from paraclear.state import AccessSet, Key, Lock, State, StateView, TxFailure
from paraclear.state.hashed import Flags, HashedWrites

TxT = TypeVar("TxT")
_MISSING: Final = object()
NOT_HELD: Final = object()
"""``BatchRunner.held``'s answer for a key whose latest value is in the run's pending
writes or its data."""


class BatchRunner(Protocol[TxT]):
    """A machine's way of running many transactions at once (``machine.batch_runner``)."""

    def run_batch(
        self, run: BlockRun[TxT], txs: Iterable[TxT], needed: Collection[Lock] | None = None
    ) -> list[Receipt]:
        """Run ``txs`` in order in ``run`` exactly as ``run.run`` one by one would: append
        them to ``run.txs``, their receipts to ``run.receipts``, fold their writes into
        ``run.pending``; return their receipts.

        ``needed``: only the writes of these locks must be in ``run.pending`` on return;
        the runner may hold back the others' (reading them itself in its later batches)
        until it folds them into ``run.pending`` in a later batch or at ``flush``. Whoever
        reads ``run.pending`` otherwise must ``flush`` first. None: every lock."""
        ...

    def flush(self, run: BlockRun[TxT]) -> None:
        """Fold into ``run.pending`` every write its batches held back (``needed``)."""
        ...

    def held(self, run: BlockRun[TxT], key: Key) -> object:
        """The value of ``key`` (None: absent) if its batches of ``run`` hold it back
        (``needed``), else ``NOT_HELD``: ``run.get`` reads through it. It may fold what it
        holds into ``run.pending`` instead and answer ``NOT_HELD``."""
        ...

    def hashed(self, run: BlockRun[TxT]) -> HashedWrites | None:
        """Keys of ``run.pending`` whose paths and value hashes it computed itself, for
        ``State.apply`` to commit without encoding them (None: it hashes none). Called once,
        just before ``run`` is committed."""
        ...

    def hashed_part(
        self,
        run: BlockRun[TxT],
        data: Mapping[Key, object],
        writes: Mapping[Key, object],
        owned: Flags,
    ) -> HashedWrites | None:
        """For a shard worker about to commit ``writes`` (its keys of the block ``run`` is
        its part of, peers' writes included and passed to ``changed``) onto ``data``: the
        keys whose latest write in ``run`` was this runner's, with their paths and value
        hashes, as ``hashed`` gives them; of the top nibbles of tree paths ``owned`` marks
        (it may give others', which the worker leaves), never a key of ``writes`` it did not
        write last, never ``whole`` (None: none)."""
        ...

    def committed(self, run: BlockRun[TxT], state: State) -> None:
        """``run`` (whose transactions it may have run) was committed to ``state``."""
        ...

    def warm_up(self) -> None:
        """Compile (or load from the cache) whatever it runs, before anything is timed."""
        ...

    def spawn(self) -> BatchRunner[TxT]:
        """A runner of its own for the same machine, to run beside this one (the parallel
        executor's shard workers each run their part of a block with one)."""
        ...

    def carry(self, run: BlockRun[TxT], to: BlockRun[TxT], writes: Mapping[Key, object]) -> None:
        """``to`` reads what ``run`` read with ``run``'s pending writes and then ``writes``
        applied: follow ``to`` from here, if this runner followed ``run`` to its end (else
        it loads ``to``'s state on its first batch)."""
        ...

    def changed(self, run: BlockRun[TxT], writes: Mapping[Key, object]) -> None:
        """``writes`` were set in the state ``run`` reads (its ``data`` or ``pending``) by
        someone else after this runner's last batch in ``run``: follow them. (A shard
        worker sets what its peers wrote, and what it ran one by one.)"""
        ...


class BlockRunFinished(RuntimeError):
    """The run was committed by ``finish``: it runs nothing more."""


class BlockRun(Generic[TxT]):
    """The transactions of one block at height ``ctx.height``, run in order over ``data``
    (a committed ``State``'s data, never changed here) with the block's writes so far in
    ``pending``.

    ``txs`` and ``receipts`` list the transactions included so far; a receipt's index is
    its transaction's position among them.
    """

    def __init__(
        self,
        data: Mapping[Key, object],
        machine: StateMachine[TxT],
        ctx: BlockContext,
        pending: dict[Key, object] | None = None,
        runner: BatchRunner[TxT] | None = None,
    ) -> None:
        self.data = data
        self.machine = machine
        if runner is None:
            runner = getattr(machine, "batch_runner", None)
        self.runner: BatchRunner[TxT] | None = runner
        """What runs its batches: ``runner`` if given, else the machine's, if it has one."""
        self.ctx = ctx
        self.pending: dict[Key, object] = {} if pending is None else pending
        self.txs: list[TxT] = []
        self.receipts: list[Receipt] = []
        self.seconds = 0.0
        """Wall time spent in ``run``, ``try_run`` and ``run_all``."""
        self.access_seconds = 0.0
        """Of ``seconds``: wall time spent in ``access``."""
        self.finished = False

    def run(self, tx: TxT) -> Receipt:
        """Run ``tx`` and include it whatever the outcome: a failed transaction is included
        with what ``begin`` wrote (its nonce and fee) and its typed error (through the
        machine's ``batch_runner`` if it has one)."""
        started = perf_counter()
        runner = self.runner
        receipt = runner.run_batch(self, [tx])[0] if runner is not None else self._run(tx, True)
        self.seconds += perf_counter() - started
        return receipt

    def try_run(self, tx: TxT) -> Receipt:
        """Run ``tx`` and include it only if it succeeds; after a failure the run is as it
        was (a planner leaves out what would fail). Returns the receipt either way."""
        started = perf_counter()
        self._take_held()
        receipt = self._run(tx, False)
        self.seconds += perf_counter() - started
        return receipt

    def run_all(self, txs: Iterable[TxT], needed: Collection[Lock] | None = None) -> list[Receipt]:
        """``run`` each of ``txs`` in order (through the machine's ``batch_runner`` if it has
        one); their receipts. ``needed``: the runner may hold back the writes of other locks
        (``BatchRunner.run_batch``); ``get`` still reads them."""
        started = perf_counter()
        runner = self.runner
        if runner is not None:
            receipts = runner.run_batch(self, txs, needed)
        else:
            run = self._run
            receipts = [run(tx, True) for tx in txs]
        self.seconds += perf_counter() - started
        return receipts

    def access(self, tx: TxT) -> AccessSet | None:
        """The machine's access set of ``tx`` (None: undeclared), timed in
        ``access_seconds``."""
        started = perf_counter()
        access = self.machine.access(tx)
        self.access_seconds += perf_counter() - started
        return access

    def attempt(self, tx: TxT, index: int, access: AccessSet | None) -> tuple[Receipt, StateView]:
        """Run ``tx`` as the transaction at ``index`` of the block, enforcing ``access``
        (None: nothing), in a view over the pending writes; fold and include nothing.

        Returns its receipt and its view, whose ``writes`` and ``deltas`` are what including
        it would fold. Raises ``BlockRunFinished`` after ``finish``.
        """
        if self.finished:
            raise BlockRunFinished("this block run was committed")
        machine, ctx = self.machine, self.ctx
        view = StateView(self.data, self.pending, access)
        try:
            machine.begin(tx, view, ctx)
        except TxFailure as failure:
            view.rollback(({}, {}))
            return Receipt(index, False, ErrorInfo.of(failure)), view
        savepoint = view.savepoint()
        try:
            events = machine.apply(tx, view, ctx)
        except TxFailure as failure:
            view.rollback(savepoint)
            return Receipt(index, False, ErrorInfo.of(failure)), view
        return Receipt(index, True, None, tuple(events)), view

    def get(self, key: Key) -> object:
        """The value of ``key`` after the transactions included so far (None if absent),
        held back by the runner (``BatchRunner.held``) or in the pending writes or data."""
        runner = self.runner
        if runner is not None:
            value = runner.held(self, key)
            if value is not NOT_HELD:
                return value
        pending = self.pending
        return pending[key] if key in pending else self.data.get(key)

    def view(self) -> StateView:
        """A view of the state the next transaction will see, with no access set: for
        reading (what it records is discarded). The runner's held writes are folded in
        first."""
        self._take_held()
        return StateView(self.data, self.pending)

    def _take_held(self) -> None:
        """Have the runner fold into the pending writes what its batches held back."""
        if self.runner is not None:
            self.runner.flush(self)

    def finish(self, state: State) -> BlockResult:
        """Commit the pending writes to ``state`` (the state whose data the run read, not
        changed since), compute the root, and return the block's result.

        Raises ``ValueError`` for another state, ``BlockRunFinished`` if already committed.
        """
        if state.data is not self.data:
            raise ValueError("a block run commits only to the state whose data it read")
        if self.finished:
            raise BlockRunFinished("this block run was committed")
        self._take_held()
        self.finished = True
        started = perf_counter()
        timings: dict[str, float] = {}
        runner = self.runner
        hashed = runner.hashed(self) if runner is not None else None
        rows_hashed = perf_counter()
        state.apply(self.pending, timings, hashed)
        if runner is not None:
            runner.committed(self, state)
        committed = perf_counter()
        root = state.root()
        receipts = self.receipts
        metrics = BlockMetrics(
            txs=len(receipts),
            failed=sum(1 for receipt in receipts if not receipt.ok),
            keys_written=len(self.pending),
            execute_seconds=self.seconds,
            access_seconds=self.access_seconds,
            commit_seconds=committed - started,
            encode_seconds=timings["encode"],
            value_hash_seconds=timings["value_hashes"],
            tree_seconds=timings["tree"],
            row_hash_seconds=rows_hashed - started + timings.get("rows_wait", 0.0),
            root_seconds=perf_counter() - committed,
        )
        return BlockResult(receipts, self.pending, root, metrics)

    def include(self, tx: TxT, receipt: Receipt, view: StateView, access: AccessSet | None) -> None:
        """Include the transaction just attempted at the next index, with the access set it
        ran under: fold its view into the pending writes (once) and list it. A subclass may
        extend this to follow what the included transactions change (the access sets are
        not kept here: holding a block's worth of them costs the sequential executor a few
        per cent)."""
        fold(self.pending, self.data, view)
        self.txs.append(tx)
        self.receipts.append(receipt)

    def _run(self, tx: TxT, keep_failed: bool) -> Receipt:
        access = self.access(tx)
        receipt, view = self.attempt(tx, len(self.receipts), access)
        if keep_failed or receipt.ok:
            self.include(tx, receipt, view, access)
        return receipt


def fold(pending: dict[Key, object], data: Mapping[Key, object], view: StateView) -> None:
    """Fold a finished transaction's view into the block's pending writes: its writes, then
    each of its deltas (``fold_delta``)."""
    pending.update(view.writes)
    for key, amount in view.deltas.items():
        fold_delta(pending, data, key, amount)


def fold_delta(
    pending: dict[Key, object], data: Mapping[Key, object], key: Key, amount: int
) -> object:
    """Add ``amount`` to the value of ``key`` so far (in ``pending``, else in ``data``;
    absent is 0), store the sum in ``pending`` and return it."""
    base = pending.get(key, _MISSING)
    if base is _MISSING:
        base = data.get(key)
    value = (base or 0) + amount  # type: ignore[operator]
    pending[key] = value
    return value
