"""``BlockStore``: the block log and state snapshots of one chain, in embedded SQLite.

A data directory holds one file, ``chain.sqlite``, in WAL mode with ``synchronous=FULL``:
when ``append`` returns, the block is on disk, and a crash at any moment (a SIGKILL, a
power cut) leaves either the whole block or none of it. Tables:

* ``meta``: format version, the ``ChainSpec`` (chain id, genesis ``HouseConfig``, margin
  model name) and the genesis root. Opening a directory with another spec raises
  ``ChainMismatch``.
* ``blocks``: one row per height, contiguous from 1: time, the transactions (msgpack of
  ``Block[Transaction]``), the signed envelopes as one optional blob, the receipts, the
  state root after the block and the transaction count.
* ``snapshots``: the state after some heights (``paraclear.node.snapshot``'s encoding,
  zlib-compressed), with its root; the last ``keep_snapshots`` are kept.

Usage (one thread at a time; the node calls it from its block producer)::

    store = BlockStore.open(data_dir, spec)        # creates the directory if needed
    store.append(block, result, envelopes)          # durable when it returns;
                                                    # envelopes: b"" for producer-made txs
    if store.snapshot_due(block.height):
        store.save_snapshot(block.height, state)
    store.height, store.last_root, store.block(h), store.blocks(from_height)
    store.latest_snapshot()                         # Snapshot | None
    store.close()

``paraclear.node.replay.open_state`` rebuilds the state from the latest snapshot and the
blocks after it, checking every root.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.margin import MarginModel, PortfolioMargin, StandardMargin
from paraclear.clearing.records import HouseConfig
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, BlockResult, Receipt
from paraclear.execution.wire import WireCodec
from paraclear.node.snapshot import decode_state, encode_state
from paraclear.state import State

FORMAT_VERSION: Final = 2
"""2: snapshots are zlib-compressed."""
DB_NAME: Final = "chain.sqlite"
DEFAULT_SNAPSHOT_EVERY: Final = 100
"""Blocks between state snapshots: recovery re-executes at most this many blocks."""
DEFAULT_KEEP_SNAPSHOTS: Final = 3
_ZLIB_LEVEL: Final = 1
"""Snapshots compress about 20x at level 1 (state is repetitive), in ~2 % of encode time."""
_PAGE: Final = 64
"""Rows fetched per query when iterating blocks."""

MARGIN_MODELS: Final[dict[str, MarginModel]] = {
    "standard": StandardMargin(),
    "portfolio": PortfolioMargin(),
}
"""The margin models a chain can name, with their default parameters."""

_SCHEMA: Final = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE blocks (
    height INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    tx_count INTEGER NOT NULL,
    txs BLOB NOT NULL,
    envelopes BLOB,
    receipts BLOB NOT NULL,
    state_root BLOB NOT NULL
);
CREATE TABLE snapshots (
    height INTEGER PRIMARY KEY,
    state_root BLOB NOT NULL,
    keys INTEGER NOT NULL,
    state BLOB NOT NULL
);
"""

_encoder: Final = msgspec.msgpack.Encoder()
_block_decoder: Final = msgspec.msgpack.Decoder(Block[Transaction])
_envelopes_decoder: Final = msgspec.msgpack.Decoder(list[bytes])
_tx_decoder: Final = msgspec.msgpack.Decoder(Transaction)
_receipts: Final = WireCodec(ClearingMachine())


class StorageError(Exception):
    """Base of every storage and recovery error."""


class StoreMissing(StorageError):
    """No chain in the data directory, and no spec to create one with."""


class UnsupportedFormat(StorageError):
    """The data directory was written by another storage format version."""


class CorruptStore(StorageError):
    """The database is not what this module writes (a gap in the log, a bad snapshot)."""


class ChainMismatch(StorageError):
    """The data directory holds another chain than the one asked for."""

    def __init__(self, field: str, stored: object, given: object) -> None:
        super().__init__(f"data directory holds {field} {stored!r}, not {given!r}")
        self.field = field
        self.stored = stored
        self.given = given


class HeightError(StorageError):
    """A block appended at the wrong height (heights are contiguous from 1)."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"expected a block at height {expected}, got height {got}")
        self.expected = expected
        self.got = got


class UnreadableBlock(StorageError):
    """A transaction that would not decode back from the log (it breaks the transaction
    format's declared ranges): appending it would make the log unreplayable."""

    def __init__(self, height: int, index: int, reason: str) -> None:
        super().__init__(f"block {height}, transaction {index} would not decode back: {reason}")
        self.height = height
        self.index = index
        self.reason = reason


class Divergence(StorageError):
    """Re-execution of the block at ``height`` does not reproduce what the log holds."""

    def __init__(self, height: int, message: str) -> None:
        super().__init__(message)
        self.height = height


class RootMismatch(Divergence):
    """A recomputed state root differs from the one stored for ``height``."""

    def __init__(self, height: int, expected: bytes, got: bytes) -> None:
        super().__init__(
            height, f"state root at height {height} is {got.hex()}, the log says {expected.hex()}"
        )
        self.expected = expected
        self.got = got


class ReceiptsMismatch(Divergence):
    """Re-execution gives the block at ``height`` the same root but another receipt for
    transaction ``index`` (what its sender was told happened)."""

    def __init__(self, height: int, index: int) -> None:
        super().__init__(height, f"receipt {index} of block {height} differs from the log's")
        self.index = index


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

    @property
    def height(self) -> int:
        return self.block.height

    def receipts(self) -> list[Receipt]:
        return _receipts.decode_receipts(self.receipts_data)

    def envelopes(self) -> list[bytes] | None:
        """The raw signed envelopes of the transactions, if the producer stored them."""
        if self.envelopes_data is None:
            return None
        return _envelopes_decoder.decode(self.envelopes_data)


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
        """The decoded state. Raises ``RootMismatch`` if its root is not the stored one."""
        state = decode_state(self.data)
        if state.root() != self.state_root:
            raise RootMismatch(self.height, self.state_root, state.root())
        return state


class BlockStore:
    """The block log and snapshots of one chain in ``DATA_DIR/chain.sqlite``."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        spec: ChainSpec,
        *,
        snapshot_every: int,
        keep_snapshots: int,
    ) -> None:
        """Use ``BlockStore.open``."""
        self._db = connection
        self.path = path
        self.spec = spec
        self.snapshot_every = snapshot_every
        self.keep_snapshots = keep_snapshots
        self.genesis_root: bytes = self._meta("genesis_root")
        self.height, self.last_root = self._tip()

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        spec: ChainSpec | None = None,
        *,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS,
    ) -> BlockStore:
        """Open the chain in ``data_dir``, creating it (and the directory) from ``spec`` if
        there is none. Raises ``StoreMissing`` (none and no spec), ``ChainMismatch``
        (another spec), ``UnsupportedFormat``."""
        if snapshot_every < 1 or keep_snapshots < 1:
            raise ValueError("snapshot_every and keep_snapshots must be at least 1")
        path = Path(data_dir) / DB_NAME
        if not path.exists() and spec is None:
            raise StoreMissing(f"no chain in {data_dir} (expected {DB_NAME})")
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            stored = _read_spec(db, path)
            if stored is None:
                if spec is None:
                    raise StoreMissing(f"no chain in {data_dir} (empty {DB_NAME})")
                _create(db, spec)
                stored = spec
            elif spec is not None:
                _check_spec(stored, spec)
            return cls(
                db, path, stored, snapshot_every=snapshot_every, keep_snapshots=keep_snapshots
            )
        except BaseException:
            db.close()
            raise

    # --- the block log ----------------------------------------------------------------------

    def append(
        self,
        block: Block[Transaction],
        result: BlockResult,
        envelopes: Sequence[bytes] | None = None,
    ) -> None:
        """Append the next block with its result, in one SQLite transaction, durable when
        this returns.

        ``envelopes``: the raw signed envelope of each transaction, ``b""`` for one the
        producer made itself. Transactions without an envelope (all of them if
        ``envelopes`` is None) are checked to decode back, since nothing validated them.
        Raises ``HeightError`` unless ``block.height == height + 1``, ``UnreadableBlock``.
        """
        if block.height != self.height + 1:
            raise HeightError(self.height + 1, block.height)
        if len(result.receipts) != len(block.txs):
            raise ValueError(f"{len(result.receipts)} receipts for {len(block.txs)} txs")
        if envelopes is not None and len(envelopes) != len(block.txs):
            raise ValueError(f"{len(envelopes)} envelopes for {len(block.txs)} txs")
        _check_decodes(block, envelopes)
        row = (
            block.height,
            block.time,
            len(block.txs),
            _encoder.encode(block),
            None if envelopes is None else _encoder.encode(list(envelopes)),
            encode_receipts(result.receipts),
            result.state_root,
        )
        try:
            with self._transaction():
                self._db.execute("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.IntegrityError:  # another writer appended this height meanwhile
            tip = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
            raise HeightError(tip + 1, block.height) from None
        self.height, self.last_root = block.height, result.state_root

    def block(self, height: int) -> StoredBlock:
        """The block at ``height``. Raises ``KeyError`` if there is none."""
        row = self._db.execute(f"{_SELECT_BLOCKS} WHERE height = ?", (height,)).fetchone()
        if row is None:
            raise KeyError(f"no block at height {height}")
        return _stored_block(row)

    def blocks(self, from_height: int = 1, to_height: int | None = None) -> Iterator[StoredBlock]:
        """Every block from ``from_height`` to ``to_height`` (default: the tip, even as it
        moves), in order, fetched in pages so that the caller may append meanwhile.
        Raises ``CorruptStore`` on a gap."""
        next_height = max(from_height, 1)
        last = 2**62 if to_height is None else to_height
        while next_height <= last:
            rows = self._db.execute(
                f"{_SELECT_BLOCKS} WHERE height >= ? AND height <= ? ORDER BY height LIMIT ?",
                (next_height, last, _PAGE),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                if row[0] != next_height:
                    raise CorruptStore(f"block log has no height {next_height}")
                yield _stored_block(row)
                next_height += 1

    def root_at(self, height: int) -> bytes:
        """The state root after ``height`` (the genesis root for 0)."""
        if height == 0:
            return self.genesis_root
        row = self._db.execute("SELECT state_root FROM blocks WHERE height = ?", (height,))
        found = row.fetchone()
        if found is None:
            raise KeyError(f"no block at height {height}")
        return bytes(found[0])

    # --- snapshots --------------------------------------------------------------------------

    def snapshot_due(self, height: int) -> bool:
        """Whether the producer should snapshot the state after ``height``."""
        return height > 0 and height % self.snapshot_every == 0

    def save_snapshot(self, height: int, state: State) -> None:
        """Store ``state`` as the state after ``height`` and drop all but the last
        ``keep_snapshots``. Raises ``RootMismatch`` if its root is not the log's."""
        expected = self.root_at(height)
        if state.root() != expected:
            raise RootMismatch(height, expected, state.root())
        row = (height, expected, len(state), zlib.compress(encode_state(state), _ZLIB_LEVEL))
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", row)
            self._db.execute(
                "DELETE FROM snapshots WHERE height NOT IN "
                "(SELECT height FROM snapshots ORDER BY height DESC LIMIT ?)",
                (self.keep_snapshots,),
            )

    def snapshot_heights(self) -> list[int]:
        rows = self._db.execute("SELECT height FROM snapshots ORDER BY height").fetchall()
        return [height for (height,) in rows]

    def snapshot(self, height: int) -> Snapshot:
        """The snapshot after ``height``. Raises ``KeyError`` if there is none."""
        row = self._db.execute(f"{_SELECT_SNAPSHOTS} WHERE height = ?", (height,)).fetchone()
        if row is None:
            raise KeyError(f"no snapshot at height {height}")
        return _snapshot(row)

    def latest_snapshot(self) -> Snapshot | None:
        row = self._db.execute(f"{_SELECT_SNAPSHOTS} ORDER BY height DESC LIMIT 1").fetchone()
        return None if row is None else _snapshot(row)

    # --- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _meta(self, name: str) -> bytes:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise CorruptStore(f"meta has no {name}")
        return bytes(row[0])

    def _tip(self) -> tuple[int, bytes]:
        row = self._db.execute(
            "SELECT height, state_root FROM blocks ORDER BY height DESC LIMIT 1"
        ).fetchone()
        return (0, self.genesis_root) if row is None else (row[0], bytes(row[1]))


_SELECT_BLOCKS: Final = "SELECT height, txs, state_root, tx_count, receipts, envelopes FROM blocks"
_SELECT_SNAPSHOTS: Final = "SELECT height, state_root, keys, state FROM snapshots"


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` if the body raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _stored_block(row: tuple[int, bytes, bytes, int, bytes, bytes | None]) -> StoredBlock:
    _, txs, root, tx_count, receipts, envelopes = row
    block = _block_decoder.decode(txs)
    return StoredBlock(
        block,
        bytes(root),
        tx_count,
        bytes(receipts),
        None if envelopes is None else bytes(envelopes),
    )


def encode_receipts(receipts: list[Receipt]) -> bytes:
    """The receipts as the log stores them (deterministic: equal receipts, equal bytes)."""
    return _receipts.encode_receipts(receipts)


def _snapshot(row: tuple[int, bytes, int, bytes]) -> Snapshot:
    height, root, keys, stored = row
    try:
        data = zlib.decompress(stored)
    except zlib.error as error:
        raise CorruptStore(f"snapshot at height {height}: {error}") from None
    return Snapshot(height, bytes(root), keys, data, len(stored))


def _check_decodes(block: Block[Transaction], envelopes: Sequence[bytes] | None) -> None:
    """Raise ``UnreadableBlock`` for the first transaction without an envelope that would
    not decode back (about 5 µs a transaction)."""
    for index, tx in enumerate(block.txs):
        if envelopes is None or not envelopes[index]:
            try:
                _tx_decoder.decode(_encoder.encode(tx))
            except (msgspec.ValidationError, msgspec.EncodeError, OverflowError) as error:
                raise UnreadableBlock(block.height, index, str(error)) from None


def _create(db: sqlite3.Connection, spec: ChainSpec) -> None:
    """Create the tables and the meta rows in one transaction: a crash leaves none."""
    meta = {
        "format": _encoder.encode(FORMAT_VERSION),
        "spec": _encoder.encode(spec),
        "genesis_root": spec.genesis_state().root(),
    }
    with _Transaction(db):
        for statement in filter(str.strip, _SCHEMA.split(";")):
            db.execute(statement)
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())


def _read_spec(db: sqlite3.Connection, path: Path) -> ChainSpec | None:
    """The stored spec, or ``None`` for a database with no tables yet."""
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
    if found.fetchone() is None:
        return None
    rows = dict(db.execute("SELECT name, value FROM meta").fetchall())
    try:
        version = msgspec.msgpack.decode(rows["format"], type=int)
        if version != FORMAT_VERSION:
            raise UnsupportedFormat(f"{path} has format {version}, this is {FORMAT_VERSION}")
        return msgspec.msgpack.decode(rows["spec"], type=ChainSpec)
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CorruptStore(f"{path}: unreadable meta ({error})") from error


def _check_spec(stored: ChainSpec, given: ChainSpec) -> None:
    for field in ChainSpec.__struct_fields__:
        if getattr(stored, field) != getattr(given, field):
            raise ChainMismatch(field, getattr(stored, field), getattr(given, field))
