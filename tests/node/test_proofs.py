"""Proofs anyone can check: an account's records and the house's totals against the state
root a block header publishes, verified on the client's side; tampering fails."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from paraclear.api.rpc import RpcError
from paraclear.clearing.records import OpenOrder, Position
from paraclear.client.connection import Client
from paraclear.client.headers import tx_root
from paraclear.client.proof_check import record_values, verify_account_proof, verify_records
from paraclear.state import keys as k
from paraclear.state.codec import encode
from tests.clearing.harness import usd
from tests.node.test_api import Venue


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """Trader 0 bought 0.2 of trader 1's 0.2 and rests 0.3 more; trader 2 only deposited."""
    venue = Venue(Path(tmp_path_factory.mktemp("proofs")))
    maker, taker = venue.traders[:2]
    venue.client(maker).sell(maker, "BTC-PERP", "0.2", "60000")
    venue.client(taker).buy(taker, "BTC-PERP", "0.5", "60000")
    yield venue
    venue.close()


@pytest.fixture(scope="module")
def client(venue: Venue) -> Client:
    return venue.client()


@pytest.fixture(scope="module")
def proven(venue: Venue, client: Client) -> dict[str, Any]:
    return client.get_proof(venue.traders[1].account)


def test_an_accounts_records_verify_against_the_header_root(
    venue: Venue, proven: dict[str, Any]
) -> None:
    account = venue.traders[1].account
    values = record_values(proven)
    state = venue.node.state
    assert proven["state_root"] == proven["header"]["state_root"]
    assert verify_account_proof(proven["header"], proven)
    assert verify_account_proof(bytes.fromhex(proven["state_root"]), proven)
    position = values[k.position(account, "BTC-PERP")]
    assert isinstance(position, Position) and position.size > 0
    (order_nonce,) = values[k.open_orders(account)]  # type: ignore[misc]
    assert isinstance(values[k.order(account, order_nonce)], OpenOrder)
    assert values[k.bankruptcy(account)] is None  # proven absent
    for key, value in values.items():  # the exact typed values the state holds
        assert value == state.get(key)
    assert values[k.collateral(account)] < usd(100_000)  # paid a fee


def test_a_changed_value_fails(proven: dict[str, Any]) -> None:
    for at, record in enumerate(proven["records"]):
        if record["encoded"] is None:
            continue
        tampered = copy.deepcopy(proven)
        key = tuple(record["key"])
        value = msgspec.msgpack.decode(bytes.fromhex(record["encoded"]))
        if isinstance(value, int):
            tampered["records"][at]["encoded"] = encode(value + 1).hex()
        else:
            last = "01" if record["encoded"].endswith("00") else "00"
            tampered["records"][at]["encoded"] = record["encoded"][:-2] + last
        assert not verify_account_proof(proven["header"], tampered), key


def test_a_changed_proof_fails(proven: dict[str, Any]) -> None:
    for at, record in enumerate(proven["records"]):
        for field in ("siblings", "leaf_path", "leaf_value_hash"):
            tampered = copy.deepcopy(proven)
            proof = tampered["records"][at]["proof"]
            if field == "siblings":
                level = proof["siblings"][-1]
                level[0] = ("ff" if level[0][:2] != "ff" else "00") + level[0][2:]
            elif proof[field] is not None:
                proof[field] = ("ff" if proof[field][:2] != "ff" else "00") + proof[field][2:]
            else:
                continue
            assert not verify_account_proof(proven["header"], tampered), (record["key"], field)


def test_missing_records_another_root_or_another_account_fail(
    venue: Venue, client: Client, proven: dict[str, Any]
) -> None:
    account = venue.traders[1].account
    without_position = copy.deepcopy(proven)
    without_position["records"] = [
        r for r in proven["records"] if tuple(r["key"]) != k.position(account, "BTC-PERP")
    ]
    assert not verify_account_proof(proven["header"], without_position)
    older = client.call("public/get_block_header", {"height": proven["height"] - 1})
    assert not verify_account_proof(older, proven)  # another height
    assert not verify_account_proof(bytes(32), proven)
    other = copy.deepcopy(proven)
    other["account"] = venue.traders[0].account  # records under another lock
    assert not verify_account_proof(proven["header"], other)
    assert not verify_account_proof(proven["header"], {"records": "junk"})


def test_an_unknown_account_is_proven_empty(client: Client) -> None:
    proven = client.get_proof("nobody")
    assert all(value is None for value in record_values(proven).values())
    assert verify_account_proof(proven["header"], proven)


def test_the_houses_totals_verify(venue: Venue, client: Client) -> None:
    totals = client.call("public/get_totals")
    header = client.call("public/get_block_header", {"height": totals["height"]})
    assert verify_records(bytes.fromhex(header["state_root"]), totals)
    values = record_values(totals)
    assert values[k.NET_DEPOSITS] == usd(300_000)
    assert values[k.open_interest("BTC-PERP")] == venue.node.state.get(k.open_interest("BTC-PERP"))
    assert isinstance(values[k.FEE_POOL], int) and values[k.FEE_POOL] > 0
    tampered = copy.deepcopy(totals)
    tampered["records"][0]["encoded"] = encode(usd(1)).hex()
    assert not verify_records(bytes.fromhex(header["state_root"]), tampered)


def test_block_headers_chain_and_commit_to_their_transactions(venue: Venue, client: Client) -> None:
    store = venue.node.store
    latest = client.call("public/get_block_header")
    assert latest["height"] == venue.node.height >= 2
    for height in range(1, latest["height"] + 1):
        header = client.call("public/get_block_header", {"height": height})
        stored = store.block(height)
        assert header["state_root"] == store.root_at(height).hex()
        assert header["block_hash"] == store.hash_at(height).hex()
        assert header["previous_hash"] == store.hash_at(height - 1).hex()
        assert header["tx_count"] == len(stored.block.txs) >= 1
        assert header["tx_root"] == tx_root([encode(tx) for tx in stored.block.txs]).hex()
        assert header["time"] == stored.block.time
    assert store.verify_hashes(1, latest["height"]) == latest["height"]


def test_tx_root_is_a_merkle_root_over_the_transactions() -> None:
    from hashlib import blake2b

    def h(data: bytes) -> bytes:
        return blake2b(data, digest_size=32).digest()

    a, b, c = (h(b"\x00" + tx) for tx in (b"a", b"b", b"c"))
    assert tx_root([]) == bytes(32)
    assert tx_root([b"a"]) == a
    assert tx_root([b"a", b"b", b"c"]) == h(b"\x01" + h(b"\x01" + a + b) + c)
    assert tx_root([b"b", b"a", b"c"]) != tx_root([b"a", b"b", b"c"])


def test_bad_parameters_are_refused(venue: Venue, client: Client) -> None:
    with pytest.raises(RpcError, match="account proofs are kept for heights") as refused:
        client.call("public/get_proof", {"account": "x", "height": 1})
    latest = venue.node.height
    assert refused.value.data is not None
    assert refused.value.data["error"] == "height_not_kept"
    assert refused.value.data["oldest"] == refused.value.data["latest"] >= latest
    with pytest.raises(RpcError, match="account"):
        client.call("public/get_proof", {"account": "x" * 500})
    with pytest.raises(RpcError, match="height"):
        client.call("public/get_block_header", {"height": venue.node.height + 5})
    with pytest.raises(RpcError, match="height"):
        client.call("public/get_block_header", {"height": 0})


def test_orders_may_be_left_out_when_asked(venue: Venue, client: Client) -> None:
    account = venue.traders[1].account
    answer = client.call("public/get_proof", {"account": account, "orders": False})
    header = client.call("public/get_block_header", {"height": answer["height"]})
    keys = [tuple(record["key"]) for record in answer["records"]]
    assert k.open_orders(account) in keys and not [key for key in keys if key[2] == "order"]
    assert verify_account_proof(header, answer, orders=False)
    assert not verify_account_proof(header, answer)  # the orders were expected


def test_proofs_taken_while_blocks_commit_match_their_headers(venue: Venue, client: Client) -> None:
    trader = venue.traders[2]
    trading = venue.client(trader)

    def orders() -> None:
        for round_ in range(20):  # a block per order, each waited for
            trading.buy(trader, "BTC-PERP", "0.01", str(50_000 + round_))

    flow = threading.Thread(target=orders)
    flow.start()
    heights, proofs = set(), 0
    while flow.is_alive() or proofs == 0:
        answer = client.call("public/get_proof", {"account": venue.traders[1].account})
        header = client.call("public/get_block_header", {"height": answer["height"]})
        assert verify_account_proof(header, answer), answer["height"]
        heights.add(answer["height"])
        proofs += 1
    flow.join()
    assert len(heights) >= 5  # proofs were taken at many heights while the chain moved on
