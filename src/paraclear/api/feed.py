"""What the node core sends its front-ends' follower copies (``paraclear.api.follower``).

``committed`` turns a durable block's report into a ``link.Committed``: its transactions
and receipts as the block log encodes them, its write set as the entries it set (encoded
as a snapshot's, ``paraclear.chain.snapshot``) and the keys it deleted, and the best
levels of the books it changed; ``published``, the ``blocks`` and ``totals`` messages the
core's publisher built of it. ``snapshot`` is the whole of it at one height: the state's
entries, every book's best levels and the tape.

A snapshot must show one block: the state, the books and the tape of the same height. The
caller takes it either in a block's listener (the state is the block's while listeners
run, and the books and tape were updated before them), or holding ``Node.state_lock``
once every listener of the node's height has run (``paraclear.api.core_link``).
"""

from __future__ import annotations

import pickle
from typing import Final

import msgspec

from paraclear.api import link
from paraclear.chain.core import BlockReport, Node
from paraclear.chain.snapshot import encode_entries
from paraclear.chain.store_records import encode_receipts
from paraclear.state.store import is_absent

_encoder: Final = msgspec.msgpack.Encoder()
_json: Final = msgspec.json.Encoder()


def committed(report: BlockReport) -> link.Committed:
    """A durable block, as its followers need it."""
    block, result = report.block, report.result
    entries = {key: value for key, value in result.write_set.items() if not is_absent(value)}
    return link.Committed(
        block.height,
        block.time,
        result.state_root,
        _encoder.encode(block),
        encode_receipts(result.receipts),
        encode_entries(entries),
        [key for key, value in result.write_set.items() if is_absent(value)],
        {name: (list(book.bids), list(book.asks)) for name, book in report.books.items()},
        list(report.delisted),
    )


def published(height: int, stats: object, totals: object) -> link.Published:
    """The core's ``blocks`` and ``totals`` messages of block ``height`` (None: none)."""
    return link.Published(
        height,
        b"" if stats is None else _json.encode(stats),
        b"" if totals is None else _json.encode(totals),
    )


def snapshot(node: Node, root: bytes) -> link.Snapshot:
    """Everything a follower holds, as of ``node.height`` (whose state root is ``root``);
    see the module docstring for when the caller may take it."""
    return link.Snapshot(
        node.height,
        node.block_time,
        root,
        node.config.margin_model,
        encode_entries(node.state.data),
        {name: (list(bids), list(asks)) for name, (bids, asks) in node.depth.items()},
        pickle.dumps(node.tape, pickle.HIGHEST_PROTOCOL),
    )
