"""Your own trading bot against a running node: quote the perpetual around its mark.

    paraclear serve --market --data-dir "$(mktemp -d)"      # in one terminal
    PYTHONPATH=src python examples/bot.py ws://127.0.0.1:8000/ws/api/v2 --quotes 5

The bot's key is derived from ``--seed`` (keep a real key secret and out of the code). It
deposits test USDC (every deposit is a signed transaction of its own account), signs in
with its key, reads the perpetual's ticker by its Deribit name (``BTC-PERPETUAL``) and
places a buy below and a sell above the mark; then, at each update of Deribit's ticker
channel (``ticker.BTC-PERPETUAL.100ms``), it cancels its pair and quotes again around the
new mark. Prints each quote; returns what it did.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from paraclear.clearing.transactions import Deposit
from paraclear.client.connection import Client
from paraclear.client.envelope import Keypair
from paraclear.numbers import parse_amount

INSTRUMENT = "BTC-PERPETUAL"
"""Deribit's name of the USDC perpetual; the node lists it as ``BTC-PERP``."""
SPREAD = Decimal("0.002")
"""Each quote is this fraction of the mark away from it."""
TICK = Decimal("0.1")


def on_tick(mark: float, side: int) -> str:
    """A quote price on the perpetual's tick: below the mark (side -1) or above (+1)."""
    price = Decimal(str(mark)) * (1 + side * SPREAD)
    return str(price.quantize(TICK))


def run(url: str, seed: int = 7, quotes: int = 3, amount: str = "0.01") -> list[dict[str, Any]]:
    me = Keypair.from_seed_int(seed)
    done: list[dict[str, Any]] = []
    with Client.connect(url, timeout=60) as client:
        deposit = Deposit(
            sender=me.account, nonce=client.next_nonce(me.account), amount=parse_amount("50000")
        )
        assert client.send_transaction(me, deposit)["ok"]
        client.auth(me)
        tickers = client.subscribe([f"ticker.{INSTRUMENT}.100ms"])
        ticker = client.call("public/ticker", {"instrument_name": INSTRUMENT})
        open_orders: list[int] = []
        while len(done) < quotes:
            mark = ticker["mark_price"]
            if mark is None:  # no index published yet
                _, ticker = tickers.get(timeout=120)
                continue
            for order in open_orders:
                client.cancel(me, INSTRUMENT, order)
            bid = client.buy(me, INSTRUMENT, amount, on_tick(mark, -1))["order"]
            ask = client.sell(me, INSTRUMENT, amount, on_tick(mark, +1))["order"]
            open_orders = [int(o["order_id"].rsplit("-", 1)[1]) for o in (bid, ask)]
            quote = {"mark": mark, "bid": bid["price"], "ask": ask["price"], "block": ask["block"]}
            print(quote)
            done.append(quote)
            _, ticker = tickers.get(timeout=120)  # the next block that moved the book or traded
        for order in open_orders:
            client.cancel(me, INSTRUMENT, order)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws/api/v2")
    parser.add_argument("--seed", type=int, default=7, help="the bot's key seed (default 7)")
    parser.add_argument("--quotes", type=int, default=3, help="quote pairs to place (default 3)")
    args = parser.parse_args()
    run(args.url, args.seed, args.quotes)


if __name__ == "__main__":
    main()
