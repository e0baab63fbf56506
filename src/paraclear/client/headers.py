"""Block headers and the transaction root: definitions a client can check with ``hashlib``.

**Transaction root** (``tx_root``): a binary Merkle tree over a block's transactions in
order. Leaf ``i`` is BLAKE2b-256(0x00 ‖ canonical msgpack of transaction ``i``); a parent is
BLAKE2b-256(0x01 ‖ left ‖ right); a level's last node without a partner moves up as it is.
An empty block's root is 32 zero bytes. An inclusion proof of transaction ``i`` of ``n`` is
the list of its siblings from the leaf up (levels where it has none are skipped); the
shape of the tree follows from ``i`` and ``n`` alone (``root_from_path``).

**Block hash, version 2** (``header_hash``): BLAKE2b-256 of

    0x02 ‖ previous_hash ‖ height ‖ time ‖ tx_count (each int64, big-endian)
         ‖ tx_root ‖ receipts_hash ‖ envelopes_hash ‖ state_root

where ``receipts_hash`` is BLAKE2b-256 of the block's receipts as the log stores them and
``envelopes_hash`` BLAKE2b-256 of its signed envelopes as stored (32 zero bytes when the
block stores none). Every field is in the header that ``public/get_block_header`` serves,
so a header verifies on its own, and its ``tx_root`` against the transactions that
``public/get_block`` serves. Blocks written before version 2 (chains of format 3) keep
their **version 1** hash, which covers the stored bytes of the block's row (the log checks
it; ``paraclear.chain.store_sql.block_hash``) and cannot be recomputed from a header.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from hashlib import blake2b
from typing import Final

import msgspec

HEADER_VERSION: Final = 2
"""The block hash version new blocks are written under."""
EMPTY_ROOT: Final = bytes(32)
_LEAF: Final = b"\x00"
_NODE: Final = b"\x01"
_NUMBERS: Final = struct.Struct(">qqq")


class Header(msgspec.Struct, frozen=True):
    """What a version-2 block hash covers (hashes and roots are 32 bytes; ``time`` in
    seconds since the epoch)."""

    height: int
    time: int
    tx_count: int
    previous_hash: bytes
    tx_root: bytes
    receipts_hash: bytes
    envelopes_hash: bytes
    state_root: bytes


def digest(data: bytes) -> bytes:
    """BLAKE2b-256 of ``data``."""
    return blake2b(data, digest_size=32).digest()


def header_hash(header: Header) -> bytes:
    """The version-2 block hash of ``header`` (see the module docstring)."""
    numbers = _NUMBERS.pack(header.height, header.time, header.tx_count)
    return digest(
        b"\x02"
        + header.previous_hash
        + numbers
        + header.tx_root
        + header.receipts_hash
        + header.envelopes_hash
        + header.state_root
    )


def blob_hash(blob: bytes | None) -> bytes:
    """``receipts_hash`` / ``envelopes_hash`` of a stored blob (zeros for none)."""
    return EMPTY_ROOT if blob is None else digest(blob)


def tx_leaf(encoded_tx: bytes) -> bytes:
    """The leaf of one transaction (its canonical msgpack)."""
    return digest(_LEAF + encoded_tx)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over ``leaves`` (zeros for none)."""
    level = list(leaves)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _parents(level)
    return level[0]


def tx_root(encoded_txs: Sequence[bytes]) -> bytes:
    """The transaction root of a block's transactions (each its canonical msgpack)."""
    return merkle_root([tx_leaf(tx) for tx in encoded_txs])


def merkle_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The siblings of leaf ``index`` from the bottom up: its inclusion proof."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of {len(leaves)}")
    path: list[bytes] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level, index = _parents(level), index // 2
    return path


def root_from_path(leaf: bytes, index: int, count: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` leads to from ``leaf`` at ``index`` of ``count`` leaves, or
    None if the path does not have the length the tree's shape gives."""
    if not 0 <= index < count:
        return None
    node, width, used = leaf, count, 0
    while width > 1:
        sibling = index ^ 1
        if sibling < width:
            if used == len(path):
                return None
            other = path[used]
            used += 1
            node = digest(_NODE + (other + node if index & 1 else node + other))
        index, width = index // 2, (width + 1) // 2
    return node if used == len(path) else None


def _parents(level: list[bytes]) -> list[bytes]:
    pairs = [digest(_NODE + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
    return pairs + level[len(pairs) * 2 :]
