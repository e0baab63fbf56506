"""A live node to kill: the process the node crash test SIGKILLs at random moments.

``python -m tests.node.node_runner DATA_DIR SEED`` opens (or recovers) the node in
DATA_DIR, starts its threads, and submits signed orders from a few wallets as fast as the
node takes them, numbering each wallet's nonces from its committed state. It prints
``ack <height> <index> <tx-id>`` (flushed) for every transaction the node acknowledged as
included: by then its block is durable, so a kill must not lose it.
"""

from __future__ import annotations

import random
import sys
from concurrent.futures import Future
from pathlib import Path

from paraclear.chain.core import Inclusion, Node, NodeConfig
from paraclear.clearing.transactions import (
    Deposit,
    ListInstrument,
    OracleUpdate,
    OrderType,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.client.envelope import Keypair, sign
from tests.clearing.harness import ONE, PERP, T0, usd

CHAIN = "paraclear-local"
WALLETS = 6


def config(data_dir: Path) -> NodeConfig:
    return NodeConfig(data_dir=data_dir, genesis_time=T0, block_interval=0.02, snapshot_every=4)


def main(data_dir: Path, seed: int) -> None:
    node = Node(config(data_dir), clock=lambda: T0)
    rng = random.Random(seed)
    operator = Keypair.from_seed_int(0)
    wallets = [Keypair.from_seed_int(n) for n in range(1, WALLETS + 1)]
    nonces = {w.account: node.next_nonce(w.account) for w in [operator, *wallets]}

    def submit(keys: Keypair, cls: type[Transaction], **fields: object) -> Future[Inclusion]:
        nonce = nonces[keys.account]
        nonces[keys.account] += 1
        tx = cls(sender=keys.account, nonce=nonce, **fields)  # type: ignore[arg-type]
        future = node.submit(sign(keys, CHAIN, tx))
        future.add_done_callback(_report)
        return future

    node.start()
    if nonces[operator.account] == 0:
        submit(operator, ListInstrument, instrument=PERP)
        submit(
            operator, OracleUpdate, underlying="BTC", index_price=usd(60_000), atm_vol_ppm=600_000
        )
        for wallet in wallets:
            submit(wallet, Deposit, amount=usd(1_000_000))
    while True:
        batch = [
            submit(
                rng.choice(wallets),
                PlaceOrder,
                instrument=PERP.name,
                side=rng.choice(list(Side)),
                kind=rng.choice((OrderType.LIMIT, OrderType.IOC)),
                price=usd(60_000 + rng.randint(-10, 10) * 5),
                size=rng.randint(1, 4) * ONE // 10,
            )
            for _ in range(50)
        ]
        for future in batch:
            future.exception()  # wait: keep the mempool short


def _report(future: Future[Inclusion]) -> None:
    if future.exception() is None:
        inclusion = future.result()
        print(f"ack {inclusion.height} {inclusion.index} {inclusion.tx_id}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
