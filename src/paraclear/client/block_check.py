"""Check the node's blocks on the client's side, trusting nothing but hashing.

    header = client.call("public/get_block_header", {"height": h})
    assert verify_header(header)                      # it hashes to its block_hash
    block = client.call("public/get_block", {"height": h})
    assert verify_block(header, block)                # its transactions give its tx_root
    proof = client.call("public/get_transaction_proof", {"height": h, "index": 0})
    assert verify_transaction(header, proof)          # one transaction, by its Merkle path

``verify_header`` recomputes a version 2 block hash from the header's fields
(``paraclear.client.headers``); a version 1 header (a block written before version 2) cannot
be checked on its own and verifies as ``False``. ``verify_chain`` checks that consecutive
headers link by ``previous_hash``: with one trusted block hash (a checkpoint, another
node's), it extends that trust to every header after it. With ``chain_id``, a transaction's
signed envelope is checked too: its signature, and that it carries the same transaction.
Malformed answers verify as ``False``, never raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import msgspec

from paraclear.clearing.transactions import Transaction
from paraclear.client.envelope import check_envelope, decode_signed
from paraclear.client.errors import NodeError
from paraclear.client.headers import Header, header_hash, merkle_root, root_from_path, tx_leaf
from paraclear.state.codec import encode

Answer = Mapping[str, Any]
_FAILURES = (KeyError, TypeError, ValueError, AttributeError, msgspec.DecodeError)
_HASHES = ("previous_hash", "tx_root", "receipts_hash", "envelopes_hash", "state_root")


def header_of(answer: Answer) -> Header:
    """The ``Header`` of a ``get_block_header`` answer (raises on a malformed one)."""
    hashes = {name: bytes.fromhex(answer[name]) for name in _HASHES}
    if any(len(value) != 32 for value in hashes.values()):
        raise ValueError("hashes are 32 bytes")
    return Header(
        height=int(answer["height"]),
        time=int(answer["time"]),
        tx_count=int(answer["tx_count"]),
        **hashes,
    )


def verify_header(header: Answer) -> bool:
    """True if ``header`` is version 2 and hashes to its ``block_hash``."""
    try:
        return header["version"] == 2 and header_hash(header_of(header)) == bytes.fromhex(
            header["block_hash"]
        )
    except _FAILURES:
        return False


def verify_chain(headers: Sequence[Answer]) -> bool:
    """True if every header verifies and each names the one before as its previous block."""
    for before, after in pairwise(headers):
        try:
            if after["height"] != before["height"] + 1:
                return False
            if after["previous_hash"] != before["block_hash"]:
                return False
        except _FAILURES:
            return False
    return all(verify_header(header) for header in headers)


def decode_tx(encoded_hex: str) -> Transaction | None:
    """The transaction of canonical msgpack ``encoded_hex``, or None if it is not that."""
    try:
        encoded = bytes.fromhex(encoded_hex)
        tx = msgspec.msgpack.decode(encoded, type=Transaction)
    except (*_FAILURES, msgspec.ValidationError):
        return None
    return tx if encode(tx) == encoded else None


def _tx_checks(served: Answer, chain_id: str | None) -> bytes | None:
    """The leaf of a served transaction if it decodes canonically (and its envelope, with
    ``chain_id``, is signed and carries it), else None."""
    tx = decode_tx(served["encoded"])
    if tx is None:
        return None
    if chain_id is not None and served.get("envelope") is not None:
        try:
            signed = decode_signed(bytes.fromhex(served["envelope"]))
            check_envelope(signed, chain_id)
        except (*_FAILURES, NodeError):
            return None
        if encode(signed.tx) != encode(tx):
            return None
    return tx_leaf(encode(tx))


def verify_block(header: Answer, block: Answer, *, chain_id: str | None = None) -> bool:
    """True if ``header`` verifies, ``block`` (a ``get_block`` answer) is of it, its
    ``tx_hashes`` give the header's ``tx_root`` and every transaction served hashes to its
    leaf."""
    try:
        if not verify_header(header) or block["header"]["block_hash"] != header["block_hash"]:
            return False
        leaves = [bytes.fromhex(leaf) for leaf in block["tx_hashes"]]
        if len(leaves) != header["tx_count"]:
            return False
        if merkle_root(leaves) != bytes.fromhex(header["tx_root"]):
            return False
        for served in block["transactions"]:
            index = served["index"]
            if not 0 <= index < len(leaves) or _tx_checks(served, chain_id) != leaves[index]:
                return False
        return True
    except _FAILURES:
        return False


def verify_transaction(header: Answer, answer: Answer, *, chain_id: str | None = None) -> bool:
    """True if ``header`` verifies and ``answer`` (a ``get_transaction_proof`` answer) leads
    from its transaction's leaf to the header's ``tx_root``."""
    try:
        if not verify_header(header):
            return False
        leaf = _tx_checks(answer, chain_id)
        if leaf is None:
            return False
        path = [bytes.fromhex(node) for node in answer["path"]]
        root = root_from_path(leaf, answer["index"], header["tx_count"], path)
        return root is not None and root == bytes.fromhex(header["tx_root"])
    except _FAILURES:
        return False
