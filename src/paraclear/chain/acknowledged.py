"""The acknowledged record: the last block reported durable, kept outside SQLite.

SQLite's write-ahead log holds the newest blocks until a checkpoint copies them into the
database file. Truncate, garble or delete ``chain.sqlite-wal`` after a crash and SQLite
opens what is left without a word: a shorter log. Nothing in the database itself can tell,
so ``BlockStore`` keeps a second, independent record: the height and block hash of the
last block whose ``append`` returned, durable before ``append`` returns, so every block
anyone was told about is at or below it; at start a log that ends below it is refused
(``AcknowledgedBlocksMissing``) and a block at its height that hashes otherwise is refused
(``BlockHashMismatch``).

Each block's copy (``paraclear.chain.block_copy``), written while SQLite commits it, is
that record for every block it holds; this file, ``DATA_DIR/acknowledged``, holds the
record where no copy does: at a chain's creation, after ``accept_loss``, and for a block
whose copy could not be written (a full disk: this file never grows).

The file is two fixed 64-byte slots, one per height parity, each::

    magic (8) | height (8, big-endian) | block hash (32) | BLAKE2b-128 of the 48 bytes before

A write overwrites one slot in place and ``fdatasync``s: a torn write spoils only that slot,
and reading takes the valid slot with the higher height (the other one is the previous
block, still a correct lower bound). The file never grows, so a full disk cannot stop it
being written. It is created whole, by writing a temporary file and renaming it.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from paraclear.chain.store_errors import CorruptStore

FILE_NAME: Final = "acknowledged"
_MAGIC: Final = b"PCLRACK1"
_BODY: Final = struct.Struct(">8sQ32s")
_SLOT_SIZE: Final = 64
_CHECK_SIZE: Final = 16


@dataclass(frozen=True)
class Mark:
    """A block reported durable: its height and block hash (height 0: the genesis root)."""

    height: int
    block_hash: bytes


def _slot(mark: Mark) -> bytes:
    body = _BODY.pack(_MAGIC, mark.height, mark.block_hash)
    check = hashlib.blake2b(body, digest_size=_CHECK_SIZE).digest()
    return body + check


def _parse(slot: bytes) -> Mark | None:
    body, check = slot[: _BODY.size], slot[_BODY.size : _SLOT_SIZE]
    if len(body) < _BODY.size or hashlib.blake2b(body, digest_size=_CHECK_SIZE).digest() != check:
        return None
    magic, height, block_hash = _BODY.unpack(body)
    return Mark(height, block_hash) if magic == _MAGIC else None


class AcknowledgedRecord:
    """``DATA_DIR/acknowledged``, open for reading and writing."""

    def __init__(self, path: Path, fd: int) -> None:
        """Use ``create`` or ``open``."""
        self.path = path
        self._fd = fd

    @classmethod
    def create(cls, data_dir: Path, mark: Mark) -> AcknowledgedRecord:
        """Write a new record holding ``mark`` in both slots, atomically (temporary file,
        fsync, rename, fsync of the directory)."""
        path = data_dir / FILE_NAME
        temporary = data_dir / (FILE_NAME + ".new")
        slot = _slot(mark).ljust(_SLOT_SIZE, b"\0")
        with open(temporary, "wb") as file:
            file.write(slot * 2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        fsync_directory(data_dir)
        return cls(path, os.open(path, os.O_RDWR))

    @classmethod
    def open(cls, data_dir: Path) -> AcknowledgedRecord | None:
        """The record in ``data_dir``, or None if there is none."""
        path = data_dir / FILE_NAME
        try:
            return cls(path, os.open(path, os.O_RDWR))
        except FileNotFoundError:
            return None

    def read(self) -> Mark:
        """The acknowledged mark. Raises ``CorruptStore`` if neither slot is valid."""
        data = os.pread(self._fd, 2 * _SLOT_SIZE, 0)
        marks = [m for m in (_parse(data[:_SLOT_SIZE]), _parse(data[_SLOT_SIZE:])) if m]
        if not marks:
            raise CorruptStore(
                f"{self.path} is unreadable (both slots damaged): it records the last block "
                "acknowledged as durable; restore the data directory from a backup"
            )
        return max(marks, key=lambda mark: mark.height)

    def write(self, mark: Mark) -> None:
        """Record ``mark``, durably when this returns."""
        slot = _slot(mark).ljust(_SLOT_SIZE, b"\0")
        os.pwrite(self._fd, slot, (mark.height % 2) * _SLOT_SIZE)
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def fsync_directory(directory: Path) -> None:
    """Make the entries of ``directory`` (a file created or renamed in it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
