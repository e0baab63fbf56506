"""The SQLite side of ``BlockStore``: schema, format check and upgrade, transactions, the
block hash, and turning SQLite's errors into typed ``StorageError``s that name the height.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import msgspec

from paraclear.chain.store_errors import (
    CorruptStore,
    StorageError,
    StorageFull,
    UnsupportedFormat,
)

DB_NAME: Final = "chain.sqlite"
"""The database file in a data directory."""
FORMAT_VERSION: Final = 4
"""2: snapshots are zlib-compressed. 3: blocks carry their block hash, and the directory
holds the acknowledged record. 4: blocks from the height in meta ``header_from`` on are
hashed under block hash version 2 (``paraclear.client.headers``), those below it under
version 1 (``block_hash``). Formats 2 and 3 are upgraded when opened: their blocks keep
their version 1 hashes, and the blocks appended after them are version 2."""
UPGRADABLE: Final = 2
"""The oldest format that ``upgrade`` brings to ``FORMAT_VERSION``."""
ACKNOWLEDGED_SINCE: Final = 3
"""The first format whose directories hold the acknowledged record."""

SCHEMA: Final = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE blocks (
    height INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    tx_count INTEGER NOT NULL,
    txs BLOB NOT NULL,
    envelopes BLOB,
    receipts BLOB NOT NULL,
    state_root BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE snapshots (
    height INTEGER PRIMARY KEY,
    state_root BLOB NOT NULL,
    keys INTEGER NOT NULL,
    state BLOB NOT NULL
);
"""
INSERT_BLOCK: Final = (
    "INSERT INTO blocks (height, time, tx_count, txs, envelopes, receipts, state_root, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_BLOCKS: Final = (
    "SELECT height, txs, state_root, tx_count, receipts, envelopes, hash FROM blocks"
)
SELECT_SNAPSHOTS: Final = "SELECT height, state_root, keys, state FROM snapshots"

_HEADER: Final = struct.Struct(">qqq")
_encoder: Final = msgspec.msgpack.Encoder()


def block_hash(
    parent: bytes,
    height: int,
    time: int,
    tx_count: int,
    txs: bytes,
    envelopes: bytes | None,
    receipts: bytes,
    state_root: bytes,
) -> bytes:
    """Block hash version 1: BLAKE2b-256 of the parent's block hash and a block row (each
    blob length-prefixed; no envelopes and empty envelopes hash differently)."""
    digest = hashlib.blake2b(parent, digest_size=32)
    digest.update(_HEADER.pack(height, time, tx_count))
    for blob in (txs, envelopes, receipts):
        digest.update(struct.pack(">q", -1 if blob is None else len(blob)))
        digest.update(blob or b"")
    digest.update(state_root)
    return digest.digest()


@contextmanager
def reading(path: Path, what: str, height: int | None = None) -> Iterator[None]:
    """Turn an SQLite error while reading ``what`` into ``CorruptStore``."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        where = f" at height {height}" if height is not None else ""
        raise CorruptStore(f"{path}: cannot read {what}{where}: {error}", height) from None


def write_error(
    error: sqlite3.DatabaseError, path: Path, height: int, what: str, size: int = 0
) -> StorageError:
    """The typed error for an SQLite error while writing ``what`` (``size`` bytes) at
    ``height``."""
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StorageFull(height, f"{path}: {error}", size)
    return CorruptStore(f"{path}: cannot write {what} at height {height}: {error}", height)


class Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` if the body or the commit raises
    (a commit that fails, on a full disk say, leaves no transaction open)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            try:
                self._db.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


def create(db: sqlite3.Connection, meta: Mapping[str, bytes]) -> None:
    """Create the tables and the meta rows in one transaction: a crash leaves none."""
    rows = {"format": _encoder.encode(FORMAT_VERSION), "header_from": _encoder.encode(1), **meta}
    with Transaction(db):
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)
        db.executemany("INSERT INTO meta VALUES (?, ?)", rows.items())


def read_meta(db: sqlite3.Connection, path: Path) -> tuple[dict[str, bytes], int] | None:
    """The meta rows and the format version, or ``None`` for a database with no tables
    yet. Raises ``UnsupportedFormat`` (neither this format nor the upgradable one),
    ``CorruptStore``."""
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
    if found.fetchone() is None:
        return None
    rows = {name: bytes(value) for name, value in db.execute("SELECT name, value FROM meta")}
    try:
        version = msgspec.msgpack.decode(rows["format"], type=int)
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CorruptStore(f"{path}: unreadable meta ({error})") from error
    if not UPGRADABLE <= version <= FORMAT_VERSION:
        raise UnsupportedFormat(f"{path} has format {version}, this is {FORMAT_VERSION}")
    return rows, version


def upgrade(db: sqlite3.Connection, genesis_root: bytes, version: int) -> None:
    """Bring a database of format ``version`` (2 or 3) to ``FORMAT_VERSION`` in one
    transaction: (2) add and fill every block's version 1 hash; (3) hash the blocks after
    the tip under version 2 (meta ``header_from``)."""
    with Transaction(db):
        if version == 2:
            _add_hashes(db, genesis_root)
        tip = db.execute("SELECT MAX(height) FROM blocks").fetchone()[0] or 0
        db.execute("INSERT INTO meta VALUES ('header_from', ?)", (_encoder.encode(tip + 1),))
        db.execute(
            "UPDATE meta SET value = ? WHERE name = 'format'", (_encoder.encode(FORMAT_VERSION),)
        )


def _add_hashes(db: sqlite3.Connection, genesis_root: bytes) -> None:
    db.execute("ALTER TABLE blocks ADD COLUMN hash BLOB")
    parent = genesis_root
    rows = db.execute(
        "SELECT height, time, tx_count, txs, envelopes, receipts, state_root FROM blocks "
        "ORDER BY height"
    ).fetchall()
    for height, time, tx_count, txs, envelopes, receipts, root in rows:
        parent = block_hash(parent, height, time, tx_count, txs, envelopes, receipts, root)
        db.execute("UPDATE blocks SET hash = ? WHERE height = ?", (parent, height))
