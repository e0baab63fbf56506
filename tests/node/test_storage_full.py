"""A full store: typed ``StorageFull`` to clients, production stops cleanly, reads go on,
production resumes once there is room; a restart on a still-full store does not die.

"Full" is real SQLite ``SQLITE_FULL``, the error a full disk gives: the database is capped
with ``PRAGMA max_page_count`` (``BlockStore.max_bytes``; a cap below the current size
holds the database at its current size), so no root-only tmpfs is needed.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest

from paraclear.api.app import NodeApp
from paraclear.api.rpc import APPLICATION_ERROR
from paraclear.chain.core import Inclusion, Node, NodeConfig
from paraclear.chain.replay import replay
from paraclear.chain.storage import BlockStore, StorageFull
from paraclear.clearing.transactions import (
    Deposit,
    ListInstrument,
    OracleUpdate,
    OrderType,
    PlaceOrder,
    Side,
)
from paraclear.client.async_client import AsyncClient
from paraclear.client.connection import Client
from paraclear.client.envelope import Keypair, SignedTx, encode_signed, sign
from paraclear.client.rpc_errors import RpcError
from tests.clearing.harness import ONE, PERP, T0, usd

CHAIN = "paraclear-local"
TRADERS = [Keypair.from_seed_int(seed) for seed in (1, 2, 3)]


def _config(path: Path, **overrides: object) -> NodeConfig:
    settings: dict[str, object] = {"block_interval": 0.02, **overrides}
    return NodeConfig(data_dir=path, genesis_time=T0, **settings)  # type: ignore[arg-type]


def _setup(node: Node) -> None:
    for future in _produce(node, _setup_txs()):
        assert future.result(timeout=0).receipt.ok


def _orders(first_nonce: int, count: int) -> list[SignedTx]:
    made = []
    for n, trader in zip(range(count), itertools.cycle(TRADERS)):
        tx = PlaceOrder(
            sender=trader.account,
            nonce=first_nonce + n // len(TRADERS),
            instrument=PERP.name,
            side=Side.BUY if n % 2 else Side.SELL,
            kind=OrderType.LIMIT,
            price=usd(60_000 + (n % 5) * 5),
            size=ONE // 10,
        )
        made.append(sign(trader, CHAIN, tx))
    return made


def _produce(node: Node, signed: list[SignedTx]) -> list[Future[Inclusion]]:
    futures = [node.submit(s) for s in signed]
    node.admit_pending()
    while node.produce_block() is not None:
        pass
    return futures


@pytest.mark.parametrize("executor", ["dry-run", "parallel"])
def test_a_full_store_fails_the_block_typed_keeps_state_and_resumes_with_room(
    tmp_path: Path, executor: str
) -> None:
    node = Node(_config(tmp_path, executor=executor), clock=lambda: T0)
    try:
        _setup(node)
        height, root, depth = node.height, node.state.root(), dict(node.depth)
        nonces = [node.next_nonce(t.account) for t in TRADERS]
        node.store.max_bytes = 1  # no room to grow
        orders = _orders(1, 60)
        for future in _produce(node, orders):
            error = future.exception(timeout=0)
            assert isinstance(error, StorageFull) and error.height == height + 1
        assert isinstance(node.storage_full, StorageFull)
        assert (node.height, node.state.root(), node.store.height) == (height, root, height)
        assert node.depth == depth and [node.next_nonce(t.account) for t in TRADERS] == nonces
        late = _produce(node, orders[:1])[0]  # refused at once while full
        assert isinstance(late.exception(timeout=0), StorageFull)
        assert not node.check_room()
        node.store.max_bytes = None
        assert node.check_room() and node.storage_full is None
        included = [future.result(timeout=0) for future in _produce(node, orders)]
        assert {inclusion.height for inclusion in included} == {height + 1}
    finally:
        node.stop()
    with BlockStore.open(tmp_path) as store:
        assert store.height == height + 1
        assert replay(store, "genesis")[1].ok


async def _send_all(url: str, orders: list[SignedTx]) -> list[object]:
    """Send every order at once; each answer, or the ``RpcError`` it got."""
    async with await AsyncClient.connect(url) as client:
        calls = [
            client.call("public/send_transaction", {"signed_tx": _b64(signed)}) for signed in orders
        ]
        return list(await asyncio.gather(*calls, return_exceptions=True))


def test_clients_get_a_typed_retryable_error_and_reads_go_on(tmp_path: Path) -> None:
    with NodeApp(_config(tmp_path)) as app:
        _wait(lambda: app.node.producing)
        with Client.connect(app.url) as client:
            for signed in _setup_txs():
                client.call("public/send_transaction", {"signed_tx": _b64(signed)})
            height = app.node.height
            app.node.store.max_bytes = 1
            answers = asyncio.run(_send_all(app.url, _orders(1, 150)))
            refused = [a for a in answers if isinstance(a, RpcError)]
            assert refused and all(isinstance(a, RpcError | dict) for a in answers), answers
            for error in refused:
                assert error.code == APPLICATION_ERROR and error.data is not None
                assert error.data["error"] == "storage_full" and error.data["retryable"] == 1
            assert app.node.storage_full is not None and app.node.failure is None
            status = client.call("public/status")
            assert status["height"] == app.node.height and status["storage_full"] is True
            metrics = urllib.request.urlopen(f"{app.thread.http_url}/metrics").read().decode()
            assert re.search(r"^paraclear_storage_full(_\w+)? 1\.0$", metrics, re.M), metrics
            assert client.call("public/get_instruments", {"currency": "any"})
            app.node.store.max_bytes = None
            _wait(lambda: app.node.storage_full is None)
            assert client.call("public/status")["storage_full"] is False
            retried = asyncio.run(_send_all(app.url, _orders(1, 150)))
            assert all(isinstance(a, dict) and a["ok"] for a in retried), retried
        assert app.node.height > height


def test_a_restart_on_a_still_full_store_serves_and_does_not_die_on_its_first_write(
    tmp_path: Path,
) -> None:
    node = Node(_config(tmp_path), clock=lambda: T0)
    _setup(node)
    height = node.height
    node.stop()
    node = Node(_config(tmp_path, max_db_bytes=1))
    node.start()
    try:
        assert node.height == height and node.instruments()
        orders = _orders(1, 150)
        futures = [node.submit(signed) for signed in orders]
        errors = [future.exception(timeout=90) for future in futures]
        assert any(isinstance(error, StorageFull) for error in errors)
        assert node.failure is None and node.producing
        node.store.max_bytes = None
        _wait(lambda: node.storage_full is None)
        landed = sum(error is None for error in errors)
        futures = [node.submit(signed) for signed in orders[landed:]]
        assert all(future.result(timeout=90).receipt for future in futures)
    finally:
        node.stop()


def _setup_txs() -> list[SignedTx]:
    """List the perpetual, publish its index, fund the traders."""
    operator = Keypair.from_seed_int(0)
    oracle = OracleUpdate(
        sender=operator.account,
        nonce=1,
        underlying="BTC",
        index_price=usd(60_000),
        atm_vol_ppm=600_000,
    )
    return [
        sign(operator, CHAIN, ListInstrument(sender=operator.account, nonce=0, instrument=PERP)),
        sign(operator, CHAIN, oracle),
        *(sign(t, CHAIN, Deposit(sender=t.account, nonce=0, amount=usd(100_000))) for t in TRADERS),
    ]


def _b64(signed: SignedTx) -> str:
    return base64.b64encode(encode_signed(signed)).decode()


def _wait(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
