"""Crash safety: SIGKILL the block writer at random moments, restart it on the same directory.

After every kill: each height the writer reported committed is in the log with the root it
reported; the recovered state's root is the log's last root; and every root ever reported
equals the uninterrupted run's. The fast test forks the writer from the test process (a real
process, really killed, with the imports already loaded); the second one runs it as
``python -m paraclear.bench.crashtest``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import select
import subprocess
import sys
import time
from pathlib import Path

import msgspec

import paraclear
from paraclear.bench.crashtest import Plan, run_plan
from paraclear.chain.replay import open_state
from paraclear.chain.storage import BlockStore

KILLS = 24
MID_RUN_KILLS = 12
MAX_EPISODES = 6
SNAPSHOT_EVERY = 3


class Reports:
    """What the writer printed, checked line by line against the uninterrupted run."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.committed: dict[int, bytes] = {}
        self.recovered: list[int] = []
        self.done = False
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self.line(line.decode())

    def line(self, line: str) -> None:
        word, *rest = line.split()
        if word == "done":
            self.done = True
            return
        height, root = int(rest[0]), bytes.fromhex(rest[1])
        assert root == (
            self.plan.roots[height - 1] if height else self.plan.spec.genesis_state().root()
        )
        if word == "committed":
            self.committed[height] = root
        else:
            assert word == "recovered"
            assert height >= max(self.committed, default=0), "a committed block was lost"
            self.recovered.append(height)


def _check_directory(data_dir: Path, reports: Reports) -> int:
    """Every reported block is in the log with its root; recovery reaches the last root.
    (Opened with the spec, as the writer does: a kill while the writer created the database
    leaves an empty one.)"""
    with BlockStore.open(data_dir, reports.plan.spec) as store:
        for height, root in reports.committed.items():
            assert store.root_at(height) == root
        assert store.height >= max(reports.committed, default=0)
    store, state = open_state(data_dir, reports.plan.spec)
    with store:
        assert state.root() == store.last_root
        return store.height


def _assert_log_is_the_uninterrupted_run(data_dir: Path, plan: Plan) -> None:
    """The log holds the plan's blocks (a block appended just before a kill may never have
    been reported) with the uninterrupted run's roots."""
    with BlockStore.open(data_dir) as store:
        stored = list(store.blocks())
    assert [b.block for b in stored] == list(plan.blocks)
    assert [b.state_root for b in stored] == list(plan.roots)


def _forked_writer(data_dir: Path, plan: Plan, fd: int) -> None:
    def emit(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    run_plan(data_dir, plan, emit, snapshot_every=SNAPSHOT_EVERY)


def _read_until(fd: int, reports: Reports, deadline: float, commits: int | None = None) -> None:
    """Read the writer's reports until ``deadline``, or until it has reported ``commits``
    more blocks (or is done)."""
    target = len(reports.committed) + commits if commits is not None else None
    while (wait := deadline - time.monotonic()) > 0:
        if reports.done or (target is not None and len(reports.committed) >= target):
            return
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return
        data = os.read(fd, 65536)
        if not data:
            return
        reports.feed(data)


def _kill_at_a_random_moment(
    fd: int, writer: multiprocessing.process.BaseProcess, reports: Reports, rng: random.Random
) -> None:
    """Let the writer commit 0 or 1 more block, then kill it within the next 40 ms: in
    recovery, mid-execution, mid-append or mid-snapshot."""
    _read_until(fd, reports, time.monotonic() + 10.0, commits=rng.randint(0, 1))
    _read_until(fd, reports, time.monotonic() + rng.uniform(0.0, 0.04))
    writer.kill()  # type: ignore[attr-defined]
    writer.join()


def _kill_episode(data_dir: Path, plan: Plan, rng: random.Random, kills: int) -> list[int]:
    """Kill a writer on ``data_dir`` up to ``kills`` times (fewer if it finishes the plan),
    check the directory after each kill, then let one run finish the plan. Returns the height
    the directory recovers to after each kill."""
    context = multiprocessing.get_context("fork")
    reports = Reports(plan)
    heights_at_kill: list[int] = []
    for _ in range(kills):
        read_fd, write_fd = os.pipe()
        writer = context.Process(target=_forked_writer, args=(data_dir, plan, write_fd))
        writer.start()
        os.close(write_fd)
        _kill_at_a_random_moment(read_fd, writer, reports, rng)
        _read_until(read_fd, reports, time.monotonic() + 1.0)
        os.close(read_fd)
        heights_at_kill.append(_check_directory(data_dir, reports))
        if reports.done:
            break
    finished = run_plan(data_dir, plan, reports.line, snapshot_every=SNAPSHOT_EVERY)
    assert reports.done
    assert _check_directory(data_dir, reports) == len(plan.blocks)
    _assert_log_is_the_uninterrupted_run(data_dir, plan)
    assert finished == len(plan.blocks) - heights_at_kill[-1]
    return heights_at_kill


def test_random_sigkills_lose_no_committed_block_and_reach_the_same_roots(
    tmp_path: Path, plan: Plan
) -> None:
    """At least ``MID_RUN_KILLS`` kills must land while the plan is unfinished. On a loaded
    machine the writer can run several blocks ahead of the reader between two kills and
    finish the plan early; the test then starts another episode on a fresh directory
    instead of counting fewer kills."""
    rng = random.Random(20261125)
    killed_mid_run: list[int] = []
    episodes: list[list[int]] = []
    while len(killed_mid_run) < MID_RUN_KILLS and len(episodes) < MAX_EPISODES:
        heights = _kill_episode(tmp_path / f"chain{len(episodes)}", plan, rng, KILLS)
        episodes.append(heights)
        killed_mid_run += [h for h in heights if 0 < h < len(plan.blocks)]
    assert len(killed_mid_run) >= MID_RUN_KILLS, episodes


def test_the_writer_run_as_a_command_survives_kills_after_reporting_commits(
    tmp_path: Path, plan: Plan
) -> None:
    plan_file = tmp_path / "plan.msgpack"
    plan_file.write_bytes(msgspec.msgpack.encode(plan))
    data_dir = tmp_path / "chain"
    env = {**os.environ, "PYTHONPATH": str(Path(paraclear.__file__).parents[1])}
    command = [
        sys.executable,
        "-m",
        "paraclear.bench.crashtest",
        "run",
        str(data_dir),
        str(plan_file),
        "--snapshot-every",
        str(SNAPSHOT_EVERY),
    ]
    reports = Reports(plan)
    for kill_after in (3, 5, None):
        writer = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
        assert writer.stdout is not None
        before = len(reports.committed)
        while kill_after is None or len(reports.committed) < before + kill_after:
            line = writer.stdout.readline()
            if not line:
                break
            reports.feed(line)
        if kill_after is not None:
            writer.kill()
        reports.feed(writer.stdout.read())
        assert writer.wait() == (0 if kill_after is None else -9)
        _check_directory(data_dir, reports)
    assert reports.done and len(reports.recovered) == 3
    _assert_log_is_the_uninterrupted_run(data_dir, plan)
