"""Hostile requests against a live node's API, and the properties every answer must have.

Shared by the hostile-input tests (which draw frames with hypothesis) and
``paraclear.bench.hostile`` (which draws them from a seeded generator, 100,000 at a time,
and reports the CPU per request). What is hostile: numbers with huge exponents, NaN and
negative sizes; strings of every length; values of the wrong type; nesting thousands of
levels deep; frames past the size limit; batches, empty and oversized; signed envelopes
truncated, padded, with a byte flipped, for another chain or signed by another key; unknown
methods and parameters; garbage bytes.

``HostileVenue`` is a node on a fresh data directory with a perpetual listed, an index, and
one funded account, and its API's dispatcher; ``answer`` sends it one frame as an
authenticated connection would and measures the CPU the node's API thread spent on it
(``time.thread_time`` around the dispatch, the awaits for the node included).
``check_answer`` holds the properties: every frame with an id is answered, every error is a
typed JSON-RPC error (never ``internal error``), and no hostile request changes state.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from paraclear.api.node_api import node_api
from paraclear.api.rpc import INTERNAL_ERROR, Context, Dispatcher
from paraclear.chain.core import Node, NodeConfig
from paraclear.clearing.instruments import Perpetual
from paraclear.clearing.transactions import (
    AmendOrder,
    Deposit,
    ListInstrument,
    OracleUpdate,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.client.envelope import (
    Keypair,
    SignedTx,
    check_envelope,
    decode_signed,
    encode_signed,
    sign,
    signing_message,
)
from paraclear.client.errors import NodeError
from paraclear.numbers import PRICE_SCALE, USDC_SCALE

PERP: Final = Perpetual(underlying="BTC")
GENESIS: Final = 1_780_000_000

HUGE_NUMBERS: Final[tuple[Any, ...]] = (
    "1e800000",
    "1e600000",
    "-1e999999999999",
    "1E+1000000",
    "1e-800000",
    "NaN",
    "-Infinity",
    "sNaN",
    "9" * 99,
    "0." + "0" * 90 + "1",
    "1_000",
    "0x10",
    "",
    " ",
    "-1",
    "-0",
    1e308,
    -1e308,
    5e-324,
    2**63,
    -(2**63),
    18446744073709551615,
)
STRINGS: Final[tuple[Any, ...]] = (
    "",
    "BTC-PERP",
    "ETH-PERP",
    "BTC-27JUN26-60000-C",
    "BTC-99ZZZ99-1e800000-C",
    "btc_usdc",
    "book.BTC-PERP.100ms",
    "user.orders",
    "x" * 10_000,
    "\u0000\ud7ff\U0010ffff",
    "../../etc/passwd",
    "a" * 64 + "-1" + "9" * 50,
)
SHAPES: Final[tuple[Any, ...]] = (None, True, False, 0, -1, [], {}, [None] * 50, {"a": {"b": []}})


def _nested(depth: int) -> Any:
    return msgspec.Raw(b"[" * depth + b"]" * depth)


DEEP: Final[tuple[Any, ...]] = (_nested(33), _nested(1_000), _nested(50_000))


@dataclass
class Answer:
    """What one frame got: the decoded response (None: none), and the API thread's CPU."""

    frame: bytes
    response: Any
    cpu_seconds: float


class HostileVenue:
    """A node with a market and one funded trader, and its API's dispatcher; see the module
    docstring. ``close`` stops the node."""

    def __init__(self, data_dir: Path) -> None:
        config = NodeConfig(data_dir=data_dir, genesis_time=GENESIS, block_interval=0.01)
        self.node = Node(config, clock=lambda: GENESIS)
        self.chain_id = self.node.chain_id
        self.trader = Keypair.from_seed_int(1)
        self.stranger = Keypair.from_seed_int(2)
        operator = config.operator
        setup: list[tuple[Keypair, Transaction]] = [
            (operator, ListInstrument(sender=operator.account, nonce=0, instrument=PERP)),
            (
                operator,
                OracleUpdate(
                    sender=operator.account,
                    nonce=1,
                    underlying="BTC",
                    index_price=60_000 * PRICE_SCALE,
                    atm_vol_ppm=600_000,
                ),
            ),
            (self.trader, Deposit(sender=self.trader.account, nonce=0, amount=10**6 * USDC_SCALE)),
        ]
        futures = [self.node.submit(sign(key, self.chain_id, tx)) for key, tx in setup]
        self.node.admit_pending()
        while self.node.produce_block() is not None:
            pass
        if not all(future.result(timeout=0).receipt.ok for future in futures):
            raise RuntimeError("the hostile venue's setup failed")
        self.node.start()
        self.server = node_api(self.node)
        self.dispatcher: Dispatcher = self.server.dispatcher

    def order(self, chain: str = "", signer: Keypair | None = None) -> SignedTx:
        """A limit order of the trader's, signed for ``chain`` by ``signer`` (by default
        this chain and the trader: a valid envelope)."""
        tx = PlaceOrder(
            sender=self.trader.account,
            nonce=1,
            instrument=PERP.name,
            side=Side.BUY,
            price=50_000 * PRICE_SCALE,
            size=1_000_000,
        )
        chain, signer = chain or self.chain_id, signer or self.trader
        signature = signer.sign_message(signing_message(chain, tx))
        return SignedTx(chain, tx, signer.public_key, signature)

    def strangers_envelope(self, side: Side = Side.SELL, amend: bool = False) -> str:
        """A valid envelope of the stranger's own (base64): a limit order, or an amend of
        it. Its parameters must fail before it could be submitted."""
        account = self.stranger.account
        tx: Transaction = PlaceOrder(
            sender=account, nonce=0, instrument=PERP.name, side=side, price=1, size=1
        )
        if amend:
            tx = AmendOrder(sender=account, nonce=0, order=0, price=1, size=1)
        return base64.b64encode(encode_signed(sign(self.stranger, self.chain_id, tx))).decode()

    def fingerprint(self) -> tuple[int, bytes, int]:
        """What a hostile request must not change: height, state root, mempool size."""
        return self.node.height, self.node.store.last_root, len(self.node.mempool)

    def context(self) -> Context:
        """An authenticated connection of the stranger's (an unfunded, fresh key)."""
        return Context("ws", account=self.stranger.account)

    async def answer(self, frame: bytes) -> Answer:
        """Send ``frame``; the answer and the API thread's CPU seconds spent on it."""
        start = time.thread_time()
        response = await self.dispatcher.handle(frame, self.context())
        cpu = time.thread_time() - start
        decoded = None if response is None else msgspec.json.decode(response)
        return Answer(frame, decoded, cpu)

    def close(self) -> None:
        self.node.stop()


def tampered_envelopes(venue: HostileVenue, rng: random.Random) -> Iterator[str]:
    """Base64 envelopes that must all be refused: each way of spoiling a signed order.

    A flipped bit can leave a valid envelope: in the name of a field at its default value,
    say, which msgspec then ignores, so the transaction decodes to what was signed (the
    signature covers the decoded transaction, not the bytes). Such bytes are no attack and
    are left out."""
    wire = encode_signed(venue.order())
    flipped = bytearray(wire)
    flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
    spoilt = (
        wire[: rng.randrange(len(wire))],
        wire + b"\x00" * rng.randrange(1, 100),
        bytes(flipped),
        encode_signed(venue.order(chain="another-chain")),
        encode_signed(venue.order(signer=Keypair.from_seed_int(rng.randrange(3, 10**6)))),
        rng.randbytes(rng.randrange(200)),
        b"\x91" * 60_000,
    )
    for spoiled in spoilt:
        if not _still_valid(spoiled, venue.chain_id):
            yield base64.b64encode(spoiled).decode()
    yield "not base64!"
    yield "A" * 150_000


def _still_valid(wire: bytes, chain_id: str) -> bool:
    try:
        check_envelope(decode_signed(wire), chain_id)
    except NodeError:
        return False
    return True


def hostile_value(venue: HostileVenue, rng: random.Random) -> Any:
    """One hostile parameter value: a number, string, shape, deep nesting or envelope."""
    pool = rng.choice((HUGE_NUMBERS, STRINGS, SHAPES, DEEP, None))
    if pool is None:
        return rng.choice(list(tampered_envelopes(venue, rng)))
    return rng.choice(pool)


def hostile_request(venue: HostileVenue, rng: random.Random, request_id: int) -> dict[str, Any]:
    """A request to a registered method (or an unknown one) with hostile parameters."""
    names = venue.server.registry.names()
    name = rng.choice([*names, "private/withdraw", "public/" + "x" * 300, ""])
    method = venue.server.registry.get(name)
    fields = list(method.params.__struct_fields__) if method is not None else ["a"]
    params: Any = {
        field: hostile_value(venue, rng)
        for field in rng.sample(fields, rng.randint(0, len(fields)))
    }
    if rng.random() < 0.1:
        params["unknown_" + str(rng.randrange(5))] = hostile_value(venue, rng)
    if rng.random() < 0.1:
        params = rng.choice([list(params.values()), hostile_value(venue, rng)])
    return {"jsonrpc": "2.0", "id": request_id, "method": name, "params": params}


def hostile_frame(venue: HostileVenue, rng: random.Random, request_id: int) -> bytes:
    """One hostile frame: mostly a request, sometimes a batch, garbage or an oversized one."""
    roll = rng.random()
    if roll < 0.80:
        return encode(hostile_request(venue, rng, request_id))
    if roll < 0.90:
        size = rng.choice((1, 2, 10, 100, 101))
        return encode([hostile_request(venue, rng, request_id + n) for n in range(size)])
    return rng.choice(
        (
            b"[" * 100_000,
            b'{"jsonrpc":"2.0","id":1,"method":"public/test","params":' + b"[" * 40 + b"]" * 40,
            b"[]",
            b"\xff\xfe" * 100,
            rng.randbytes(rng.randrange(1, 300)),
            b'{"jsonrpc":"2.0","id":1,"pad":"' + b"x" * 300_000 + b'"}',
            b'{"jsonrpc":"2.0","id":1,"method":"public/test","params":{"expected_result":1e800000}}',
            b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"public/test"}',
        )
    )


def encode(value: Any) -> bytes:
    """JSON of a request or batch; values msgspec cannot write (huge ints) as their text."""
    try:
        return msgspec.json.encode(value)
    except (OverflowError, TypeError, ValueError):
        return msgspec.json.encode(value, enc_hook=str)


def check_answer(answer: Answer) -> None:
    """The properties of every answer to a hostile frame (each has an id, or is not
    JSON-RPC at all): answered, and with typed errors only. Raises AssertionError."""
    assert answer.response is not None, f"unanswered: {answer.frame[:200]!r}"
    replies = answer.response if isinstance(answer.response, list) else [answer.response]
    for reply in replies:
        error = reply.get("error")
        if error is None:
            continue
        assert isinstance(error.get("code"), int), reply
        assert error["code"] != INTERNAL_ERROR, f"internal error for {answer.frame[:200]!r}"


def run(coroutine: Any) -> Any:
    """Run one coroutine on a fresh event loop (the bench's and the tests' driver)."""
    return asyncio.run(coroutine)
