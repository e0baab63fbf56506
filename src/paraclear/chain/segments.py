"""Replay in parallel: the chain split at its snapshots, each segment verified on its own.

A chain with snapshots at heights s1 < s2 < ... < sk splits into segments (0, s1], (s1, s2],
..., (sk, tip]. ``verify_segment`` loads the state at the segment's start (genesis, or the
snapshot there, its root checked against the log), re-executes the segment's blocks with
``paraclear.chain.replay``'s own loop (every root and every receipt compared with the log),
and compares the state at its end with the snapshot stored there, byte for byte. Segments
need nothing from each other, so ``replay_segments`` runs them at once on any
``paraclear.cluster`` backend (local worker processes, or Ray: each task opens the data
directory itself, so a cluster's workers need the directory at the same path).

The first divergence by height is the answer: a tampered block is named by the segment that
re-executes it, whatever order the segments finish in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from paraclear.chain.replay import ReplayReport, check_snapshot, reexecute
from paraclear.chain.snapshot import decode_state
from paraclear.chain.storage import BlockStore, CorruptStore, RootMismatch
from paraclear.clearing.machine import ClearingMachine
from paraclear.cluster import Backend, run_tasks
from paraclear.execution import SequentialExecutor


@dataclass(frozen=True)
class Segment:
    """Blocks ``start + 1`` to ``end`` of the chain in ``data_dir``; ``start`` is 0
    (genesis) or a snapshot's height."""

    data_dir: str
    start: int
    end: int


@dataclass(frozen=True)
class SegmentResult:
    """What one segment's re-execution found; ``mismatch_height`` is None if it all matched."""

    segment: Segment
    blocks: int
    txs: int
    seconds: float
    mismatch_height: int | None = None
    problem: str = ""
    """What differed: a root, receipts, the snapshot at the end, or a storage error."""


@dataclass
class SegmentsReport:
    """A parallel replay: every segment's result, and the first divergence by height."""

    tip: int
    segments: list[SegmentResult] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time from the first task submitted to the last result."""
    backend: str = ""
    errors: list[str] = field(default_factory=list)
    """Tasks that raised instead of returning (a lost worker after Ray's retries)."""

    @property
    def blocks(self) -> int:
        return sum(s.blocks for s in self.segments)

    @property
    def txs(self) -> int:
        return sum(s.txs for s in self.segments)

    @property
    def first_mismatch(self) -> SegmentResult | None:
        bad = [s for s in self.segments if s.mismatch_height is not None]
        return min(bad, key=lambda s: s.mismatch_height or 0, default=None)

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None and not self.errors and self.blocks == self.tip

    def as_dict(self) -> dict[str, object]:
        first = self.first_mismatch
        return {
            "ok": self.ok,
            "tip": self.tip,
            "blocks": self.blocks,
            "txs": self.txs,
            "seconds": round(self.seconds, 6),
            "blocks_per_second": round(self.blocks / self.seconds, 1) if self.seconds else 0,
            "segments": len(self.segments),
            "backend": self.backend,
            "mismatch_height": None if first is None else first.mismatch_height,
            "mismatch": None if first is None else first.problem,
            "errors": self.errors,
        }


def plan_segments(data_dir: str | Path) -> list[Segment]:
    """The chain in ``data_dir`` cut at every snapshot."""
    with BlockStore.open(data_dir) as store:
        cuts = [h for h in store.snapshot_heights() if 0 < h < store.height]
        tip = store.height
    starts = [0, *cuts]
    ends = [*cuts, tip]
    return [Segment(str(data_dir), s, e) for s, e in zip(starts, ends, strict=True) if e > s]


def verify_segment(segment: Segment) -> SegmentResult:
    """Re-execute one segment against the log (see the module docstring)."""
    started = time.perf_counter()
    with BlockStore.open(segment.data_dir) as store:
        state = (
            store.spec.genesis_state()
            if segment.start == 0
            else decode_state(store.snapshot(segment.start).data)
        )
        expected = store.root_at(segment.start)
        if state.root() != expected:
            return SegmentResult(segment, 0, 0, 0.0, segment.start, "the starting snapshot's root")
        # "snapshot": reexecute leaves the snapshots alone; the one at the end is checked here
        report = ReplayReport("snapshot", segment.start, segment.end, 0, 0, 0.0, expected)
        executor = SequentialExecutor(ClearingMachine(store.spec.model()))
        try:
            reexecute(store, state, executor, report, None)
            if report.mismatch is None and segment.end in store.snapshot_heights():
                check_snapshot(store, segment.end, state)
        except CorruptStore as error:
            height = min(segment.start + report.blocks + 1, segment.end)
            return SegmentResult(
                segment,
                report.blocks,
                report.txs,
                _since(started),
                height,
                f"CorruptStore: {error}",
            )
    mismatch = report.mismatch
    if mismatch is None:
        return SegmentResult(segment, report.blocks, report.txs, _since(started))
    what = "state root" if isinstance(mismatch, RootMismatch) else str(mismatch)
    return SegmentResult(segment, report.blocks, report.txs, _since(started), mismatch.height, what)


def _since(started: float) -> float:
    return time.perf_counter() - started


Progress = Callable[[SegmentsReport], None]


def replay_segments(
    data_dir: str | Path, backend: Backend, progress: Progress | None = None
) -> SegmentsReport:
    """Verify every segment of the chain in ``data_dir`` on ``backend``."""
    segments = plan_segments(data_dir)
    report = SegmentsReport(segments[-1].end if segments else 0, backend=backend.describe())
    started = time.perf_counter()
    for outcome in run_tasks(verify_segment, segments, backend):
        if outcome.value is None:
            report.errors.append(f"segment {segments[outcome.index]}: {outcome.error}")
        else:
            report.segments.append(outcome.value)
        report.seconds = time.perf_counter() - started
        if progress is not None:
            progress(report)
    report.segments.sort(key=lambda s: s.segment.start)
    return report
