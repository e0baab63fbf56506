"""The node's Deribit methods through the real API: orders signed by their accounts, every
account and market method, their errors, and subscriptions fed by committed blocks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.clearing.transactions import Deposit, ListInstrument, OracleUpdate
from paraclear.node.app import NodeApp
from paraclear.node.client import Client, RpcError
from paraclear.node.core import NodeConfig
from paraclear.node.envelope import Keypair, encode_signed, sign
from paraclear.node.rpc import APPLICATION_ERROR, INVALID_PARAMS, UNAUTHORIZED
from paraclear.node.trading import signed_params
from tests.clearing.harness import PERP, T0, usd

CHAIN = "paraclear-local"
_CLIENTS: list[Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


class Trader:
    """A client authenticated as one account, numbering its transactions."""

    def __init__(self, app: NodeApp, seed: int) -> None:
        self.keys = Keypair.from_seed_int(seed)
        self.account = self.keys.account
        self.client = Client.connect(app.url)
        _CLIENTS.append(self.client)
        self.client.auth(self.keys)
        self.nonces = itertools.count()

    def send(self, tx_type: type[Any], **fields: Any) -> dict[str, Any]:
        tx = tx_type(sender=self.account, nonce=next(self.nonces), **fields)
        envelope = encode_signed(sign(self.keys, CHAIN, tx)).hex()
        result: dict[str, Any] = self.client.call("public/send_transaction", {"tx": envelope})
        return result

    def order(self, method: str, nonce: int | None = None, **params: Any) -> Any:
        nonce = next(self.nonces) if nonce is None else nonce
        params = signed_params(self.keys, CHAIN, method, nonce=nonce, **params)
        return self.client.call(method, params)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[NodeApp]:
    config = NodeConfig(data_dir=tmp_path, genesis_time=T0, block_interval=0.01)
    with NodeApp(config) as running:
        operator = Trader(running, 0)
        assert operator.send(ListInstrument, instrument=PERP)["ok"]
        oracle = {"underlying": "BTC", "index_price": usd(60_000), "atm_vol_ppm": 600_000}
        assert operator.send(OracleUpdate, **oracle)["ok"]
        yield running


def _funded(app: NodeApp, seed: int) -> Trader:
    trader = Trader(app, seed)
    assert trader.send(Deposit, amount=usd(100_000))["ok"]
    return trader


def test_orders_fill_across_accounts_and_show_everywhere(app: NodeApp) -> None:
    maker, taker = _funded(app, 1), _funded(app, 2)
    book_updates = maker.client.subscribe(["book.BTC-PERP", "trades.BTC-PERP"])
    user_orders = maker.client.subscribe(["user.orders", "user.portfolio"])
    placed = maker.order(
        "private/sell", instrument_name="BTC-PERP", amount=2, price=60_000, label="ask-1"
    )
    order = placed["order"]
    assert order["order_state"] == "open" and order["amount"] == 2.0 and not placed["trades"]
    took = taker.order(
        "private/buy", instrument_name="BTC-PERP", amount="0.5", price=60_010,
        time_in_force="immediate_or_cancel",
    )  # fmt: skip
    assert took["order"]["order_state"] == "filled"
    assert [(t["price"], t["amount"]) for t in took["trades"]] == [(60_000.0, 0.5)]
    book = taker.client.call("public/get_order_book", {"instrument_name": "BTC-PERP"})
    assert book["asks"] == [[60_000.0, 1.5]] and book["bids"] == []
    assert book["mark_price"] == 60_000.0 and book["best_ask_price"] == 60_000.0
    ticker = taker.client.call("public/ticker", {"instrument_name": "BTC-PERP"})
    assert ticker["last_price"] == 60_000.0 and ticker["open_interest"] == 0.5
    trades = taker.client.call(
        "public/get_last_trades_by_instrument", {"instrument_name": "BTC-PERP"}
    )
    assert [t["amount"] for t in trades["trades"]] == [0.5]
    positions = taker.client.call("private/get_positions", {})
    assert [(p["instrument_name"], p["size"]) for p in positions] == [("BTC-PERP", 0.5)]
    open_orders = maker.client.call("private/get_open_orders", {})
    assert [(o["order_id"], o["remaining"]) for o in open_orders] == [(order["order_id"], 1.5)]
    summary = maker.client.call("private/get_account_summary", {})
    assert summary["open_orders_margin"] > 0 and summary["equity"] > 99_000
    channels = {book_updates.get()[0] for _ in range(3)}
    assert channels >= {"book.BTC-PERP", "trades.BTC-PERP"}
    mine = [user_orders.get() for _ in range(4)]
    assert {channel for channel, _ in mine} == {"user.orders", "user.portfolio"}
    sequences = [data["sequence"] for channel, data in mine if channel == "user.orders"]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))


def test_edit_and_cancel(app: NodeApp) -> None:
    trader = _funded(app, 3)
    order = trader.order("private/buy", instrument_name="BTC-PERP", amount=1, price=59_000)
    order_id = order["order"]["order_id"]
    edited = trader.order("private/edit", order_id=order_id, amount=3, price=59_500)
    assert edited["order"]["amount"] == 3.0 and edited["order"]["price"] == 59_500.0
    cancelled = trader.order("private/cancel", order_id=order_id, instrument_name="BTC-PERP")
    assert cancelled["order_state"] == "cancelled"
    assert trader.client.call("private/get_open_orders", {}) == []


def test_margins_quote_both_sides(app: NodeApp) -> None:
    trader = _funded(app, 4)
    margins = trader.client.call(
        "private/get_margins", {"instrument_name": "BTC-PERP", "amount": 1, "price": 60_000}
    )
    assert margins["buy"] > 0 and margins["sell"] > 0


def _error(call: Any) -> RpcError:
    with pytest.raises(RpcError) as caught:
        call()
    return caught.value


def test_order_errors(app: NodeApp) -> None:
    trader, other = _funded(app, 5), _funded(app, 6)
    poor = Trader(app, 7)
    refused = _error(
        lambda: poor.order("private/buy", instrument_name="BTC-PERP", amount=1, price=60_000)
    )
    assert refused.code == APPLICATION_ERROR and refused.data["reason"] == "InsufficientMargin"
    bad_tick = _error(
        lambda: trader.order(
            "private/buy", nonce=1_000, instrument_name="BTC-PERP", amount=1, price=0.0000001
        )
    )
    assert bad_tick.code == INVALID_PARAMS
    params = signed_params(
        trader.keys, CHAIN, "private/buy", nonce=99, instrument_name="BTC-PERP", amount=1,
        price=60_000,
    )  # fmt: skip
    forged = _error(lambda: trader.client.call("private/buy", {**params, "amount": 2}))
    assert forged.data["reason"] == "bad_signature"
    order = trader.order("private/buy", instrument_name="BTC-PERP", amount=1, price=59_000)
    not_mine = _error(
        lambda: other.order(
            "private/cancel", order_id=order["order"]["order_id"], instrument_name="BTC-PERP"
        )
    )
    assert not_mine.data["reason"] == "not_order_owner"
    anonymous = Client.connect(app.url)
    _CLIENTS.append(anonymous)
    assert _error(lambda: anonymous.call("private/get_positions", {})).code == UNAUTHORIZED
    unknown = _error(
        lambda: anonymous.call("public/get_order_book", {"instrument_name": "BTC-NOPE"})
    )
    assert unknown.code == INVALID_PARAMS
    garbage = _error(lambda: anonymous.call("public/send_transaction", {"tx": "zz"}))
    assert garbage.code == INVALID_PARAMS
