"""A live node SIGKILLed at random moments loses no acknowledged transaction.

The runner (``tests/node/node_runner.py``) submits signed orders to a node with running
threads and prints every inclusion the node acknowledged. The test kills it at random
moments, many times, restarts it on the same directory, and checks after each restart that
every acknowledged transaction is in the stored block at the height and index it was
acknowledged with, and that the recovered node has the stored root. At the end a replay
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
from paraclear.node.envelope import decode_signed, tx_id
from paraclear.node.replay import replay
from paraclear.node.storage import BlockStore

KILLS = 12


def _read_acks(
    process: subprocess.Popen[bytes], until: float, acks: list[tuple[int, int, str]]
) -> None:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], max(until - time.monotonic(), 0))
        if not ready:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        buffer += data
        *lines, buffer = buffer.split(b"\n")
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
        _read_acks(process, time.monotonic() + rng.uniform(1.0, 2.5), acks)
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
