"""How a shard worker runs with its machine's batch runner (``BatchRunner``).

Each worker has a runner of its own (``spawn``). Each stretch of a round's declared
transactions that this worker reports runs as one batch (``run_batch``), in a ``BlockRun``
whose pending writes are that batch's alone, read through the block's writes so far; the
worker then folds them in as it folds one transaction's, and tells the runner what peers
and one-by-one transactions set in between (``changed``). A lock sent after a batch carries
its contents at the batch's end, which is what its reader needs: a later write of the lock
in the same round on this worker would come after the reader in block order, and the
schedule puts that in a later round.

After a committed block the runner keeps what it holds (a compiled engine's tables) for
the next block (``carry``), told what differs (``carried``): what peers handed over at the
end and the pure deltas' sums. The worker keeps its copy of locks owned elsewhere as the
runner holds them, and when a later block sends such a lock again, tells the runner only
what changed in between (``ShardWorker._hold``).

A batch's runner folds in only the writes of the locks sent after it (``needed``) and may
hold back the rest until a later batch; the worker ``settle``s (``BatchRunner.flush``)
before it runs a transaction alone and before it hands locks to their owners at the end.
A held-back lock is never one a peer sends here: a peer needs it only after this worker
sent it, and sending it folds it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from msgspec.structs import replace

from paraclear.execution.task import LockData, WorkerLost
from paraclear.state import Key, Lock

if TYPE_CHECKING:
    from paraclear.execution.shard import ShardWorker


def run_batch(
    worker: ShardWorker, positions: Sequence[int], out: list[list[tuple[Lock, LockData]]]
) -> None:
    """Run the transactions at ``positions`` (declared, reported by ``worker``) as one batch
    of its runner, in a run over the block's writes so far whose own pending writes are the
    batch's alone; fold those in as ``ShardWorker._run_each`` would (a pure delta is the
    batch's sum less the committed value) and queue the locks sent after them.

    The runner may hold back the writes of locks not sent after the batch (``needed``), for
    a later batch or ``settle`` to fold in: an account written in several rounds is then
    written out once. The worker ``settle``s before anything else reads its writes."""
    task, runner = worker.task, worker.runner
    assert runner is not None
    if task.die_after is not None and worker.ran <= task.die_after < worker.ran + len(positions):
        raise WorkerLost(f"worker {worker.index} lost (injected)")
    sends = task.sends
    needed = {lock for position in positions for _, lock in sends.get(position, ())}
    worker.held = True
    batch = worker.batch
    written: dict[Key, object] = {}
    batch.pending = written
    txs = task.txs
    receipts = runner.run_batch(batch, [txs[position] for position in positions], needed)
    worker.receipts += [
        replace(receipt, index=position)
        for receipt, position in zip(receipts, positions, strict=True)
    ]
    worker.ran += len(positions)
    worker.batched += len(positions)
    _fold(worker, written)
    by_lock = worker.pending_by_lock
    if sends:
        for position in positions:
            for dest, lock in sends.get(position, ()):
                out[dest].append((lock, dict(by_lock.get(lock, ()))))


def settle(worker: ShardWorker) -> None:
    """Fold in the writes ``worker``'s runner held back from its batches (``needed``)."""
    if not worker.held:
        return
    assert worker.runner is not None
    worker.held = False
    written: dict[Key, object] = {}
    worker.batch.pending = written
    worker.runner.flush(worker.batch)
    _fold(worker, written)


def _fold(worker: ShardWorker, written: dict[Key, object]) -> None:
    """Fold a batch's pending writes into ``worker``'s block writes."""
    data, pending, by_lock = worker.data, worker.pending, worker.pending_by_lock
    pure, sums, tracked = worker.task.pure_deltas, worker.delta_sums, worker.tracked
    for key, value in written.items():
        lock = key[:2]
        if lock in pure:
            sums[key] = sums.get(key, 0) + value - (data.get(key) or 0)  # type: ignore[operator]
            continue
        pending[key] = value
        if lock in tracked:
            contents = by_lock.get(lock)
            if contents is None:
                contents = by_lock[lock] = {}
            contents[key] = value


def carried(worker: ShardWorker) -> dict[Key, object]:
    """What differs, after ``worker`` committed, between the state its batch runner
    followed in the block and the worker's data: the sums of pure deltas. (What peers handed
    over at the end the runner took at the commit, with ``changed``; the worker keeps its
    writes of locks owned elsewhere as they are in the runner: ``ShardWorker._keep``.)"""
    data = worker.data
    return {key: data.get(key) for key in worker.delta_sums}
