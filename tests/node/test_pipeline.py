"""The producer's pipeline: block n+1 is taken and built while block n is made durable.

Driven step by step through ``Node._produce`` (what the producer thread runs) with the
persisting on a thread of its own, and end to end with the producer thread running.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from paraclear.api.app import NodeApp
from paraclear.chain.core import Inclusion, Node
from paraclear.chain.storage import BlockStore, StorageFull
from paraclear.client.envelope import SignedTx
from tests.node.test_storage_full import TRADERS, _config, _orders, _produce, _setup


def _admit(node: Node, first_nonce: int, count: int) -> list[Future[Inclusion]]:
    futures = [node.submit(s) for s in _orders(first_nonce, count)]
    node.admit_pending()
    return futures


def test_the_next_block_is_built_while_the_one_before_persists(tmp_path: Path) -> None:
    node = Node(_config(tmp_path), clock=lambda: 1_800_000_000)
    persister = ThreadPoolExecutor(1)
    try:
        _setup(node)
        height = node.height
        first = _admit(node, 1, 30)
        persist = node._produce(None)
        assert persist is not None and node.state_lock.locked()  # committed, not durable
        assert node.height == height  # readers still see the durable height
        in_flight = persister.submit(persist)
        second = _admit(node, 11, 30)
        persist = node._produce(in_flight)  # built meanwhile, committed after it
        assert persist is not None and in_flight.result() is not None
        assert persist() is not None
        assert [f.result(timeout=5).height for f in first] == [height + 1] * 30
        assert [f.result(timeout=5).height for f in second] == [height + 2] * 30
        assert (node.height, node.store.height) == (height + 2, height + 2)
        assert node.state.root() == node.store.last_root and not node.state_lock.locked()
    finally:
        persister.shutdown()
        node.stop()


def test_no_room_for_a_block_drops_the_one_built_meanwhile_and_restores_state(
    tmp_path: Path,
) -> None:
    node = Node(_config(tmp_path), clock=lambda: 1_800_000_000)
    persister = ThreadPoolExecutor(1)
    try:
        _setup(node)
        height, root, depth = node.height, node.state.root(), dict(node.depth)
        nonces = [node.next_nonce(t.account) for t in TRADERS]
        node.store.max_bytes = 1  # no room to grow
        first = _admit(node, 1, 30)
        persist = node._produce(None)
        assert persist is not None
        in_flight = persister.submit(persist)
        second = _admit(node, 11, 30)
        assert node._produce(in_flight) is None  # its block had no room: this one is dropped
        assert in_flight.result() is None
        for future in first + second:
            assert isinstance(future.exception(timeout=0), StorageFull)
        assert isinstance(node.storage_full, StorageFull)
        assert (node.height, node.store.height, node.state.root()) == (height, height, root)
        assert node.depth == depth and [node.next_nonce(t.account) for t in TRADERS] == nonces
        node.store.max_bytes = None
        assert node.check_room()
        included = [future.result(timeout=0) for future in _produce(node, _orders(1, 30))]
        assert {inclusion.height for inclusion in included} == {height + 1}
    finally:
        persister.shutdown()
        node.stop()
    with BlockStore.open(tmp_path) as store:
        assert store.height == height + 1


def test_a_reader_holding_the_state_lock_sees_state_log_and_height_agree(
    tmp_path: Path,
) -> None:
    """While the producer thread runs blocks back to back, whoever holds ``state_lock``
    finds the state's root equal to the log's last root at ``height``."""
    seen: list[tuple[int, bool]] = []
    stop = threading.Event()
    with NodeApp(_config(tmp_path)) as app:
        node = app.node

        def read() -> None:
            while not stop.is_set():
                with node.state_lock:
                    agree = node.state.root() == node.store.last_root
                    seen.append((node.height, agree and node.height == node.store.height))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            _setup_through(node)
            for first in range(1, 200, 10):
                futures = [node.submit(s) for s in _orders(first, 30)]
                for future in futures:
                    future.result(timeout=30)
        finally:
            stop.set()
            reader.join()
    heights = {height for height, _ in seen}
    assert len(heights) > 5  # the reader saw many blocks go by
    assert all(agree for _, agree in seen)


def _setup_through(node: Node) -> None:
    """The market's setup, through the producer thread."""
    from tests.node.test_storage_full import _setup_txs

    for future in [node.submit(s) for s in _setup_txs()]:
        assert future.result(timeout=30).receipt.ok


def test_a_block_starts_at_once_when_none_is_in_flight(tmp_path: Path) -> None:
    """With an interval far longer than the test's timeout, transactions are included all
    the same: an idle producer does not wait for the interval."""
    with NodeApp(_config(tmp_path, block_interval=3600.0)) as app:
        node = app.node
        _setup_through(node)  # each setup block started at once
        for first in (1, 11):
            heights = {f.result(timeout=30).height for f in _submit(node, _orders(first, 30))}
            assert heights and max(heights) == node.height


def test_snapshots_are_paced_by_snapshot_seconds(tmp_path: Path) -> None:
    """``snapshot_every`` names every height, but a snapshot younger than
    ``snapshot_seconds`` makes the producer skip the next ones; with 0 every one is taken."""
    for pace, expected in ((3600.0, 1), (0.0, None)):
        path = tmp_path / str(pace)
        node = Node(_config(path, snapshot_every=1, snapshot_seconds=pace), clock=lambda: 1)
        try:
            _setup(node)
            for first in (1, 11, 21):
                _produce(node, _orders(first, 10))
            taken = node.store.snapshot_heights()
            assert len(taken) == (expected or min(node.height, node.store.keep_snapshots))
            assert taken[-1] == (node.store.snapshot_heights()[0] if expected else node.height)
        finally:
            node.stop()


def _submit(node: Node, signed: list[SignedTx]) -> list[Future[Inclusion]]:
    return [node.submit(s) for s in signed]
