"""API front-end processes (``paraclear serve --frontends N``): nothing acknowledged is lost
when a front-end dies, its clients carry on, and a front-end that loses its core refuses
what needs the core with a typed error instead of hanging.

(The API's own tests run through a front-end as well: ``tests/node/test_api.py``; killing
the core with front-ends up: ``tests/node/test_bench_chaos.py``.)
"""

from __future__ import annotations

import asyncio
import base64
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from paraclear.api import link
from paraclear.api.app import NodeApp
from paraclear.api.frontend import READY, CoreClient, CoreUnavailable
from paraclear.bench.load import LOT, MID, PERP, TICK, logged_tx_ids, setup_market, signed_b64
from paraclear.chain.core import NodeConfig
from paraclear.chain.snapshot import encode_entries
from paraclear.chain.tape import Tape
from paraclear.clearing.transactions import Deposit, OrderType, PlaceOrder, Side
from paraclear.client.async_client import AsyncClient
from paraclear.client.envelope import Keypair, decode_signed, encode_signed, sign
from paraclear.client.rpc_errors import RpcError
from paraclear.client.subscription import ConnectionClosed

CHAIN = "paraclear-local"
WINDOW = 8


class Trader:
    """One account sending orders through whichever front-end the kernel gives it, and
    connecting again whenever its connection dies."""

    def __init__(self, key: Keypair, url: str) -> None:
        self.key = key
        self.url = url
        self.acked: list[str] = []
        self.reconnects = 0
        self.acked_after_reconnect = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                client = await AsyncClient.connect(self.url, timeout=60)
            except (OSError, aiohttp.ClientError):  # a front-end went down meanwhile: again
                await asyncio.sleep(0.1)
                continue
            try:
                await client.auth(self.key)
                await self._send(client, stop)
            except (ConnectionClosed, RpcError, TimeoutError, OSError, aiohttp.ClientError):
                pass
            finally:
                await client.close()
            self.reconnects += 1

    async def _send(self, client: AsyncClient, stop: asyncio.Event) -> None:
        nonce = await client.call("public/get_next_nonce", {"account": self.key.account})
        pending: set[asyncio.Task[None]] = set()
        while not stop.is_set() and client.closed is None:
            while len(pending) >= WINDOW:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.create_task(self._order(client, nonce)))
            nonce += 1
            await asyncio.sleep(0)
        if pending:
            await asyncio.wait(pending)

    async def _order(self, client: AsyncClient, nonce: int) -> None:
        side = Side.BUY if nonce % 2 else Side.SELL
        tx = PlaceOrder(
            sender=self.key.account,
            nonce=nonce,
            instrument=PERP.name,
            side=side,
            kind=OrderType.IOC,  # nothing rests: no open-order limit is reached
            price=MID + (-1 if side is Side.BUY else 1) * TICK,
            size=LOT,
        )
        signed, ident = signed_b64(self.key, tx)
        try:
            await client.call(f"private/{side.value}", {"signed_tx": signed})
        except (ConnectionClosed, RpcError, TimeoutError, OSError):
            return  # unanswered: it may or may not be in a block
        self.acked.append(ident)
        if self.reconnects:
            self.acked_after_reconnect += 1


async def _until(condition: Any, timeout: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_killed_frontends_lose_no_acknowledged_order_and_clients_carry_on(
    tmp_path: Path,
) -> None:
    config = NodeConfig(data_dir=tmp_path / "chain", block_interval=0.02)
    app = NodeApp(config, frontends=2)
    app.start()
    keys = [Keypair.from_seed_int(1_000 + n) for n in range(3)]
    traders = [Trader(key, app.url) for key in keys]
    frontends = app.api.frontends
    assert frontends is not None

    async def scenario() -> None:
        await setup_market(app.url, config.operator, keys)
        stop = asyncio.Event()
        running = [asyncio.create_task(t.run(stop)) for t in traders]
        await _until(lambda: all(len(t.acked) >= 20 for t in traders))
        os.kill(frontends.pids[0], signal.SIGKILL)  # its clients go on through the other
        before = [len(t.acked) for t in traders]
        await _until(
            lambda: all(len(t.acked) >= n + 20 for t, n in zip(traders, before, strict=True))
        )
        await _until(lambda: frontends.restarts == 1)
        for pid in frontends.pids:  # every client loses its connection mid-flight
            os.kill(pid, signal.SIGKILL)
        await _until(lambda: all(t.acked_after_reconnect >= 20 for t in traders))
        await _until(lambda: frontends.restarts == 3)  # each was started again
        stop.set()
        await asyncio.gather(*running)

    try:
        asyncio.run(scenario())
    finally:
        app.stop()
    logged = logged_tx_ids(config.data_dir)
    acked = [ident for trader in traders for ident in trader.acked]
    assert all(trader.reconnects >= 1 for trader in traders)
    assert [ident for ident in acked if ident not in logged] == []
    assert all(logged[ident] == 1 for ident in acked)


EMPTY = link.Snapshot(0, 0, b"", "standard", encode_entries({}), {}, pickle.dumps(Tape()))
"""The snapshot of a chain without blocks."""


class FakeCore:
    """A core's end of the link that sends a snapshot of no blocks, takes what a front-end
    sends and answers nothing: the test closes it under the front-end."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.received: list[link.Message] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(link.encode(link.Hello(CHAIN, ["public/test", "public/get_time"])))
        writer.write(link.encode(EMPTY))
        try:
            while True:
                self.received.append(await link.read(reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


def _frontend(socket_path: str, grace: float) -> tuple[subprocess.Popen[bytes], int]:
    command = [
        sys.executable, "-m", "paraclear.api.frontend", "--socket", socket_path,
        "--port", "0", "--grace", str(grace),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith(READY), line
    return process, int(line.split()[-1])


def _deposit(seed: int) -> tuple[str, bytes]:
    key = Keypair.from_seed_int(seed)
    signed = sign(key, CHAIN, Deposit(sender=key.account, nonce=0, amount=1))
    raw = encode_signed(signed)
    return base64.b64encode(raw).decode(), raw


@pytest.mark.parametrize("grace", [30.0, 0.0])
def test_a_frontend_that_loses_its_core_refuses_with_a_typed_error(grace: float) -> None:
    socket_path = os.path.join(tempfile.mkdtemp(prefix="paraclear-test-"), "core.sock")

    async def scenario() -> subprocess.Popen[bytes]:
        core = FakeCore(socket_path)
        await core.start()
        process, port = await asyncio.to_thread(_frontend, socket_path, grace)
        client = await AsyncClient.connect(f"ws://127.0.0.1:{port}/ws/api/v2", timeout=60)
        signed, raw = _deposit(1)
        waiting = asyncio.create_task(client.call("public/send_transaction", {"signed_tx": signed}))
        await _until(lambda: any(isinstance(m, link.Submit) for m in core.received))
        submitted = next(m for m in core.received if isinstance(m, link.Submit))
        assert [envelope.raw for envelope in submitted.envelopes] == [raw]  # bytes, checked
        assert (
            decode_signed(submitted.envelopes[0].raw).tx.sender == Keypair.from_seed_int(1).account
        )
        core.cut()
        with pytest.raises(RpcError) as in_flight:
            await waiting
        assert in_flight.value.data is not None
        assert in_flight.value.data["error"] == "core_unavailable"
        if grace:  # new requests are refused at once, orders and forwarded calls alike
            for method, params in (
                ("public/send_transaction", {"signed_tx": _deposit(2)[0]}),
                ("public/test", {}),
            ):
                with pytest.raises(RpcError) as refused:
                    await client.call(method, params)
                assert refused.value.data is not None
                assert refused.value.data["error"] == "core_unavailable"
            process.send_signal(signal.SIGTERM)
        await client.close()
        return process

    process = asyncio.run(scenario())
    assert process.wait(60) == 1  # it served, and it lost its core


def test_an_order_whose_client_went_away_before_it_was_checked_is_not_sent() -> None:
    socket_path = os.path.join(tempfile.mkdtemp(prefix="paraclear-test-"), "core.sock")
    key = Keypair.from_seed_int(1)
    signed = [sign(key, CHAIN, Deposit(sender=key.account, nonce=n, amount=1)) for n in (0, 1)]

    async def scenario() -> list[bytes]:
        core = FakeCore(socket_path)
        await core.start()
        client = CoreClient(socket_path)
        await client.connect()
        gone = asyncio.create_task(client.include(signed[0], views=False))
        kept = asyncio.create_task(client.include(signed[1], views=False))
        await asyncio.sleep(0)
        gone.cancel()
        await _until(lambda: any(isinstance(m, link.Submit) for m in core.received))
        core.cut()
        with pytest.raises(CoreUnavailable):  # the kept one is still answered
            await kept
        client.close()
        return [e.raw for m in core.received if isinstance(m, link.Submit) for e in m.envelopes]

    assert asyncio.run(scenario()) == [encode_signed(signed[1])]
