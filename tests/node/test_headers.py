"""The transaction root and the version 2 block hash: the compiled root equals the readable
definition, every leaf's path leads to the root and no other path does."""

from __future__ import annotations

import msgspec
import numpy as np

from paraclear.chain.tx_hashes import block_tx_root, leaves_root, tx_leaves
from paraclear.clearing.transactions import Deposit
from paraclear.client.headers import (
    EMPTY_ROOT,
    Header,
    header_hash,
    merkle_path,
    merkle_root,
    root_from_path,
    tx_leaf,
    tx_root,
)
from paraclear.state.codec import encode


def deposits(n: int) -> list[Deposit]:
    return [Deposit(sender=f"acct{i:03d}" * 8, nonce=i, amount=10**6 + i) for i in range(n)]


def test_the_compiled_root_is_the_readable_one() -> None:
    for n in (*range(0, 34), 100, 257):
        txs = deposits(n)
        encoded = [encode(tx) for tx in txs]
        assert block_tx_root(txs) == tx_root(encoded), n
        leaves = tx_leaves(txs)
        assert [leaf.tobytes() for leaf in leaves] == [tx_leaf(e) for e in encoded]
    assert block_tx_root([]) == EMPTY_ROOT == leaves_root(np.empty((0, 32), dtype=np.uint8))


def test_every_path_leads_to_the_root_and_only_its_own() -> None:
    for n in range(1, 40):
        leaves = [tx_leaf(bytes([i])) for i in range(n)]
        root = merkle_root(leaves)
        for index in range(n):
            path = merkle_path(leaves, index)
            assert root_from_path(leaves[index], index, n, path) == root, (n, index)
            if n > 1:
                other = (index + 1) % n
                assert root_from_path(leaves[other], index, n, path) != root
            assert root_from_path(leaves[index], index, n, [*path, root]) is None
        assert root_from_path(leaves[0], n, n, []) is None


def test_the_block_hash_covers_every_header_field() -> None:
    header = Header(7, 1_767_225_600, 3, *(bytes([i]) * 32 for i in range(1, 6)))
    digest = header_hash(header)
    for field in msgspec.structs.fields(Header):
        value = getattr(header, field.name)
        other = value + 1 if isinstance(value, int) else bytes([value[0] ^ 1]) + value[1:]
        assert header_hash(msgspec.structs.replace(header, **{field.name: other})) != digest
