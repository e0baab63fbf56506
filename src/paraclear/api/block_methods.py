"""Blocks a client can check: headers, transactions and transaction inclusion proofs.

* ``public/get_block_header`` (optional ``height``, default the latest): ``version`` (of the
  block hash, ``paraclear.client.headers``), ``height``, ``time`` (seconds since the epoch),
  ``tx_count``, ``previous_hash``, ``tx_root``, ``receipts_hash``, ``envelopes_hash``,
  ``state_root`` and ``block_hash``, hashes and roots as hex. A version 2 header hashes to
  its ``block_hash`` on its own.
* ``public/get_block`` (``height``, ``offset`` 0, ``count`` 100, at most ``MAX_TXS``): the
  header, ``tx_hashes`` (every transaction's leaf, in order: enough to check ``tx_root``)
  and the transactions ``offset`` to ``offset + count`` as ``{"index", "encoded" (canonical
  msgpack, hex), "tx" (readable), "envelope" (the signed envelope as received, hex; null
  for a transaction the producer made)}``.
* ``public/get_transaction_proof`` (``height``, ``index``): one transaction as above with
  ``path``, the siblings from its leaf to ``tx_root`` (``headers.merkle_path``), and the
  header.

``paraclear.client.block_check`` verifies all three on the client's side.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from paraclear.api.methods import Params
from paraclear.api.proof_records import ProvingNode
from paraclear.api.proofs import HeightParams
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.chain.storage import StoredBlock
from paraclear.chain.tx_hashes import Digests, leaves_root, tx_leaves
from paraclear.client.headers import merkle_path
from paraclear.state.codec import encode

MAX_TXS: Final = 1_000
"""Transactions one ``get_block`` answer carries at most (page with ``offset``)."""
HEADERS_KEPT: Final = 4_096
"""Headers kept once made (about 1 KB each): making one reads and hashes its whole block
(about 55 ms for 10,000 transactions), and blocks never change."""


class BlockParams(Params, frozen=True):
    height: int
    offset: int = 0
    count: int = 100


class TransactionParams(Params, frozen=True):
    height: int
    index: int


def header_json(stored: StoredBlock, parent: bytes, tx_root: bytes) -> dict[str, Any]:
    header = stored.header(parent, tx_root)
    return {
        "version": stored.hash_version,
        "height": header.height,
        "time": header.time,
        "tx_count": header.tx_count,
        "previous_hash": header.previous_hash.hex(),
        "tx_root": header.tx_root.hex(),
        "receipts_hash": header.receipts_hash.hex(),
        "envelopes_hash": header.envelopes_hash.hex(),
        "state_root": header.state_root.hex(),
        "block_hash": stored.block_hash.hex(),
    }


class BlockMethods:
    """``get_block_header``, ``get_block`` and ``get_transaction_proof`` of one node."""

    def __init__(self, node: ProvingNode) -> None:
        self.node = node
        self._headers: dict[int, dict[str, Any]] = {}

    def register(self, registry: Registry) -> None:
        registry.add("public/get_block_header", HeightParams, self.get_block_header)
        registry.add("public/get_block", BlockParams, self.get_block)
        registry.add("public/get_transaction_proof", TransactionParams, self.get_transaction_proof)

    def get_block_header(self, context: Context, params: HeightParams) -> dict[str, Any]:
        height = self.node.height if params.height is None else params.height
        header = self._headers.get(height)
        if header is None:
            stored, leaves = self._block(height)
            header = self._header(stored, leaves)
        return dict(header)

    def get_block(self, context: Context, params: BlockParams) -> dict[str, Any]:
        if not 1 <= params.count <= MAX_TXS:
            raise RpcError.invalid_params("count", f"1 to {MAX_TXS}")
        if params.offset < 0:
            raise RpcError.invalid_params("offset", "must not be negative")
        stored, leaves = self._block(params.height)
        end = min(params.offset + params.count, len(stored.block.txs))
        envelopes = stored.envelopes()
        return {
            "header": self._header(stored, leaves),
            "tx_hashes": [leaf.tobytes().hex() for leaf in leaves],
            "transactions": [_tx_json(stored, i, envelopes) for i in range(params.offset, end)],
        }

    def get_transaction_proof(self, context: Context, params: TransactionParams) -> dict[str, Any]:
        stored, leaves = self._block(params.height)
        if not 0 <= params.index < len(stored.block.txs):
            raise RpcError.invalid_params("index", f"block {params.height} has {len(leaves)} txs")
        digests = [leaf.tobytes() for leaf in leaves]
        return {
            **_tx_json(stored, params.index, stored.envelopes()),
            "path": [digest.hex() for digest in merkle_path(digests, params.index)],
            "header": self._header(stored, leaves),
        }

    def _block(self, height: int) -> tuple[StoredBlock, Digests]:
        latest = self.node.height
        if not 1 <= height <= latest:
            raise RpcError.invalid_params("height", f"blocks run from 1 to {latest}")
        stored = self.node.store.block(height)
        return stored, tx_leaves(stored.block.txs)

    def _header(self, stored: StoredBlock, leaves: Digests) -> dict[str, Any]:
        """The block's header, kept for the next time it is asked."""
        parent = self.node.store.hash_at(stored.height - 1)
        header = header_json(stored, parent, leaves_root(leaves))
        self._headers[stored.height] = header
        if len(self._headers) > HEADERS_KEPT:
            del self._headers[next(iter(self._headers))]
        return dict(header)


def _tx_json(stored: StoredBlock, index: int, envelopes: list[bytes] | None) -> dict[str, Any]:
    tx = stored.block.txs[index]
    envelope = envelopes[index] if envelopes is not None else b""
    return {
        "index": index,
        "encoded": encode(tx).hex(),
        "tx": msgspec.to_builtins(tx),
        "envelope": envelope.hex() if envelope else None,
    }
