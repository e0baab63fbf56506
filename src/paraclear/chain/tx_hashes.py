"""The transaction root of a block in compiled code (``state.blake2b.hash_many``): the
same root as ``paraclear.client.headers.tx_root``, its readable definition (tested equal).

The block log computes it for every block it appends or checks: about 1 µs a transaction
(encoding included) instead of about 4 µs through ``hashlib`` one node at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from paraclear.client.headers import EMPTY_ROOT
from paraclear.state.blake2b import DIGEST_SIZE, hash_many
from paraclear.state.codec import append_encoding

Digests = npt.NDArray[np.uint8]
"""Shape ``(n, 32)``: one digest a row."""
_PAIR: Final = 1 + 2 * DIGEST_SIZE


def tx_leaves(txs: Sequence[object]) -> Digests:
    """Each transaction's leaf: BLAKE2b-256(0x00 ‖ its canonical msgpack)."""
    buffer = bytearray()
    offsets = [0]
    for tx in txs:
        buffer.append(0)
        offsets.append(append_encoding(tx, buffer))
    out = np.empty((len(txs), DIGEST_SIZE), dtype=np.uint8)
    if txs:
        hash_many(np.frombuffer(buffer, dtype=np.uint8), np.array(offsets, dtype=np.int64), out)
    return out


def leaves_root(leaves: Digests) -> bytes:
    """The Merkle root over ``leaves`` (rules of ``headers.merkle_root``)."""
    level = leaves
    if len(level) == 0:
        return EMPTY_ROOT
    while len(level) > 1:
        pairs = len(level) // 2
        joined = np.empty((pairs, _PAIR), dtype=np.uint8)
        joined[:, 0] = 1
        joined[:, 1 : 1 + DIGEST_SIZE] = level[0 : 2 * pairs : 2]
        joined[:, 1 + DIGEST_SIZE :] = level[1 : 2 * pairs : 2]
        parents = np.empty((pairs + len(level) % 2, DIGEST_SIZE), dtype=np.uint8)
        offsets = np.arange(pairs + 1, dtype=np.int64) * _PAIR
        hash_many(joined.reshape(-1), offsets, parents[:pairs])
        if len(level) % 2:
            parents[pairs] = level[-1]
        level = parents
    return bytes(level[0].tobytes())


def block_tx_root(txs: Sequence[object]) -> bytes:
    """The transaction root of a block's transactions."""
    return leaves_root(tx_leaves(txs))
