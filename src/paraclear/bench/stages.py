"""One block through the sequential executor, end to end, timed stage by stage.

The stages, in seconds of wall time:

* ``decode``: the block's wire bytes (msgpack of ``Block[Transaction]``, as the block store
  keeps it) decoded into transactions by msgspec;
* ``access``: ``machine.access`` of the transactions the executor computed access sets for,
  timed inside it (``BlockMetrics.access_seconds``; the compiled engine computes none for
  what its kernels run);
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

``total`` is decode + the executor's wall time + receipts.

Two stages are split into parts (``PARTS``; each part's seconds are within its stage's, and
``rest`` is what the parts leave of it):

* ``commit``: ``State.apply``'s own timings: ``encode`` (each changed key's path, comparison
  and canonical encoding), ``value_hashes`` and ``tree``; and ``rows``, the compiled
  engine's encoding and hashing of the hot keys from its tables (``BatchRunner.hashed``);
* ``execute``, for the compiled engine: its ``EngineTimings`` (glue, kernels, receipt
  objects, flush, the reference handlers, table loads).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from time import perf_counter, process_time
from typing import Final

import msgspec

from paraclear.clearing import ClearingMachine
from paraclear.clearing.kernels.timings import PARTS as ENGINE_PARTS
from paraclear.clearing.kernels.timings import engine_timings
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, BlockResult, execute_block
from paraclear.execution.wire import WireCodec
from paraclear.state import State

STAGES: Final = ("decode", "access", "execute", "receipts", "commit", "root", "gc", "other")
PARTS: Final = {
    "execute": (*ENGINE_PARTS, "rest"),
    "commit": ("encode", "value_hashes", "tree", "rows", "rest"),
}
"""The parts of the stages that are split, each stage's in the order reports show them."""
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
    parts: dict[str, dict[str, float]]
    """Seconds of each part of the split stages (``PARTS``), by stage; ``execute`` only for
    the compiled engine."""
    kernel_txs: int = 0
    """Transactions the compiled engine's kernels ran (0 for the reference engine): over
    ``parts["execute"]["kernels"]``, the kernels' own rate."""

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


def decode_block(data: bytes) -> Block[Transaction]:
    """The block ``encode_block`` wrote into ``data``, as ``run_staged`` decodes it."""
    return _decoder.decode(data)


def run_staged(
    state: State, data: bytes, machine: ClearingMachine
) -> tuple[BlockResult, bytes, StageTimes]:
    """Decode the block in ``data``, execute it on ``state`` sequentially and encode its
    receipts. Returns the result, the encoded receipts and the seconds of each stage."""
    codec = WireCodec(machine)
    engine = engine_timings(machine)
    with _GcClock() as collector:
        cpu_started = process_time()
        marks = [(perf_counter(), 0.0)]
        block = decode_block(data)
        marks.append((perf_counter(), collector.seconds))
        before = engine.copy() if engine is not None else None
        result = execute_block(state, block, machine)
        marks.append((perf_counter(), collector.seconds))
        receipts = codec.encode_receipts(result.receipts)
        marks.append((perf_counter(), collector.seconds))
        cpu = process_time() - cpu_started
    decode, executor, encode = (
        (end - start) - (end_gc - start_gc) for (start, start_gc), (end, end_gc) in pairwise(marks)
    )
    metrics = result.metrics
    execute = metrics.execute_seconds - metrics.access_seconds
    commit = (
        metrics.encode_seconds,
        metrics.value_hash_seconds,
        metrics.tree_seconds,
        metrics.row_hash_seconds,
    )
    parts = {"commit": _split("commit", metrics.commit_seconds, commit)}
    kernel_txs = 0
    if engine is not None and before is not None:
        spent = engine.since(before)
        parts["execute"] = _split("execute", execute, [getattr(spent, p) for p in ENGINE_PARTS])
        kernel_txs = spent.kernel_txs
    times = StageTimes(
        decode=decode,
        access=metrics.access_seconds,
        execute=execute,
        receipts=encode,
        commit=metrics.commit_seconds,
        root=metrics.root_seconds,
        gc=marks[-1][1],
        other=max(
            0.0,
            executor - metrics.execute_seconds - metrics.commit_seconds - metrics.root_seconds,
        ),
        cpu=cpu,
        parts=parts,
        kernel_txs=kernel_txs,
    )
    return result, receipts, times


def _split(stage: str, seconds: float, parts: Sequence[float]) -> dict[str, float]:
    """The seconds of each part of ``stage`` (``PARTS``), given all but ``rest``: what
    they leave of the stage's ``seconds``."""
    return dict(zip(PARTS[stage], (*parts, max(0.0, seconds - sum(parts))), strict=True))


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
