"""Blocks anyone can check: a header hashes to its block hash on its own, a block's
transactions to its transaction root, one transaction by its Merkle path; and the house's
totals per block, on a channel, as a history and proven at recent heights. Tampering fails."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.api.rpc import RpcError
from paraclear.api.totals import PROOF_BLOCKS
from paraclear.client.block_check import (
    verify_block,
    verify_chain,
    verify_header,
    verify_transaction,
)
from paraclear.client.connection import Client
from paraclear.client.proof_check import record_values, verify_records
from paraclear.state import keys as k
from tests.clearing.harness import usd
from tests.node.test_api import CHAIN, Venue

HEADER_FIELDS = (
    "height",
    "time",
    "tx_count",
    "previous_hash",
    "tx_root",
    "receipts_hash",
    "envelopes_hash",
    "state_root",
    "block_hash",
)


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """Trader 0 sells 0.2 to trader 1, who rests 0.3 more (a block each)."""
    venue = Venue(Path(tmp_path_factory.mktemp("blocks")))
    maker, taker = venue.traders[:2]
    venue.client(maker).sell(maker, "BTC-PERP", "0.2", "60000")
    venue.client(taker).buy(taker, "BTC-PERP", "0.5", "60000")
    yield venue
    venue.close()


@pytest.fixture(scope="module")
def client(venue: Venue) -> Client:
    return venue.client()


@pytest.fixture(scope="module")
def headers(venue: Venue, client: Client) -> list[dict[str, Any]]:
    height = venue.node.height
    return [client.call("public/get_block_header", {"height": h}) for h in range(1, height + 1)]


def flip(hex_text: str) -> str:
    """``hex_text`` with its first byte changed."""
    return ("ff" if hex_text[:2] != "ff" else "00") + hex_text[2:]


def changed(value: Any) -> Any:
    return value + 1 if isinstance(value, int) else flip(value)


def test_headers_verify_on_their_own_and_chain(headers: list[dict[str, Any]]) -> None:
    assert len(headers) >= 3 and all(header["version"] == 2 for header in headers)
    assert all(verify_header(header) for header in headers)
    assert verify_chain(headers)
    assert not verify_chain([headers[0], headers[2]])
    assert not verify_chain(headers[::-1])


def test_a_changed_header_field_fails(headers: list[dict[str, Any]]) -> None:
    header = headers[-1]
    for field in (*HEADER_FIELDS, "version"):
        tampered = {**header, field: changed(header[field])}
        assert not verify_header(tampered), field
    assert not verify_header({**header, "tx_root": "00"})
    assert not verify_header({"version": 2})


def test_a_block_verifies_against_its_header_with_its_envelopes(
    venue: Venue, client: Client, headers: list[dict[str, Any]]
) -> None:
    for header in headers:
        block = client.call("public/get_block", {"height": header["height"]})
        assert len(block["tx_hashes"]) == header["tx_count"] == len(block["transactions"])
        assert verify_block(header, block, chain_id=CHAIN)
    first = client.call("public/get_block", {"height": 1})
    assert all(tx["envelope"] for tx in first["transactions"])  # every one signed and sent
    assert not verify_block(headers[0], first, chain_id="another-chain")
    paged = client.call("public/get_block", {"height": 1, "offset": 2, "count": 1})
    assert [tx["index"] for tx in paged["transactions"]] == [2]
    assert verify_block(headers[0], paged)
    assert client.get_block(1) == first


def test_a_changed_block_fails(client: Client, headers: list[dict[str, Any]]) -> None:
    header = headers[0]
    block = client.call("public/get_block", {"height": 1})
    assert verify_block(header, block)
    tampered_tx = copy.deepcopy(block)
    tampered_tx["transactions"][1]["encoded"] = flip(block["transactions"][1]["encoded"])
    other_tx = copy.deepcopy(block)  # another transaction in its place, well formed
    other_tx["transactions"][1]["encoded"] = block["transactions"][2]["encoded"]
    dropped = copy.deepcopy(block)
    dropped["tx_hashes"].pop()
    swapped = copy.deepcopy(block)
    swapped["tx_hashes"][:2] = swapped["tx_hashes"][1::-1]
    envelope = copy.deepcopy(block)
    envelope["transactions"][1]["envelope"] = block["transactions"][2]["envelope"]
    for bad in (tampered_tx, other_tx, dropped, swapped):
        assert not verify_block(header, bad)
    assert verify_block(header, envelope) and not verify_block(header, envelope, chain_id=CHAIN)
    assert not verify_block(headers[1], block)  # another block's header
    assert not verify_block({**header, "tx_root": flip(header["tx_root"])}, block)


def test_every_transaction_proves_its_inclusion(
    client: Client, headers: list[dict[str, Any]]
) -> None:
    proofs = 0
    for header in headers:
        for index in range(header["tx_count"]):
            params = {"height": header["height"], "index": index}
            proof = client.call("public/get_transaction_proof", params)
            assert proof["header"] == header
            assert verify_transaction(header, proof, chain_id=CHAIN)
            proofs += 1
    assert proofs >= 7


def test_a_changed_transaction_proof_fails(client: Client, headers: list[dict[str, Any]]) -> None:
    header = headers[0]  # 5 transactions: a path of 3 siblings
    proof = client.call("public/get_transaction_proof", {"height": 1, "index": 1})
    assert verify_transaction(header, proof) and len(proof["path"]) == 3
    other = client.call("public/get_transaction_proof", {"height": 1, "index": 2})
    bad = [
        {**proof, "encoded": flip(proof["encoded"])},
        {**proof, "encoded": other["encoded"]},
        {**proof, "index": 2},
        {**proof, "index": header["tx_count"]},
        {**proof, "path": proof["path"][:-1]},
        {**proof, "path": [*proof["path"], proof["path"][0]]},
        {**proof, "path": [flip(proof["path"][0]), *proof["path"][1:]]},
    ]
    for tampered in bad:
        assert not verify_transaction(header, tampered)
    assert not verify_transaction(headers[1], proof)


def test_blocks_and_transactions_refuse_bad_parameters(venue: Venue, client: Client) -> None:
    beyond = venue.node.height + 1
    for method, params in (
        ("public/get_block", {"height": beyond}),
        ("public/get_block", {"height": 1, "count": 0}),
        ("public/get_block", {"height": 1, "offset": -1}),
        ("public/get_transaction_proof", {"height": 1, "index": 99}),
        ("public/get_transaction_proof", {"height": 0, "index": 0}),
    ):
        with pytest.raises(RpcError, match="invalid params"):
            client.call(method, params)


def test_totals_are_published_kept_and_proven_per_block(venue: Venue, client: Client) -> None:
    trader = venue.traders[2]
    subscription = client.subscribe(["totals"])
    first = venue.node.height
    venue.client(trader).buy(trader, "BTC-PERP", "0.01", "50000")
    channel, record = subscription.get(timeout=30)
    assert channel == "totals"
    assert record["height"] == first + 1
    totals = record["totals"]
    assert totals["net_deposits"] == usd(300_000)
    assert totals["user_cash"] == usd(300_000) - totals["fee_pool"] - totals["insurance_fund"]
    assert totals["collateral"] == sum(
        value for key, value in venue.node.state.data.items() if key[2:] == ("collateral",)
    )
    assert totals["open_interest"] == {
        "BTC-PERP": venue.node.state.get(k.open_interest("BTC-PERP"))
    }
    history = client.call("public/get_totals_history", {"count": 500})
    published = {key: value for key, value in record.items() if "sequence" not in key}
    assert history[-1] == published and [r["height"] for r in history][-2:] == [first, first + 1]
    for height in (first, first + 1):  # past heights are proven against their own roots
        answer = client.call("public/get_totals", {"height": height})
        header = client.call("public/get_block_header", {"height": height})
        assert answer["height"] == height and verify_records(
            bytes.fromhex(header["state_root"]), answer
        )
        kept = next(r for r in history if r["height"] == height)
        assert record_values(answer)[k.FEE_POOL] == kept["totals"]["fee_pool"]
        assert (
            kept["state_root"] == header["state_root"]
            and kept["block_hash"] == header["block_hash"]
        )
    client.unsubscribe(subscription)


def test_totals_of_heights_not_kept_are_refused_naming_the_oldest(
    venue: Venue, client: Client
) -> None:
    for height in (0, venue.node.height + 1):
        with pytest.raises(RpcError, match="proofs of the totals are kept for heights") as refused:
            client.call("public/get_totals", {"height": height})
        data = refused.value.data
        assert data is not None and data["error"] == "height_not_kept"
        assert data["oldest"] == 1 and data["latest"] == venue.node.height < PROOF_BLOCKS
    oldest = client.call("public/get_totals", {"height": 1})  # the API started at height 1
    header = client.call("public/get_block_header", {"height": 1})
    assert verify_records(bytes.fromhex(header["state_root"]), oldest)
