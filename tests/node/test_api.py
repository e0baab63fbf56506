"""The API of a running node, driven by the client: orders signed by their accounts go in,
fills, books, positions and subscriptions come out."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.api import rpc
from paraclear.api.app import ApiHost
from paraclear.api.rpc import RpcError
from paraclear.chain.core import Inclusion, Node, NodeConfig
from paraclear.clearing.transactions import (
    Deposit,
    ListInstrument,
    OracleUpdate,
    OrderType,
    PlaceOrder,
    Side,
)
from paraclear.client.connection import Client
from paraclear.client.envelope import Keypair, SignedTx, encode_signed, sign
from tests.clearing.harness import PERP, T0, usd

CHAIN = "paraclear-local"


class Venue:
    """A node with BTC-PERP listed and three funded traders, its API, and clients."""

    def __init__(self, path: Path, frontends: int | None = None) -> None:
        if frontends is None:  # the venues of other modules: PARACLEAR_TEST_FRONTENDS=1 runs
            frontends = int(os.environ.get("PARACLEAR_TEST_FRONTENDS", "0"))  # them through one
        self.frontends = frontends
        config = NodeConfig(data_dir=path, genesis_time=T0, block_interval=0.02)
        self.node = Node(config, clock=lambda: T0)
        self.operator = config.operator
        self.traders = [Keypair.from_seed_int(seed) for seed in (1, 2, 3)]
        setup = [
            ListInstrument(sender=self.operator.account, nonce=0, instrument=PERP),
            OracleUpdate(
                sender=self.operator.account,
                nonce=1,
                underlying="BTC",
                index_price=usd(60_000),
                atm_vol_ppm=600_000,
            ),
        ]
        futures = [self.node.submit(sign(self.operator, CHAIN, tx)) for tx in setup]
        futures += [
            self.node.submit(
                sign(w, CHAIN, Deposit(sender=w.account, nonce=0, amount=usd(100_000)))
            )
            for w in self.traders
        ]
        self.node.admit_pending()
        while self.node.produce_block() is not None:
            pass
        assert all(f.result(timeout=0).receipt.ok for f in futures)
        self.node.start()
        self.server = ApiHost(self.node, frontends=frontends)
        self.server.start()
        self.clients: list[Client] = []

    def include(self, signed: SignedTx) -> Inclusion:
        """Submit ``signed`` to the node itself; its inclusion once its block is in what
        the API reads (a front-end's follower may get the block a moment after the node)."""
        inclusion = self.node.submit(signed).result(timeout=60)
        if self.frontends:
            client = self.client()
            book = {"instrument_name": "BTC-PERP"}
            while client.call("public/get_order_book", book)["change_id"] < inclusion.height:
                time.sleep(0.01)
        return inclusion

    def client(self, keypair: Keypair | None = None) -> Client:
        client = Client.connect(self.server.url, timeout=30, chain_id=CHAIN)
        self.clients.append(client)
        if keypair is not None:
            client.auth(keypair)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()
        self.node.stop()


@pytest.fixture(params=[0, 1], ids=["in-process", "frontend"])
def venue(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Venue]:
    """The venue served by the node's own API server, and through a front-end process."""
    venue = Venue(tmp_path, frontends=request.param)
    yield venue
    venue.close()


def error_of(call: Any, *args: Any, **kwargs: Any) -> RpcError:
    with pytest.raises(RpcError) as raised:
        call(*args, **kwargs)
    return raised.value


def test_resting_sell_then_crossing_buy_fill_and_show_everywhere(venue: Venue) -> None:
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    rested = a.sell(maker, "BTC-PERP", "2", "60000")
    assert rested["trades"] == []
    order = rested["order"]
    assert (order["order_state"], order["direction"], order["amount"], order["price"]) == (
        "open",
        "sell",
        2.0,
        60_000.0,
    )
    assert order["order_id"] == f"{maker.account}-1"
    took = b.buy(taker, "BTC-PERP", "0.5", "60010", kind=OrderType.IOC)
    assert took["order"]["order_state"] == "filled" and took["order"]["filled_amount"] == 0.5
    assert [(t["price"], t["amount"], t["side"]) for t in took["trades"]] == [
        (60_000.0, 0.5, "buy")
    ]
    assert [p["size"] for p in b.call("private/get_positions")] == [0.5]
    assert [p["size"] for p in a.call("private/get_positions", {"kind": "future"})] == [-0.5]
    book = b.call("public/get_order_book", {"instrument_name": "BTC-PERP"})
    assert (
        book["asks"] == [[60_000.0, 1.5]]
        and book["bids"] == []
        and book["best_ask_price"] == 60_000.0
    )
    ticker = b.call("public/ticker", {"instrument_name": "BTC-PERP"})
    assert ticker["last_price"] == 60_000.0 and ticker["best_ask_amount"] == 1.5
    trades = b.call("public/get_last_trades_by_instrument", {"instrument_name": "BTC-PERP"})
    assert [t["amount"] for t in trades["trades"]] == [0.5]
    [open_order] = a.call("private/get_open_orders")
    assert open_order["remaining"] == 1.5 and open_order["filled"] == 0.5
    summary = b.call("private/get_account_summary")
    assert summary["balance"] < 100_000 and summary["initial_margin"] > 0
    assert summary["next_nonce"] == 2


def test_edit_then_cancel_an_order(venue: Venue) -> None:
    maker = venue.traders[0]
    client = venue.client(maker)
    client.buy(maker, "BTC-PERP", "1", "59000")
    edited = client.edit(maker, 1, "2", "59500")["order"]
    assert (edited["amount"], edited["price"], edited["order_state"]) == (2.0, 59_500.0, "open")
    cancelled = client.cancel(maker, "BTC-PERP", 1)
    assert cancelled["order_state"] == "cancelled" and cancelled["order_id"] == f"{maker.account}-1"
    assert client.call("private/get_open_orders") == []
    assert client.call("public/get_order_book", {"instrument_name": "BTC-PERP"})["bids"] == []


def test_order_failing_in_its_block_names_the_failure_and_the_block(venue: Venue) -> None:
    trader = venue.traders[0]
    client = venue.client(trader)
    error = error_of(client.buy, trader, "BTC-PERP", "1000", "60000")
    assert error.code == rpc.APPLICATION_ERROR and error.data is not None
    assert error.data["error"] == "InsufficientMargin" and error.data["block"] > 0
    assert client.buy(trader, "BTC-PERP", "1", "59000")["order"]["order_state"] == "open"


def signed_order(keypair: Keypair, nonce: int, size: str = "1") -> str:
    tx = PlaceOrder(
        sender=keypair.account,
        nonce=nonce,
        instrument="BTC-PERP",
        side=Side.BUY,
        size=int(float(size) * 1_000_000),
        price=usd(59_000),
    )
    return base64.b64encode(encode_signed(sign(keypair, CHAIN, tx))).decode()


def test_no_one_acts_on_another_account(venue: Venue) -> None:
    alice, bob, _ = venue.traders
    client = venue.client(alice)
    error = error_of(client.call, "private/buy", {"signed_tx": signed_order(bob, 1)})
    assert error.code == rpc.UNAUTHORIZED
    anonymous = venue.client()
    assert (
        error_of(anonymous.call, "private/buy", {"signed_tx": signed_order(alice, 1)}).code
        == rpc.UNAUTHORIZED
    )


def test_edit_and_cancel_take_only_their_own_transaction_type(venue: Venue) -> None:
    alice = venue.traders[0]
    client = venue.client(alice)
    placement = signed_order(alice, 1)
    for method, expected in (
        ("private/edit", "an amend_order"),
        ("private/cancel", "a cancel_order"),
    ):
        error = error_of(client.call, method, {"signed_tx": placement})
        assert error.code == rpc.INVALID_PARAMS and error.data is not None
        assert error.data["param"] == "signed_tx"
        assert f"expected {expected}, got PlaceOrder" in error.message
    assert client.call("public/get_next_nonce", {"account": alice.account}) == 1  # nothing ran


def test_deribit_params_must_agree_with_the_signed_order(venue: Venue) -> None:
    alice = venue.traders[0]
    client = venue.client(alice)
    signed = signed_order(alice, 1)
    for params, param in (
        ({"amount": 2}, "amount"),
        ({"price": "59000.1"}, "price"),
        ({"instrument_name": "ETH-PERP"}, "instrument_name"),
        ({"type": "market"}, "type"),
        ({"amount": "1.0000001"}, "amount"),
    ):
        error = error_of(client.call, "private/buy", {"signed_tx": signed, **params})
        assert (
            error.code == rpc.INVALID_PARAMS
            and error.data is not None
            and error.data["param"] == param
        )
    error = error_of(client.call, "private/sell", {"signed_tx": signed})
    assert error.data is not None and error.data["param"] == "side"
    assert error_of(client.call, "private/buy", {"signed_tx": "!!"}).data == {
        "param": "signed_tx",
        "reason": "not base64",
    }
    garbage = base64.b64encode(b"\x93\x01\x02").decode()
    assert (
        error_of(client.call, "private/buy", {"signed_tx": garbage}).data["error"]
        == "malformed_envelope"
    )  # type: ignore[index]
    placed = client.call(
        "private/buy", {"signed_tx": signed, "amount": 1, "price": 59_000.0, "type": "limit"}
    )
    assert placed["order"]["order_state"] == "open"


def test_replayed_order_is_refused(venue: Venue) -> None:
    alice = venue.traders[0]
    client = venue.client(alice)
    signed = signed_order(alice, 1)
    client.call("private/buy", {"signed_tx": signed})
    error = error_of(client.call, "private/buy", {"signed_tx": signed})
    assert error.code == rpc.APPLICATION_ERROR and error.data is not None
    assert error.data["error"] == "nonce_replayed"


def test_margins_and_book_errors(venue: Venue) -> None:
    alice = venue.traders[0]
    client = venue.client(alice)
    margins = client.call(
        "private/get_margins", {"instrument_name": "BTC-PERP", "amount": 1, "price": 60_000}
    )
    assert margins["buy"] == margins["sell"] == pytest.approx(1_200.0)
    for method in (
        "public/get_order_book",
        "public/ticker",
        "public/get_last_trades_by_instrument",
    ):
        error = error_of(client.call, method, {"instrument_name": "ETH-PERP"})
        assert error.code == rpc.INVALID_PARAMS and error.data == {
            "param": "instrument_name",
            "reason": error.data["reason"],
        }  # type: ignore[index]
    error = error_of(client.call, "public/subscribe", {"channels": ["book.ETH-PERP"]})
    assert error.code == rpc.INVALID_PARAMS
    assert (
        client.call("public/get_instruments", {"currency": "BTC"})[0]["instrument_name"]
        == "BTC-PERP"
    )
    assert (
        client.call("public/get_index_price", {"index_name": "btc_usdc"})["index_price"] == 60_000.0
    )
    assert client.call("public/status")["height"] == venue.node.height


@pytest.mark.parametrize(
    "amount", ["1e600000", "1e999999999999", "-1e999999999999", "1E+1000000", "NaN", "-1"]
)
def test_huge_or_invalid_amounts_are_invalid_params_at_once(venue: Venue, amount: str) -> None:
    client = venue.client(Keypair.from_seed_int(77))  # a fresh, unfunded key
    error = error_of(
        client.call, "private/get_margins", {"instrument_name": "BTC-PERP", "amount": amount}
    )
    assert error.code == rpc.INVALID_PARAMS and error.data is not None
    assert error.data["param"] == "amount"


def test_block_messages_reach_subscribers_in_gap_free_sequence(venue: Venue) -> None:
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    books = a.subscribe(["book.BTC-PERP", "trades.BTC-PERP", "ticker.BTC-PERP"])
    mine = a.subscribe(["user.orders", "user.portfolio"])
    a.sell(maker, "BTC-PERP", "2", "60000")
    b.buy(taker, "BTC-PERP", "1", "60000")
    b.buy(taker, "BTC-PERP", "0.5", "60000")
    seen: dict[str, list[dict[str, Any]]] = {}
    while len(seen.get("trades.BTC-PERP", [])) < 2:
        channel, data = books.get(timeout=30)
        seen.setdefault(channel, []).append(data)
    for messages in seen.values():
        assert [m["prev_sequence"] for m in messages[1:]] == [m["sequence"] for m in messages[:-1]]
    assert seen["book.BTC-PERP"][0]["asks"] == [[60_000.0, 2.0]]
    assert [t["amount"] for m in seen["trades.BTC-PERP"] for t in m["trades"]] == [1.0, 0.5]
    assert "ticker.BTC-PERP" in seen
    private: dict[str, list[dict[str, Any]]] = {}
    while len(private.get("user.orders", [])) < 3:
        channel, data = mine.get(timeout=30)
        private.setdefault(channel, []).append(data)
    assert {o["order_id"] for m in private["user.orders"] for o in m["orders"]} == {
        f"{maker.account}-1"
    }
    assert private["user.portfolio"][-1]["positions"][0]["size"] in (-1.0, -1.5)


def test_metrics_show_the_node(venue: Venue) -> None:
    import urllib.request

    venue.client(venue.traders[0]).buy(venue.traders[0], "BTC-PERP", "1", "59000")
    with urllib.request.urlopen(venue.server.http_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'paraclear_rpc_requests_total{method="private/buy"} 1.0' in text
    if not venue.frontends:  # a front-end's metrics are its own: the node's are the core's
        assert "paraclear_height " in text and "paraclear_block_seconds " in text


def test_order_over_http_needs_the_signed_header_and_acts_for_its_account(venue: Venue) -> None:
    import urllib.error
    import urllib.request

    import msgspec

    from paraclear.client.grants import http_header

    alice, bob, _ = venue.traders
    body = msgspec.json.encode(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "private/buy",
            "params": {"signed_tx": signed_order(alice, 1)},
        }
    )

    def post(signer: Keypair) -> Any:
        challenge = venue.server.server.authenticator.challenge
        header = http_header(signer, CHAIN, challenge, "POST", "/api/v2", body)
        request = urllib.request.Request(
            venue.server.http_url + "/api/v2", data=body, headers={"Authorization": header}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return msgspec.json.decode(response.read())

    assert post(bob)["error"]["code"] == rpc.UNAUTHORIZED
    assert post(alice)["result"]["order"]["order_state"] == "open"


def test_any_signed_transaction_goes_in_through_send_transaction(venue: Venue) -> None:
    from paraclear.clearing.transactions import Withdraw

    carol = Keypair.from_seed_int(9)
    client = venue.client()
    receipt = client.send_transaction(
        carol, Deposit(sender=carol.account, nonce=0, amount=usd(500))
    )
    assert receipt["ok"] and receipt["error"] is None and receipt["block"] > 0
    failed = client.send_transaction(
        carol, Withdraw(sender=carol.account, nonce=1, amount=usd(10_000))
    )
    assert not failed["ok"] and failed["error"]["error"] == "InsufficientCollateral"
    error = error_of(client.call, "public/send_transaction", {"signed_tx": "AAAA"})
    assert error.data is not None and error.data["error"] == "malformed_envelope"


def test_the_volatility_surface_is_the_oracles_latest(venue: Venue) -> None:
    from paraclear.clearing.records import SVI_SCALE, SviSlice

    client = venue.client()
    bare = client.call("public/get_volatility_surface", {"currency": "btc"})
    assert (bare["currency"], bare["index_price"], bare["atm_vol"], bare["slices"]) == (
        "BTC",
        60_000.0,
        0.6,
        [],
    )
    expiry = T0 + 30 * 86_400
    svi = SviSlice(expiry=expiry, a=SVI_SCALE // 100, b=SVI_SCALE // 50, rho=-SVI_SCALE // 2,
                   m=0, sigma=SVI_SCALE // 10)  # fmt: skip
    update = OracleUpdate(sender=venue.operator.account, nonce=2, underlying="BTC",
                          index_price=usd(61_000), atm_vol_ppm=700_000, skew_ppm=-100_000,
                          surface=(svi,))  # fmt: skip
    assert client.send_transaction(venue.operator, update)["ok"]
    surface = client.call("public/get_volatility_surface", {"currency": "BTC"})
    assert (surface["index_price"], surface["atm_vol"], surface["skew"]) == (61_000.0, 0.7, -0.1)
    assert surface["slices"] == [
        {"expiration_timestamp": expiry * 1000, "a": 0.01, "b": 0.02, "rho": -0.5, "m": 0.0,
         "sigma": 0.1}
    ]  # fmt: skip
    error = error_of(client.call, "public/get_volatility_surface", {"currency": "ETH"})
    assert error.code == rpc.INVALID_PARAMS
