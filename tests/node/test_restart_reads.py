"""A restart changes nothing a client reads: trades and their numbers, candles, 24 h
statistics, funding, settlements, index history, block statistics and the totals' history
come back from the log and the data directory, and the first new block continues the
chain's time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from paraclear.api.node_api import node_api
from paraclear.api.server import ServerThread
from paraclear.chain.core import Node, NodeConfig
from paraclear.clearing.instruments import Option, Right, expiry_time
from paraclear.clearing.transactions import (
    Deposit,
    Funding,
    ListInstrument,
    OracleUpdate,
    SettleExpiry,
    Transaction,
)
from paraclear.client.connection import Client
from paraclear.client.envelope import Keypair, sign
from paraclear.numbers import PRICE_SCALE
from tests.clearing.harness import CALL, EXPIRY, PERP, T0, usd

CHAIN = "paraclear-local"
LATER = Option("BTC", expiry_time(25, 12, 2026), 70_000 * PRICE_SCALE, Right.PUT)
READS: list[tuple[str, dict[str, Any]]] = [
    ("public/get_currencies", {}),
    ("public/get_instruments", {"currency": "any"}),
    ("public/get_instrument", {"instrument_name": "BTC-PERP"}),
    ("public/get_index_price", {"index_name": "btc_usdc"}),
    ("public/get_order_book", {"instrument_name": "BTC-PERP"}),
    ("public/ticker", {"instrument_name": "BTC-PERP"}),
    ("public/ticker", {"instrument_name": LATER.name}),
    ("public/get_last_trades_by_instrument", {"instrument_name": "BTC-PERP", "count": 100}),
    ("public/get_last_trades_by_currency", {"currency": "BTC", "count": 100}),
    ("public/get_book_summary_by_currency", {"currency": "BTC"}),
    (
        "public/get_tradingview_chart_data",
        {
            "instrument_name": "BTC-PERP",
            "start_timestamp": T0 * 1000,
            "end_timestamp": EXPIRY * 1000 + 10**7,
            "resolution": "1",
        },
    ),
    ("public/get_funding_rate_history", {"instrument_name": "BTC-PERP"}),
    ("public/get_funding_chart_data", {"instrument_name": "BTC-PERP", "length": "1m"}),
    ("public/get_delivery_prices", {"index_name": "btc_usdc"}),
    ("public/get_last_settlements_by_currency", {"currency": "BTC"}),
    ("public/get_mark_price_history", {"instrument_name": LATER.name}),
    ("public/get_historical_volatility", {"currency": "BTC"}),
    ("public/get_block_stats", {"count": 500}),
    ("public/get_totals_history", {"count": 500}),
    ("public/get_totals", {}),
    ("public/get_block_header", {"height": 2}),
    ("public/get_accounts", {}),
]


class Chain:
    """A node over ``path`` with a clock the test moves."""

    def __init__(self, path: Path, now: list[int] | None = None) -> None:
        self.now = now
        config = NodeConfig(data_dir=path, genesis_time=T0, block_interval=0.02)
        self.node = Node(config, clock=(lambda: now[0]) if now is not None else _wall)
        self.operator = config.operator
        self.nonces: dict[str, int] = {}
        self.server = ServerThread(node_api(self.node))
        self.server.start()

    def run(self, keypair: Keypair, tx: Any) -> None:
        """One transaction in a block of its own; it must succeed."""
        future = self.node.submit(sign(keypair, CHAIN, tx))
        self.node.admit_pending()
        self.node.produce_block()
        assert future.result(timeout=0).receipt.ok, future.result(timeout=0).receipt

    def send(self, keypair: Keypair, make: Any, **fields: Any) -> None:
        nonce = self.nonces.get(keypair.account, 0)
        self.nonces[keypair.account] = nonce + 1
        tx: Transaction = make(sender=keypair.account, nonce=nonce, **fields)
        self.run(keypair, tx)

    def oracle(self, index: float) -> None:
        self.send(
            self.operator,
            OracleUpdate,
            underlying="BTC",
            index_price=usd(index),
            atm_vol_ppm=600_000,
            impact_bid=usd(index + 100),
            impact_ask=usd(index + 200),
        )

    def reads(self) -> list[Any]:
        """Every read of ``READS`` once the API has published the latest block."""
        with Client.connect(self.server.url, timeout=30, chain_id=CHAIN) as client:
            deadline = time.monotonic() + 60  # a liveness bound, not a timing figure
            while not self._published(client):
                assert time.monotonic() < deadline, "the API never published the latest block"
                time.sleep(0.05)
            return [client.call(method, params) for method, params in READS]

    def _published(self, client: Client) -> bool:
        latest = client.call("public/get_block_stats", {"count": 1})
        return bool(latest) and latest[0]["height"] >= self.node.height

    def close(self) -> None:
        self.server.stop()
        self.node.stop()


def _wall() -> float:
    return time.time()


def trade(chain: Chain, maker: Keypair, taker: Keypair, name: str, price: float) -> None:
    from paraclear.clearing.transactions import OrderType, PlaceOrder, Side

    for keypair, side, kind in (
        (maker, Side.SELL, OrderType.LIMIT),
        (taker, Side.BUY, OrderType.IOC),
    ):
        chain.send(
            keypair,
            PlaceOrder,
            instrument=name,
            side=side,
            kind=kind,
            price=usd(price),
            size=10**5,
        )


def test_a_restart_changes_no_public_read_and_continues_the_chains_time(tmp_path: Path) -> None:
    now = [T0]
    chain = Chain(tmp_path, now)
    op = chain.operator
    maker, taker = Keypair.from_seed_int(1), Keypair.from_seed_int(2)
    for instrument in (PERP, CALL, LATER):
        chain.send(op, ListInstrument, instrument=instrument)
    chain.oracle(60_000)
    for keypair in (maker, taker):
        chain.send(keypair, Deposit, amount=usd(1_000_000))
    for minute in range(3):
        now[0] = T0 + 60 * minute
        trade(chain, maker, taker, "BTC-PERP", 60_000 + minute)
        trade(chain, maker, taker, CALL.name, 3_000)
        chain.oracle(60_000 + 500 * minute)
    now[0] = T0 + 3_700
    chain.oracle(60_100)
    chain.send(op, Funding, instrument="BTC-PERP")
    now[0] = EXPIRY + 60
    chain.oracle(61_000)
    holders = tuple(sorted((maker.account, taker.account)))
    chain.send(op, SettleExpiry, instrument=CALL.name, accounts=holders)
    before = chain.reads()
    last_time = chain.node.block_time
    chain.close()

    again = Chain(tmp_path)  # the wall clock, months after the chain's time
    try:
        after = again.reads()
        for (method, _), old, new in zip(READS, before, after, strict=True):
            assert new == old, method
        read = {method: result for (method, _), result in zip(READS, after, strict=True)}
        trades = read["public/get_last_trades_by_instrument"]["trades"]
        assert [t["trade_seq"] for t in trades] == [1, 2, 3]
        assert read["public/get_delivery_prices"] == {
            "data": [{"date": "2026-06-26", "delivery_price": 60_100.0}],
            "records_total": 1,
        }
        [settlement] = read["public/get_last_settlements_by_currency"]["settlements"]
        assert settlement["instrument_name"] == CALL.name
        assert read["public/get_funding_rate_history"][0]["interest_1h"] > 0
        assert len(read["public/get_historical_volatility"]) >= 1
        stats = read["public/get_block_stats"]
        assert [s["height"] for s in stats] == list(range(1, again.node.height + 1))
        assert all(s["seconds"]["total"] > 0 for s in stats)
        totals = read["public/get_totals_history"]
        assert [t["height"] for t in totals] == list(range(1, again.node.height + 1))
        assert totals[-1]["totals"]["net_deposits"] == usd(2_000_000)
        again.send(Keypair.from_seed_int(3), Deposit, amount=usd(1))
        assert last_time <= again.node.block_time < last_time + 60
    finally:
        again.close()
