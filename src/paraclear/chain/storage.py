"""``BlockStore``: the block log and state snapshots of one chain, in embedded SQLite.

A data directory holds one file, ``chain.sqlite``, in WAL mode with ``synchronous=FULL``:
when ``append`` returns, the block is on disk, and a crash at any moment (a SIGKILL, a
power cut) leaves either the whole block or none of it. Tables:

* ``meta``: format version, the ``ChainSpec`` (chain id, genesis ``HouseConfig``, margin
  model name) and the genesis root. Opening a directory with another spec raises
  ``ChainMismatch``.
* ``blocks``: one row per height, contiguous from 1: time, the transactions (msgpack of
  ``Block[Transaction]``), the signed envelopes as one optional blob, the receipts, the
  state root after the block, the transaction count and the **block hash**, which commits
  to the parent's block hash (the genesis root is block 0's) and everything in the row, so
  to the whole log up to its height. Version 2 (``paraclear.client.headers.header_hash``)
  hashes the block's header: its transaction root and the hashes of its receipts and
  envelopes, so that a client can check it; version 1 (``store_sql.block_hash``), of
  blocks written by format 3 and before, the row's bytes. ``header_from`` is the first
  height of version 2.

Beside the database, the last block whose ``append`` returned is recorded (its copy in
``DATA_DIR/last-block-0|1``, written while SQLite commits it: ``paraclear.chain.block_copy``;
else ``DATA_DIR/acknowledged``: ``paraclear.chain.acknowledged``): opening a log that ends
below it, or whose block at that height hashes otherwise, raises
``AcknowledgedBlocksMissing`` or ``BlockHashMismatch`` instead of silently starting lower,
except that the one block a crash between the two syncs can leave in its copy alone is
taken back into the log.
Every error is a ``StorageError`` (``paraclear.chain.store_errors``) naming the height; an
SQLite error reading a damaged file becomes ``CorruptStore``; no room to write a block
(``SQLITE_FULL``: the disk, or the ``max_bytes`` cap) is ``StorageFull``, and nothing of
the block is written.
* ``snapshots``: the state after some heights (``paraclear.chain.snapshot``'s encoding,
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

``paraclear.chain.replay.open_state`` rebuilds the state from the latest snapshot and the
blocks after it, checking every root.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import suppress
from pathlib import Path
from typing import Final

import msgspec

from paraclear.chain import store_sql as sql
from paraclear.chain.acknowledged import AcknowledgedRecord, Mark
from paraclear.chain.block_copy import BlockCopies, CopiedBlock, highest
from paraclear.chain.snapshot import encode_state
from paraclear.chain.store_errors import (
    AcknowledgedBlocksMissing,
    BlockHashMismatch,
    ChainMismatch,
    CorruptStore,
    Divergence,
    HeightError,
    ReceiptsMismatch,
    RootMismatch,
    StorageError,
    StorageFull,
    StoreMissing,
    TablesMismatch,
    UnreadableBlock,
    UnsupportedFormat,
)
from paraclear.chain.store_open import create_chain, open_record, refuse_if_acknowledged
from paraclear.chain.store_records import (
    MARGIN_MODELS,
    ChainSpec,
    Snapshot,
    StoredBlock,
    check_block_hash,
    check_decodes,
    check_spec,
    decode_spec,
    encode_receipts,
    snapshot_of,
    stored_block,
)
from paraclear.chain.store_sql import DB_NAME, FORMAT_VERSION, block_hash
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block, BlockResult
from paraclear.state import State

__all__ = [
    "DB_NAME",
    "FORMAT_VERSION",
    "MARGIN_MODELS",
    "AcknowledgedBlocksMissing",
    "BlockHashMismatch",
    "BlockStore",
    "ChainMismatch",
    "ChainSpec",
    "CorruptStore",
    "Divergence",
    "HeightError",
    "ReceiptsMismatch",
    "RootMismatch",
    "Snapshot",
    "StorageError",
    "StorageFull",
    "StoreMissing",
    "StoredBlock",
    "TablesMismatch",
    "UnreadableBlock",
    "UnsupportedFormat",
    "block_hash",
    "check_block_hash",
    "encode_receipts",
]

log = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_EVERY: Final = 100
"""Blocks between state snapshots: recovery re-executes at most this many blocks."""
DEFAULT_KEEP_SNAPSHOTS: Final = 3
_ZLIB_LEVEL: Final = 1
"""Snapshots compress about 20x at level 1 (state is repetitive), in ~2 % of encode time."""
_PAGE: Final = 64
"""Rows fetched per query when iterating blocks."""
_encoder: Final = msgspec.msgpack.Encoder()
Row = tuple[int, int, int, bytes, bytes | None, bytes, bytes]
"""A block row without its hash: height, time, tx count, transactions, envelopes,
receipts, state root (``store_sql.INSERT_BLOCK``'s columns)."""


class BlockStore:
    """The block log and snapshots of one chain in ``DATA_DIR/chain.sqlite``."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        spec: ChainSpec,
        acknowledged: AcknowledgedRecord,
        copies: BlockCopies,
        *,
        snapshot_every: int,
        keep_snapshots: int,
    ) -> None:
        """Use ``BlockStore.open``."""
        self._db = connection
        self.path = path
        self.spec = spec
        self.acknowledged = acknowledged
        self.copies = copies
        self.snapshot_every = snapshot_every
        self.keep_snapshots = keep_snapshots
        self.genesis_root: bytes = self._meta("genesis_root")
        self.header_from: int = msgspec.msgpack.decode(self._meta("header_from"), type=int)
        """The first height hashed under block hash version 2 (``paraclear.client.headers``)."""
        self.height, self.last_root, self.last_hash = self._tip()
        self._tip_hash = (self.height, self.last_hash)
        """The tip's height and block hash as one value: a reader on another thread never
        pairs a new height with the hash before it (``hash_at``)."""

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        spec: ChainSpec | None = None,
        *,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS,
        accept_loss: bool = False,
        max_bytes: int | None = None,
        recover: bool = False,
    ) -> BlockStore:
        """Open the chain in ``data_dir``, creating it (and the directory) from ``spec`` if
        there is none, and check it against the acknowledged record.

        ``recover``: this is the chain's writer, alone on it (``replay.open_state``, which
        the node opens its chain with): a block a crash left only in its copy, one above
        the log, is appended from the copy. Any other opener (a reader, perhaps beside a
        running writer, whose block in flight looks the same) takes the log as it is and
        counts such a copy as not yet in it.

        ``accept_loss``: start from the log's tip even if it ends below the acknowledged
        height (the operator gives those blocks up; their heights will be reused).
        ``max_bytes``: cap the database file at about this size (``StorageFull`` beyond).
        Raises ``StoreMissing`` (none and no spec), ``ChainMismatch`` (another spec),
        ``UnsupportedFormat``, ``AcknowledgedBlocksMissing``, ``BlockHashMismatch``,
        ``CorruptStore`` (a file SQLite cannot read, a missing acknowledged record).
        """
        if snapshot_every < 1 or keep_snapshots < 1:
            raise ValueError("snapshot_every and keep_snapshots must be at least 1")
        directory = Path(data_dir)
        path = directory / DB_NAME
        if not path.exists() and spec is None:
            refuse_if_acknowledged(directory, accept_loss)
            raise StoreMissing(f"no chain in {data_dir} (expected {DB_NAME})")
        directory.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        record: AcknowledgedRecord | None = None
        copies: BlockCopies | None = None
        try:
            with sql.reading(path, "the database header"):
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                meta = sql.read_meta(db, path)
            record = AcknowledgedRecord.open(directory)
            copies = BlockCopies.open(directory)
            if meta is None:
                if spec is None:
                    refuse_if_acknowledged(directory, accept_loss)
                    raise StoreMissing(f"no chain in {data_dir} (empty {DB_NAME})")
                record = create_chain(db, directory, spec, record, copies, accept_loss)
                stored = spec
            else:
                stored = decode_spec(meta[0], path)
                if spec is not None:
                    check_spec(stored, spec)
                record = open_record(db, directory, meta, record, accept_loss)
            store = cls(
                db,
                path,
                stored,
                record,
                copies,
                snapshot_every=snapshot_every,
                keep_snapshots=keep_snapshots,
            )
            store._check_acknowledged(accept_loss, recover)
            store.max_bytes = max_bytes
            return store
        except BaseException:
            db.close()
            if record is not None:
                record.close()
            if copies is not None:
                copies.close()
            raise

    # --- the block log ----------------------------------------------------------------------

    def append(
        self,
        block: Block[Transaction],
        result: BlockResult,
        envelopes: Sequence[bytes] | None = None,
    ) -> None:
        """Append the next block with its result, in one SQLite transaction, durable when
        this returns, and recorded as acknowledged (its copy, written meanwhile).

        ``envelopes``: the raw signed envelope of each transaction, ``b""`` for one the
        producer made itself. Transactions without an envelope (all of them if
        ``envelopes`` is None) are checked to decode back, since nothing validated them.
        Raises ``HeightError`` unless ``block.height == height + 1``, ``UnreadableBlock``,
        ``StorageFull`` (nothing written), ``CorruptStore``.
        """
        if block.height != self.height + 1:
            raise HeightError(self.height + 1, block.height)
        if len(result.receipts) != len(block.txs):
            raise ValueError(f"{len(result.receipts)} receipts for {len(block.txs)} txs")
        if envelopes is not None and len(envelopes) != len(block.txs):
            raise ValueError(f"{len(envelopes)} envelopes for {len(block.txs)} txs")
        check_decodes(block, envelopes)
        stored = StoredBlock(
            block,
            result.state_root,
            len(block.txs),
            encode_receipts(result.receipts),
            None if envelopes is None else _encoder.encode(list(envelopes)),
            _encoder.encode(block),
            hash_version=2 if block.height >= self.header_from else 1,
        )
        digest = stored.hash_from(self.last_hash)
        row = (
            block.height,
            block.time,
            stored.tx_count,
            stored.txs_data,
            stored.envelopes_data,
            stored.receipts_data,
            stored.state_root,
        )
        copying = self.copies.start(CopiedBlock(*row, digest, self.last_hash))
        try:
            self._insert(row, digest)
        except BaseException:
            self._void_copy(copying, block.height)
            raise
        self.height, self.last_root, self.last_hash = block.height, result.state_root, digest
        self._tip_hash = (block.height, digest)
        self._acknowledge(copying, Mark(block.height, digest))

    def block(self, height: int) -> StoredBlock:
        """The block at ``height``. Raises ``KeyError`` if there is none, ``CorruptStore``
        if it cannot be read."""
        with sql.reading(self.path, "block", height):
            row = self._db.execute(f"{sql.SELECT_BLOCKS} WHERE height = ?", (height,)).fetchone()
        if row is None:
            raise KeyError(f"no block at height {height}")
        return stored_block(row, self.header_from)

    def blocks(self, from_height: int = 1, to_height: int | None = None) -> Iterator[StoredBlock]:
        """Every block from ``from_height`` to ``to_height`` (default: the tip, even as it
        moves), in order, fetched in pages so that the caller may append meanwhile.
        Raises ``CorruptStore`` on a gap or a block that cannot be read."""
        next_height = max(from_height, 1)
        last = 2**62 if to_height is None else to_height
        while next_height <= last:
            with sql.reading(self.path, "block", next_height):
                rows = self._db.execute(
                    f"{sql.SELECT_BLOCKS} WHERE height >= ? AND height <= ? "
                    "ORDER BY height LIMIT ?",
                    (next_height, last, _PAGE),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                if row[0] != next_height:
                    raise CorruptStore(f"block log has no height {next_height}", next_height)
                yield stored_block(row, self.header_from)
                next_height += 1

    def root_at(self, height: int) -> bytes:
        """The state root after ``height`` (the genesis root for 0)."""
        return self._column_at("state_root", height)

    def hash_at(self, height: int) -> bytes:
        """The block hash stored for ``height`` (the genesis root for 0). The tip's is kept
        in memory: the API's listeners ask for it after every block."""
        tip, digest = self._tip_hash
        return digest if height == tip else self._column_at("hash", height)

    def verify_hashes(
        self,
        from_height: int = 1,
        to_height: int | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> int:
        """Recompute the block hash of every block from ``from_height`` to ``to_height``
        (default: the tip) over its stored bytes and compare it with the stored one: a
        check of the log without re-executing it (about the speed of reading it). Returns
        the blocks checked (fewer if ``cancelled()`` turned true). Raises
        ``BlockHashMismatch`` at the first altered block, ``CorruptStore`` at one that
        cannot be read."""
        parent = self.hash_at(max(from_height, 1) - 1)
        checked = 0
        for stored in self.blocks(from_height, to_height):
            parent = check_block_hash(stored, parent)
            checked += 1
            if cancelled():
                break
        return checked

    # --- snapshots --------------------------------------------------------------------------

    def snapshot_due(self, height: int) -> bool:
        """Whether the producer should snapshot the state after ``height``."""
        return height > 0 and height % self.snapshot_every == 0

    def save_snapshot(self, height: int, state: State) -> None:
        """Store ``state`` as the state after ``height`` and drop all but the last
        ``keep_snapshots``. Raises ``RootMismatch`` if its root is not the log's,
        ``StorageFull`` (no snapshot written)."""
        expected = self.root_at(height)
        if state.root() != expected:
            raise RootMismatch(height, expected, state.root())
        row = (height, expected, len(state), zlib.compress(encode_state(state), _ZLIB_LEVEL))
        try:
            with self._transaction():
                self._db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", row)
                self._db.execute(
                    "DELETE FROM snapshots WHERE height NOT IN "
                    "(SELECT height FROM snapshots ORDER BY height DESC LIMIT ?)",
                    (self.keep_snapshots,),
                )
        except sqlite3.DatabaseError as error:
            raise sql.write_error(error, self.path, height, "a snapshot", len(row[3])) from None

    def snapshot_heights(self) -> list[int]:
        with sql.reading(self.path, "the snapshot list"):
            rows = self._db.execute("SELECT height FROM snapshots ORDER BY height").fetchall()
        return [height for (height,) in rows]

    def snapshot(self, height: int) -> Snapshot:
        """The snapshot after ``height``. Raises ``KeyError`` if there is none,
        ``CorruptStore`` if it cannot be read or decompressed."""
        with sql.reading(self.path, "snapshot", height):
            query = f"{sql.SELECT_SNAPSHOTS} WHERE height = ?"
            row = self._db.execute(query, (height,)).fetchone()
        if row is None:
            raise KeyError(f"no snapshot at height {height}")
        return snapshot_of(row)

    def latest_snapshot(self) -> Snapshot | None:
        heights = self.snapshot_heights()
        return self.snapshot(heights[-1]) if heights else None

    # --- room -------------------------------------------------------------------------------

    @property
    def max_bytes(self) -> int | None:
        """The database's size cap in bytes (None: as much as the disk holds)."""
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int | None) -> None:
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = 2**31 - 2 if value is None else max(value // page_size, 1)
        self._db.execute(f"PRAGMA max_page_count = {int(pages)}")
        self._max_bytes = value

    def check_room(self, size: int) -> None:
        """Commit and delete a row of ``size`` bytes: whether a block that size would fit.
        Raises ``StorageFull``."""
        try:
            for statement, args in (
                ("INSERT OR REPLACE INTO meta VALUES ('room', zeroblob(?))", (size,)),
                ("DELETE FROM meta WHERE name = 'room'", ()),
            ):
                with self._transaction():
                    self._db.execute(statement, args)
        except sqlite3.DatabaseError as error:
            raise sql.write_error(error, self.path, self.height + 1, "a probe") from None

    # --- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        self.copies.close()
        self._db.close()
        self.acknowledged.close()

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> sql.Transaction:
        return sql.Transaction(self._db)

    def _insert(self, row: Row, digest: bytes) -> None:
        """Commit one block row. Raises ``HeightError`` (another writer appended this
        height), ``StorageFull``, ``CorruptStore``."""
        height = row[0]
        try:
            with self._transaction():
                self._db.execute(sql.INSERT_BLOCK, (*row, digest))
        except sqlite3.IntegrityError:  # another writer appended this height meanwhile
            tip = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
            raise HeightError(tip + 1, height) from None
        except sqlite3.DatabaseError as error:
            size = sum(len(blob) for blob in row[3:6] if isinstance(blob, bytes))
            raise sql.write_error(error, self.path, height, "the block", size) from None

    def _acknowledge(self, copying: Future[None], mark: Mark) -> None:
        """Wait for the block's copy; if it could not be written (a full disk), record the
        block in the acknowledged record's slot instead, which never grows."""
        try:
            copying.result()
            return
        except OSError:
            pass
        try:
            self.acknowledged.write(mark)
        except OSError as error:
            raise CorruptStore(
                f"block {mark.height} is in the log, but neither {self.acknowledged.path} nor "
                f"its copy could be written: {error}",
                mark.height,
            ) from None

    def _void_copy(self, copying: Future[None], height: int) -> None:
        """The block failed: void its copy once written, so that no restart brings it back.
        Raises ``CorruptStore`` if that cannot be done."""
        with suppress(OSError):
            copying.result()
        try:
            self.copies.void(height)
        except OSError as error:
            raise CorruptStore(
                f"block {height} was not stored, and its copy in {self.copies.paths[height % 2]} "
                f"could not be voided ({error}): restore the data directory from a backup",
                height,
            ) from None

    def _meta(self, name: str) -> bytes:
        with sql.reading(self.path, "meta"):
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise CorruptStore(f"meta has no {name}")
        return bytes(row[0])

    def _tip(self) -> tuple[int, bytes, bytes]:
        with sql.reading(self.path, "the last block"):
            row = self._db.execute(
                "SELECT height, state_root, hash FROM blocks ORDER BY height DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return 0, self.genesis_root, self.genesis_root
        return row[0], bytes(row[1]), bytes(row[2])

    def _column_at(self, column: str, height: int) -> bytes:
        if height == 0:
            return self.genesis_root
        with sql.reading(self.path, f"the {column}", height):
            query = f"SELECT {column} FROM blocks WHERE height = ?"
            found = self._db.execute(query, (height,)).fetchone()
        if found is None:
            raise KeyError(f"no block at height {height}")
        return bytes(found[0])

    def _check_acknowledged(self, accept_loss: bool, recover: bool) -> None:
        """Refuse a log that ends below, or differs at, the acknowledged block (the record's
        or a newer copy's, ``paraclear.chain.block_copy``). A copy one block above the log,
        after its tip, is the block a crash between its two syncs left there, or (to a
        reader beside the writer) the block being appended: ``recover`` takes it back into
        the log, else it does not count. (The copies are read before the tip: a reader sees
        a copy at most one block ahead of the log.)"""
        copy = self.copies.latest()
        self.height, self.last_root, self.last_hash = self._tip()
        self._tip_hash = (self.height, self.last_hash)
        if copy is not None and copy.height == self.height + 1 and copy.parent == self.last_hash:
            if recover:
                self._recover(copy)
            else:
                copy = self.copies.latest(at_most=self.height)
        mark = highest(self.acknowledged.read(), copy)
        if self.height < mark.height:
            directory = self.path.parent
            if not accept_loss:
                raise AcknowledgedBlocksMissing(str(directory), self.height, mark.height)
            log.warning(
                "accepting the loss of blocks %d..%d in %s", self.height + 1, mark.height, directory
            )
            self.copies.void_all()
            self.acknowledged.close()
            self.acknowledged = AcknowledgedRecord.create(
                directory, Mark(self.height, self.last_hash)
            )
        elif self.hash_at(mark.height) != mark.block_hash:
            raise BlockHashMismatch(mark.height, f"acknowledged in {self.acknowledged.path}")

    def _recover(self, copy: CopiedBlock) -> None:
        """Append the block of ``copy``, the log's next, if its block hash checks."""
        row = (copy.height, copy.txs, copy.state_root, copy.tx_count, copy.receipts)
        stored = stored_block((*row, copy.envelopes, copy.block_hash), self.header_from)
        if stored.hash_from(copy.parent) != copy.block_hash:
            return  # not the block it claims to be: the log stays below the mark, refused
        self._insert(copy.row(), copy.block_hash)
        log.warning(
            "block %d was acknowledged but not in the log (a crash between its two syncs): "
            "taken back from its copy in %s",
            copy.height,
            self.copies.paths[copy.height % 2],
        )
        self.height, self.last_root, self.last_hash = self._tip()
        self._tip_hash = (self.height, self.last_hash)
