"""How long a node takes to serve a large block's header, transactions and a transaction's
proof, and a client to check them.

    python -m paraclear.bench.block_proofs --txs 10000 --repeats 7

Appends one block of ``txs`` signed orders to a fresh block log, then times the handlers
of ``public/get_block_header`` (the first time, which reads and hashes the block, and
again, from the headers kept), ``public/get_block`` (the first 1,000 transactions),
``public/get_transaction_proof`` (one transaction), and the client's ``verify_block``
(without and with the envelopes' signatures) and ``verify_transaction``. Prints a JSON
line: medians in ms, and answer sizes as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from collections.abc import Callable
from statistics import median
from time import perf_counter
from typing import Any

from paraclear.api.block_methods import BlockMethods, BlockParams, TransactionParams
from paraclear.api.proofs import HeightParams
from paraclear.api.rpc import Context
from paraclear.chain.storage import BlockStore, ChainSpec
from paraclear.clearing.records import HouseConfig
from paraclear.clearing.transactions import PlaceOrder, Side
from paraclear.client.block_check import verify_block, verify_transaction
from paraclear.client.envelope import Keypair, encode_signed, sign
from paraclear.execution import Block, BlockMetrics, BlockResult, Receipt
from paraclear.state import State

CHAIN = "bench"


class _Node:
    """The parts of a node ``BlockMethods`` reads."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store
        self.height = store.height
        self.state = State()
        self.state_lock = threading.Lock()


def _block(txs: int) -> tuple[Block[Any], BlockResult, list[bytes]]:
    key = Keypair.from_seed_int(1)
    orders = tuple(
        PlaceOrder(
            sender=key.account,
            nonce=i,
            instrument="BTC-PERP",
            side=Side.BUY,
            price=60_000 * 10**6,
            size=10**5,
        )
        for i in range(txs)
    )
    receipts = [Receipt(index=i, ok=True) for i in range(txs)]
    envelopes = [encode_signed(sign(key, CHAIN, tx)) for tx in orders]
    return (
        Block(1, 1_767_225_600, orders),
        BlockResult(receipts, {}, bytes(32), BlockMetrics()),
        envelopes,
    )


def _timed(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    samples = []
    for _ in range(repeats):
        started = perf_counter()
        out = call()
        samples.append(perf_counter() - started)
    return round(median(samples) * 1e3, 3), out


def run(txs: int, repeats: int) -> dict[str, Any]:
    spec = ChainSpec(CHAIN, HouseConfig(admin="admin", oracle="admin"))
    with tempfile.TemporaryDirectory() as directory, BlockStore.open(directory, spec) as store:
        store.append(*_block(txs))
        methods, context = BlockMethods(_Node(store)), Context()
        first, header = _timed(lambda: methods.get_block_header(context, HeightParams(1)), 1)
        kept, _ = _timed(lambda: methods.get_block_header(context, HeightParams(1)), repeats)
        page = BlockParams(height=1, count=min(txs, 1_000))
        block_ms, block = _timed(lambda: methods.get_block(context, page), repeats)
        one = TransactionParams(height=1, index=txs // 2)
        proof_ms, proof = _timed(lambda: methods.get_transaction_proof(context, one), repeats)
        checks = {
            "verify_block_ms": _timed(lambda: verify_block(header, block), repeats),
            "verify_block_signed_ms": _timed(
                lambda: verify_block(header, block, chain_id=CHAIN), repeats
            ),
            "verify_transaction_ms": _timed(lambda: verify_transaction(header, proof), repeats),
        }
    if not all(ok for _, ok in checks.values()):
        raise RuntimeError("a check failed")
    return {
        "txs": txs,
        "header_first_ms": first,
        "header_kept_ms": kept,
        "get_block_ms": block_ms,
        "get_block_bytes": len(json.dumps(block)),
        "get_transaction_proof_ms": proof_ms,
        "proof_bytes": len(json.dumps(proof)),
        **{name: ms for name, (ms, _) in checks.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.txs, args.repeats)))


if __name__ == "__main__":
    main()
