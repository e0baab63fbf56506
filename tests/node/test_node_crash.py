"""A live node SIGKILLed at random moments loses no acknowledged transaction.

The runner (``tests/node/node_runner.py``) submits signed orders to a node with running
threads and prints every inclusion the node acknowledged. The test kills it at a random
moment within 0.8 s of its first acknowledgement, many times, restarts it on the same
directory, and checks after each restart that every acknowledged transaction is in the
stored block at the height and index it was acknowledged with (the restarted node itself
re-executes the log and checks every root before it serves). At the end a replay
from genesis reproduces every stored root.
"""

from __future__ import annotations

import os
import random
import select
import subprocess
import sys
import time
from pathlib import Path

import paraclear
from paraclear.chain.replay import replay
from paraclear.chain.storage import BlockStore
from paraclear.client.envelope import decode_signed, tx_id

KILLS = 8


def _read_acks(
    process: subprocess.Popen[bytes],
    until: float,
    acks: list[tuple[int, int, str]],
    buffer: bytearray,
) -> None:
    """Collect the ``ack`` lines the runner prints until ``until`` (``buffer`` keeps a
    partial line between calls)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], max(until - time.monotonic(), 0))
        if not ready:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        buffer += data
        *lines, rest = bytes(buffer).split(b"\n")
        buffer[:] = rest
        for line in lines:
            _, height, index, ident = line.decode().split()
            acks.append((int(height), int(index), ident))


def test_random_kills_of_a_live_node_lose_no_acknowledged_transaction(tmp_path: Path) -> None:
    rng = random.Random(11)
    data_dir = tmp_path / "node"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(paraclear.__file__).parents[1]), str(Path(__file__).parents[2])]
        ),
    }
    acks: list[tuple[int, int, str]] = []
    for kill in range(KILLS):
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.node.node_runner", str(data_dir), str(kill)],
            stdout=subprocess.PIPE,
            env=env,
        )
        started, buffer = len(acks), bytearray()
        deadline = time.monotonic() + 60
        while len(acks) == started and time.monotonic() < deadline:  # wait out the start-up
            _read_acks(process, time.monotonic() + 0.05, acks, buffer)
        _read_acks(process, time.monotonic() + rng.uniform(0.0, 0.8), acks, buffer)
        process.kill()
        process.wait()
        with BlockStore.open(data_dir) as store:
            for height, index, ident in acks:
                envelopes = store.block(height).envelopes()
                assert envelopes is not None
                assert tx_id(decode_signed(envelopes[index])) == ident
    assert len(acks) > 100, len(acks)
    with BlockStore.open(data_dir) as store:
        state, report = replay(store, "genesis")
        assert report.mismatch is None and state.root() == store.last_root
        assert store.height > KILLS
