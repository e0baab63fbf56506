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
* ``gc``: Python's cyclic garbage collector, wherever it ran during the block (timed by a
  ``gc.callbacks`` clock and taken out of the stage it interrupted). The executor pauses
  it while the block runs, so the collections the block's allocations are owed run at
  the first allocation after: walking the young objects, and every few blocks the whole
  heap, the state's objects included;
* ``other``: the rest of the executor's wall time (starting the run, building the result).

``total`` is decode + the executor's wall time + receipts: the separate access pass is not
counted twice.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from itertools import pairwise
from time import perf_counter, process_time
from typing import Final

import msgspec

from paraclear.clearing import ClearingMachine
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, BlockResult, execute_block
from paraclear.execution.wire import WireCodec
from paraclear.state import State

STAGES: Final = ("decode", "access", "execute", "receipts", "commit", "root", "gc", "other")
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
    gc: float
    other: float
    cpu: float
    """Not a stage: the process's CPU seconds over the whole run, every thread's (a figure
    that other processes on a loaded machine disturb less than wall time)."""

    @property
    def total(self) -> float:
        """Seconds end to end: the sum of the stages."""
        return (
            self.decode + self.access + self.execute + self.receipts + self.commit + self.root
        ) + (self.gc + self.other)

    @property
    def executor(self) -> float:
        """Seconds of the sequential executor alone: all but decode and receipts (and the
        collector's runs during those two)."""
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
    with _GcClock() as collector:
        cpu_started = process_time()
        marks = [(perf_counter(), 0.0)]
        block = _decoder.decode(data)
        marks.append((perf_counter(), collector.seconds))
        access = machine.access
        for tx in block.txs:
            access(tx)
        marks.append((perf_counter(), collector.seconds))
        result = execute_block(state, block, machine)
        marks.append((perf_counter(), collector.seconds))
        receipts = codec.encode_receipts(result.receipts)
        marks.append((perf_counter(), collector.seconds))
        cpu = process_time() - cpu_started
    decode, access_pass, executor, encode = (
        (end - start) - (end_gc - start_gc) for (start, start_gc), (end, end_gc) in pairwise(marks)
    )
    metrics = result.metrics
    times = StageTimes(
        decode=decode,
        access=access_pass,
        execute=max(0.0, metrics.execute_seconds - access_pass),
        receipts=encode,
        commit=metrics.commit_seconds,
        root=metrics.root_seconds,
        gc=marks[-1][1],
        other=max(
            0.0,
            executor - metrics.execute_seconds - metrics.commit_seconds - metrics.root_seconds,
        ),
        cpu=cpu,
    )
    return result, receipts, times


class _GcClock:
    """Wall seconds spent in the cyclic garbage collector while installed (``with``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = perf_counter()
        else:
            self.seconds += perf_counter() - self._started

    def __enter__(self) -> _GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)
