"""A node behind its API, and two traders that use it through the Python client.

    PYTHONPATH=src python examples/trade.py

Starts a node on a temporary data directory (``NodeApp``, as ``paraclear serve`` does); the
operator lists BTC-PERP and publishes the BTC index; two traders deposit, authenticate by
signature, and trade: a resting sell, a crossing buy. Every transaction is signed here, by
its account's key; the node only checks signatures. Prints the fill as the ``trades``
channel delivers it, the book, and each trader's position.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from paraclear.api.app import NodeApp
from paraclear.chain.core import NodeConfig
from paraclear.clearing.instruments import Perpetual
from paraclear.clearing.transactions import Deposit, ListInstrument, OracleUpdate, OrderType
from paraclear.client.connection import Client
from paraclear.client.envelope import Keypair
from paraclear.numbers import parse_amount, parse_price


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data_dir, NodeApp(NodeConfig(Path(data_dir))) as app:
        operator = app.node.config.operator
        maker, taker = Keypair.from_seed_int(1), Keypair.from_seed_int(2)
        with Client.connect(app.url) as admin:
            for tx in (
                ListInstrument(sender=operator.account, nonce=0, instrument=Perpetual("BTC")),
                OracleUpdate(
                    sender=operator.account,
                    nonce=1,
                    underlying="BTC",
                    index_price=parse_price("60000"),
                    atm_vol_ppm=600_000,
                ),
            ):
                assert admin.send_transaction(operator, tx)["ok"]
        with Client.connect(app.url) as seller, Client.connect(app.url) as buyer:
            for client, keys in ((seller, maker), (buyer, taker)):
                deposit = Deposit(sender=keys.account, nonce=0, amount=parse_amount("100000"))
                assert client.send_transaction(keys, deposit)["ok"]
                client.auth(keys)
            trades = buyer.subscribe(["trades.BTC-PERP"])
            resting = seller.sell(maker, "BTC-PERP", "1.5", "60000")["order"]
            print("maker's order:", resting["order_id"][:12] + "…", resting["order_state"])
            filled = buyer.buy(taker, "BTC-PERP", "1", "60050", kind=OrderType.IOC)
            print("taker's order:", filled["order"]["order_state"], filled["trades"][0]["price"])
            channel, message = trades.get(timeout=30)
            print(channel, [(t["amount"], t["price"], t["side"]) for t in message["trades"]])
            book = buyer.call("public/get_order_book", {"instrument_name": "BTC-PERP"})
            print("book: bids", book["bids"], "asks", book["asks"])
            positions = {
                name: client.call("private/get_positions")[0]["size"]
                for name, client in (("maker", seller), ("taker", buyer))
            }
            print("positions:", positions)
            return {"fill": message["trades"][0], "book": book, "positions": positions}


if __name__ == "__main__":
    main()
