"""``paraclear bench chaos``: SIGKILL a live node under load, many times, and count.

A real node (``paraclear serve`` in a child process, on one data directory) is loaded by
signed traders over its WebSocket API (``public/send_transaction`` with limit and IOC
orders, each trader keeping ``window`` in flight). At a random moment of every round the
node is SIGKILLed, then started again on the same directory; the traders reconnect and go
on from the nonces the node reports. Before a round, with probability ``startup_share``, the
node is also killed while it starts (recovering its state, before it serves). An order
counts as **acknowledged** when the node answered it as included (its block is durable by
then). At the end the node is started once more and stopped cleanly, and its block log is
read:

* **lost**: acknowledged orders that are not in the log;
* **duplicated**: orders in the log more than once, or acknowledged at two heights;
* **replay_ok**: a replay from genesis reproduces every root and receipt.

Before the last restart the directory as the kill left it is copied three times and its
write-ahead log damaged (tail truncated, 20 bytes flipped, deleted): each copy must be
refused at start (``detected``), not opened lower than what was acknowledged (``silent``).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from paraclear.bench.load import LOT, MID, PERP, TICK, logged_tx_ids, setup_market, signed_b64
from paraclear.chain.replay import replay
from paraclear.chain.storage import DB_NAME, AcknowledgedBlocksMissing, BlockStore, StorageError
from paraclear.clearing.transactions import OrderType, PlaceOrder, Side
from paraclear.client.async_client import AsyncClient
from paraclear.client.envelope import Keypair
from paraclear.client.rpc_errors import RpcError
from paraclear.client.subscription import ConnectionClosed

Progress = Callable[[str], None]
WAL: Final = DB_NAME + "-wal"
_READY: Final = "paraclear: serving chain"
_WAL_HEADER: Final = 32
_FRAME_HEADER: Final = 24
"""SQLite's WAL format: a 32-byte file header, then frames of a 24-byte header (salts at
bytes 8..16) and one page."""


class Node:
    """``paraclear serve`` in a child process on ``data_dir``, its standard error in a file."""

    def __init__(self, data_dir: Path, block_interval: float, frontends: int = 0) -> None:
        self.log = data_dir.parent / "serve.log"
        command = [
            sys.executable, "-m", "paraclear", "serve", "--data-dir", str(data_dir),
            "--port", "0", "--block-interval", str(block_interval), "--snapshot-every", "10",
            "--snapshot-seconds", "0", "--frontends", str(frontends),
        ]  # fmt: skip
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stderr=log, stdout=subprocess.DEVNULL)

    def url(self, timeout: float = 120.0) -> str:
        """The API's WebSocket URL, once the node serves. Raises ``RuntimeError`` if it
        exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                if line.startswith(_READY):
                    return line.split(" on ", 1)[1].split()[0]
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("the node did not start in time")

    def kill_within(self, seconds: float) -> None:
        """SIGKILL the node ``seconds`` after it was started (or once it serves, if sooner)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and _READY not in self.log.read_text():
            time.sleep(0.01)
        self.kill()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


class Load:
    """What the traders sent and were told, over every round."""

    def __init__(self, traders: list[Keypair], window: int, seed: int) -> None:
        self.traders = traders
        self.window = window
        self.rng = random.Random(seed)
        self.sent = 0
        self.acked: dict[str, list[int]] = {}
        """Heights each acknowledged order was acknowledged at."""
        self.unanswered = 0
        """Orders in flight when the node died (they may or may not be in the log)."""

    async def round(self, url: str, node: Node, kill_after: float) -> None:
        """Load the node until ``kill_after`` seconds after its first acknowledgement this
        round, then SIGKILL it."""
        clients = [await AsyncClient.connect(url, timeout=60) for _ in self.traders]
        first_ack = asyncio.Event()
        tasks = [
            asyncio.create_task(self._trader(client, trader, first_ack))
            for client, trader in zip(clients, self.traders, strict=True)
        ]
        await asyncio.wait_for(first_ack.wait(), 60)
        await asyncio.sleep(kill_after)
        node.kill()
        await asyncio.gather(*tasks)
        for client in clients:
            await client.close()

    async def _trader(self, client: AsyncClient, trader: Keypair, first_ack: asyncio.Event) -> None:
        nonce = await client.call("public/get_next_nonce", {"account": trader.account})
        pending: set[asyncio.Task[None]] = set()
        while client.closed is None:
            while len(pending) >= self.window:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if client.closed is not None:
                break
            pending.add(asyncio.create_task(self._order(client, trader, nonce, first_ack)))
            nonce += 1
        if pending:
            await asyncio.wait(pending)

    async def _order(
        self, client: AsyncClient, trader: Keypair, nonce: int, first_ack: asyncio.Event
    ) -> None:
        side = self.rng.choice((Side.BUY, Side.SELL))
        tx = PlaceOrder(
            sender=trader.account,
            nonce=nonce,
            instrument=PERP.name,
            side=side,
            kind=self.rng.choice((OrderType.LIMIT, OrderType.IOC)),
            price=MID + self.rng.randint(-3, 3) * TICK,
            size=LOT * self.rng.randint(1, 3),
        )
        signed = signed_b64(trader, tx)
        self.sent += 1
        try:
            result = await client.call("public/send_transaction", {"signed_tx": signed[0]})
        except (ConnectionClosed, TimeoutError, RpcError, OSError):
            self.unanswered += 1
            return
        self.acked.setdefault(signed[1], []).append(int(result["block"]))
        first_ack.set()


def _current_wal_bytes(wal: Path) -> int:
    """Bytes of ``wal`` holding its current frames (those carrying the header's salts;
    after a checkpoint SQLite writes over the file from the start, and older frames
    beyond are dead)."""
    data = wal.read_bytes()
    if len(data) < _WAL_HEADER:
        return len(data)
    page_size = int.from_bytes(data[8:12], "big")
    salts = data[16:24]
    end = _WAL_HEADER
    while end + _FRAME_HEADER + page_size <= len(data) and data[end + 8 : end + 16] == salts:
        end += _FRAME_HEADER + page_size
    return end


def _damage(kind: str, data_dir: Path) -> None:
    """Damage the current frames of ``data_dir``'s WAL: cut its last 60 %, flip 20 bytes
    in its middle, or delete the file."""
    wal = data_dir / WAL
    current = _current_wal_bytes(wal)
    if kind == "truncated_wal":
        os.truncate(wal, _WAL_HEADER + (current - _WAL_HEADER) * 2 // 5)
    elif kind == "flipped_wal":
        data = bytearray(wal.read_bytes())
        middle = (_WAL_HEADER + current) // 2
        data[middle : middle + 20] = bytes(b ^ 0xFF for b in data[middle : middle + 20])
        wal.write_bytes(bytes(data))
    else:
        wal.unlink()
        (data_dir / (DB_NAME + "-shm")).unlink(missing_ok=True)


def damage_cases(data_dir: Path, acknowledged_height: int) -> dict[str, str]:
    """Damage copies of ``data_dir``'s WAL three ways and open each as the node's restart
    does (the chain's writer: ``recover``, which takes back a block the damage left only in
    its copy): ``detected`` (refused with ``AcknowledgedBlocksMissing``), ``intact`` (the
    damage cost no acknowledged block), ``silent`` (opened below ``acknowledged_height``:
    the failure this guards against), or ``no_wal`` (nothing to damage)."""
    found: dict[str, str] = {}
    for kind in ("truncated_wal", "flipped_wal", "deleted_wal"):
        if not (data_dir / WAL).exists() or (data_dir / WAL).stat().st_size == 0:
            found[kind] = "no_wal"
            continue
        copy = Path(tempfile.mkdtemp(prefix="paraclear-chaos-damage-")) / "chain"
        shutil.copytree(data_dir, copy)
        _damage(kind, copy)
        try:
            with BlockStore.open(copy, recover=True) as store:
                found[kind] = "intact" if store.height >= acknowledged_height else "silent"
        except AcknowledgedBlocksMissing:
            found[kind] = "detected"
        except StorageError as error:
            found[kind] = f"refused: {type(error).__name__}"
        shutil.rmtree(copy.parent)
    return found


def bench_chaos(
    rounds: int = 50,
    traders: int = 4,
    window: int = 16,
    max_kill_after: float = 1.0,
    block_interval: float = 0.02,
    seed: int = 1,
    startup_share: float = 0.2,
    progress: Progress | None = None,
    frontends: int = 0,
) -> dict[str, Any]:
    """Run the bench (see the module docstring); returns the figures. ``frontends``: the
    node's API front-end processes (``serve --frontends``); only the core is killed."""
    from paraclear.bench import machine

    say = progress or (lambda _: None)
    rng = random.Random(seed)
    keys = [Keypair.from_seed_int(1_000 + n) for n in range(traders)]
    load = Load(keys, window, seed)
    root = Path(tempfile.mkdtemp(prefix="paraclear-bench-chaos-"))
    data_dir = root / "chain"
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    heights: list[int] = []
    startup_kills = 0
    for number in range(rounds):
        if number > 0 and rng.random() < startup_share:
            Node(data_dir, block_interval, frontends).kill_within(rng.uniform(0.0, 1.5))
            startup_kills += 1
        node = Node(data_dir, block_interval, frontends)
        url = node.url()
        if number == 0:
            asyncio.run(setup_market(url, Keypair.from_seed_int(0), keys))
        asyncio.run(load.round(url, node, rng.uniform(0.0, max_kill_after)))
        heights.append(max((max(h) for h in load.acked.values()), default=0))
        say(f"kill {number + 1}/{rounds}: {len(load.acked):,} acknowledged so far")
    damage = damage_cases(data_dir, heights[-1] if heights else 0)
    node = Node(data_dir, block_interval, frontends)
    node.url()
    stopped = node.stop()
    logged = logged_tx_ids(data_dir)
    with BlockStore.open(data_dir) as store:
        _, report = replay(store, "genesis")
        tip = store.height
    shutil.rmtree(root)
    lost = sum(1 for ident in load.acked if ident not in logged)
    duplicated = sum(1 for count in logged.values() if count > 1) + sum(
        1 for seen in load.acked.values() if len(set(seen)) > 1
    )
    return {
        "machine": machine(),
        "kills": rounds + startup_kills,
        "kills_under_load": rounds,
        "kills_at_startup": startup_kills,
        "sent": load.sent,
        "acknowledged": len(load.acked),
        "unanswered_at_kill": load.unanswered,
        "lost": lost,
        "duplicated": duplicated,
        "blocks": tip,
        "replay_ok": report.ok,
        "clean_stop_exit": stopped,
        "damage": damage,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "traders": traders,
        "window": window,
        "frontends": frontends,
    }
