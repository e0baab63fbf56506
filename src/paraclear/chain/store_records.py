"""The records of the block log: ``ChainSpec``, ``StoredBlock`` and ``Snapshot``, how rows
decode into them (every failure a ``CorruptStore`` naming the height), and the checks on a
block before it is written and after it is read (``check_block_hash``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from paraclear.chain.snapshot import CorruptSnapshot, decode_state
from paraclear.chain.store_errors import (
    BlockHashMismatch,
    ChainMismatch,
    CorruptStore,
    RootMismatch,
    UnreadableBlock,
)
from paraclear.chain.store_sql import block_hash
from paraclear.chain.tx_hashes import block_tx_root
from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.margin import MarginModel, PortfolioMargin, StandardMargin
from paraclear.clearing.records import HouseConfig
from paraclear.clearing.transactions import Transaction
from paraclear.client.headers import Header, blob_hash, header_hash
from paraclear.execution import Block, Receipt
from paraclear.execution.wire import WireCodec
from paraclear.state import State

MARGIN_MODELS: Final[dict[str, MarginModel]] = {
    "standard": StandardMargin(),
    "portfolio": PortfolioMargin(),
}
"""The margin models a chain can name, with their default parameters."""

_encoder: Final = msgspec.msgpack.Encoder()
_block_decoder: Final = msgspec.msgpack.Decoder(Block[Transaction])
_envelopes_decoder: Final = msgspec.msgpack.Decoder(list[bytes])
_tx_decoder: Final = msgspec.msgpack.Decoder(Transaction)
_receipts: Final = WireCodec(ClearingMachine())


class ChainSpec(msgspec.Struct, frozen=True):
    """What identifies a chain: its id, its genesis and its margin model (by name)."""

    chain_id: str
    genesis: HouseConfig
    margin_model: str = "standard"

    def __post_init__(self) -> None:
        if self.margin_model not in MARGIN_MODELS:
            raise ValueError(f"margin model must be one of {sorted(MARGIN_MODELS)}")

    def model(self) -> MarginModel:
        return MARGIN_MODELS[self.margin_model]

    def genesis_state(self) -> State:
        return genesis_state(self.genesis)


@dataclass(frozen=True)
class StoredBlock:
    """One row of the block log. Receipts and envelopes are decoded on demand."""

    block: Block[Transaction]
    state_root: bytes
    tx_count: int
    receipts_data: bytes
    envelopes_data: bytes | None
    txs_data: bytes = b""
    """The transactions as stored (what a version 1 block hash covers)."""
    block_hash: bytes = b""
    hash_version: int = 2
    """How ``block_hash`` is made: 1 over the stored row, 2 over the header
    (``paraclear.client.headers``)."""

    @property
    def height(self) -> int:
        return self.block.height

    def receipts(self) -> list[Receipt]:
        """The logged receipts. Raises ``CorruptStore`` if they do not decode."""
        with _decoding(self.height, "receipts"):
            return _receipts.decode_receipts(self.receipts_data)

    def envelopes(self) -> list[bytes] | None:
        """The raw signed envelopes of the transactions, if the producer stored them."""
        if self.envelopes_data is None:
            return None
        with _decoding(self.height, "envelopes"):
            return _envelopes_decoder.decode(self.envelopes_data)

    def header(self, parent: bytes, tx_root: bytes | None = None) -> Header:
        """This block's header after the block hash ``parent`` (its transaction root
        computed from its transactions unless given)."""
        return Header(
            self.height,
            self.block.time,
            self.tx_count,
            parent,
            block_tx_root(self.block.txs) if tx_root is None else tx_root,
            blob_hash(self.receipts_data),
            blob_hash(self.envelopes_data),
            self.state_root,
        )

    def hash_from(self, parent: bytes) -> bytes:
        """This block's hash recomputed over its stored bytes, after ``parent``."""
        if self.hash_version == 2:
            return header_hash(self.header(parent))
        return block_hash(
            parent,
            self.height,
            self.block.time,
            self.tx_count,
            self.txs_data,
            self.envelopes_data,
            self.receipts_data,
            self.state_root,
        )


@dataclass(frozen=True)
class Snapshot:
    """A stored state: its height, its root and its encoding (``data``, decompressed)."""

    height: int
    state_root: bytes
    keys: int
    data: bytes
    stored_bytes: int
    """Its size in the database (compressed)."""

    def state(self) -> State:
        """The decoded state. Raises ``CorruptStore`` if it does not decode,
        ``RootMismatch`` if its root is not the stored one."""
        try:
            state = decode_state(self.data)
        except CorruptSnapshot as error:
            raise CorruptStore(f"snapshot at height {self.height}: {error}", self.height) from None
        if state.root() != self.state_root:
            raise RootMismatch(self.height, self.state_root, state.root())
        return state


def check_block_hash(stored: StoredBlock, parent: bytes) -> bytes:
    """``stored``'s hash, after checking it against the one recomputed from ``parent``.
    Raises ``BlockHashMismatch``."""
    if stored.hash_from(parent) != stored.block_hash:
        raise BlockHashMismatch(stored.height, "the log stores for it")
    return stored.block_hash


@contextmanager
def _decoding(height: int, what: str) -> Iterator[None]:
    try:
        yield
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CorruptStore(f"block {height}: its {what} do not decode: {error}", height) from None


def stored_block(
    row: tuple[int, bytes, bytes, int, bytes, bytes | None, bytes], header_from: int
) -> StoredBlock:
    """The block of a row; its hash is version 2 from height ``header_from`` on."""
    height, txs, root, tx_count, receipts, envelopes, digest = row
    with _decoding(height, "transactions"):
        block = _block_decoder.decode(txs)
    if block.height != height:
        raise CorruptStore(f"the block stored at height {height} says {block.height}", height)
    return StoredBlock(
        block,
        bytes(root),
        tx_count,
        bytes(receipts),
        None if envelopes is None else bytes(envelopes),
        bytes(txs),
        bytes(digest or b""),
        2 if height >= header_from else 1,
    )


def encode_receipts(receipts: list[Receipt]) -> bytes:
    """The receipts as the log stores them (deterministic: equal receipts, equal bytes)."""
    return _receipts.encode_receipts(receipts)


def snapshot_of(row: tuple[int, bytes, int, bytes]) -> Snapshot:
    height, root, keys, stored = row
    try:
        data = zlib.decompress(stored)
    except zlib.error as error:
        raise CorruptStore(f"snapshot at height {height}: {error}", height) from None
    return Snapshot(height, bytes(root), keys, data, len(stored))


def check_decodes(block: Block[Transaction], envelopes: Sequence[bytes] | None) -> None:
    """Raise ``UnreadableBlock`` for the first transaction without an envelope that would
    not decode back (about 5 µs a transaction)."""
    for index, tx in enumerate(block.txs):
        if envelopes is None or not envelopes[index]:
            try:
                _tx_decoder.decode(_encoder.encode(tx))
            except (msgspec.ValidationError, msgspec.EncodeError, OverflowError) as error:
                raise UnreadableBlock(block.height, index, str(error)) from None


def decode_spec(rows: dict[str, bytes], path: Path) -> ChainSpec:
    try:
        return msgspec.msgpack.decode(rows["spec"], type=ChainSpec)
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CorruptStore(f"{path}: unreadable meta ({error})") from error


def check_spec(stored: ChainSpec, given: ChainSpec) -> None:
    for field in ChainSpec.__struct_fields__:
        if getattr(stored, field) != getattr(given, field):
            raise ChainMismatch(field, getattr(stored, field), getattr(given, field))
