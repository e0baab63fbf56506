"""One block through the sequential executor, end to end, timed stage by stage.

The stages, in seconds of wall time:

* ``decode``: the block's wire bytes (msgpack of ``Block[Transaction]``, as the block store
  keeps it) decoded into transactions by msgspec;
* ``access``: ``machine.access`` of every transaction, timed in a pass of its own over the
  decoded block just before the executor runs it (the executor computes each access set
  once more as it runs the transaction: that time is taken out of ``execute``);
* ``execute``: the executor's execution time (``BlockMetrics.execute_seconds``: begin, the
  handler, rollback on failure, folding the writes, the receipt objects) less ``access``;
* ``receipts``: the block's receipts encoded as the block store keeps them (``WireCodec``);
* ``commit``: ``State.apply`` of the block's writes (``BlockMetrics.commit_seconds``);
* ``root``: ``State.root`` after it (``BlockMetrics.root_seconds``);
* ``other``: the rest of the executor's wall time: chiefly the cyclic garbage collection
  that the executor defers to the end of the block (it pauses the collector while the
  block runs; the first allocation after runs the collections the block's allocations
  were owed, walking the state's objects: 2-3 % of a block at 1,000 accounts, near 10 % at
  10,000).

``total`` is decode + the executor's wall time + receipts: the separate access pass is not
counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter, process_time
from typing import Final

import msgspec

from paraclear.clearing import ClearingMachine
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, BlockResult, execute_block
from paraclear.execution.wire import WireCodec
from paraclear.state import State

STAGES: Final = ("decode", "access", "execute", "receipts", "commit", "root", "other")
_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Block[Transaction])


@dataclass(frozen=True)
class StageTimes:
    """Seconds of one block in each stage (see the module docstring)."""

    decode: float
    access: float
    execute: float
    receipts: float
    commit: float
    root: float
    other: float
    cpu: float
    """Not a stage: the process's CPU seconds over the whole run, every thread's (a figure
    that other processes on a loaded machine disturb less than wall time)."""

    @property
    def total(self) -> float:
        """Seconds end to end: the sum of the stages."""
        return (
            self.decode + self.access + self.execute + self.receipts + self.commit + self.root
        ) + self.other

    @property
    def executor(self) -> float:
        """Seconds of the sequential executor alone (access, execute, commit, root, other)."""
        return self.total - self.decode - self.receipts


def encode_block(block: Block[Transaction]) -> bytes:
    """``block`` in its wire form (what ``run_staged`` decodes)."""
    return _encoder.encode(block)


def run_staged(
    state: State, data: bytes, machine: ClearingMachine
) -> tuple[BlockResult, bytes, StageTimes]:
    """Decode the block in ``data``, execute it on ``state`` sequentially and encode its
    receipts. Returns the result, the encoded receipts and the seconds of each stage."""
    codec = WireCodec(machine)
    cpu_started = process_time()
    started = perf_counter()
    block = _decoder.decode(data)
    decoded = perf_counter()
    access = machine.access
    for tx in block.txs:
        access(tx)
    accessed = perf_counter()
    result = execute_block(state, block, machine)
    executed = perf_counter()
    receipts = codec.encode_receipts(result.receipts)
    encoded = perf_counter()
    cpu = process_time() - cpu_started
    metrics = result.metrics
    executor = executed - accessed
    access_seconds = accessed - decoded
    times = StageTimes(
        decode=decoded - started,
        access=access_seconds,
        execute=max(0.0, metrics.execute_seconds - access_seconds),
        receipts=encoded - executed,
        commit=metrics.commit_seconds,
        root=metrics.root_seconds,
        other=max(
            0.0,
            executor - metrics.execute_seconds - metrics.commit_seconds - metrics.root_seconds,
        ),
        cpu=cpu,
    )
    return result, receipts, times
