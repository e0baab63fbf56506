"""The newest blocks copied beside the log, so that a block costs one sync, not two in a row.

``BlockStore.append`` makes a block durable by SQLite's commit (an fsync of the write-ahead
log) and must also record it outside SQLite (``paraclear.chain.acknowledged``: a log cut
short cannot be told from a whole one by SQLite itself). Written one after the other, the
two syncs doubled the time a block waits to be acknowledged. Now ``append`` writes the
block's row, with a checksum, into a copy file while SQLite commits it, and returns when
both are durable:

* The copies are ``DATA_DIR/last-block-0`` and ``last-block-1``, one per height parity: a
  write overwrites the file of its parity in place and ``fdatasync``s it, so a torn write
  spoils only the block being appended (its checksum fails) and the other file still holds
  the block before.
* A valid copy counts as acknowledged: the acknowledged height is the highest of the
  record's slots and the valid copies.
* A crash between the two syncs can leave the copy of block n durable and the log at n - 1
  (or a write-ahead log can lose its last commit). When the chain's writer opens it
  (``BlockStore.open(recover=True)``), a log that ends exactly one block below a valid copy
  whose parent is the log's tip gets the block back from the copy (its block hash checked
  first); a log lower than that is refused as before. Any other opener may be reading
  beside a running writer, whose block in flight looks the same: it takes the log as it
  is, and such a copy does not count.
* A block SQLite refuses (a full disk) has its copy voided before ``append`` raises, so a
  block that failed never comes back.

Each file::

    magic (8) | body length (8, big-endian) | BLAKE2b-256 of the body (32) | body

where the body is the msgpack of ``CopiedBlock``. Bytes after the body (of a longer block
written before) are ignored.
"""

from __future__ import annotations

import hashlib
import os
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Final

import msgspec

from paraclear.chain.acknowledged import Mark, fsync_directory

FILE_NAMES: Final = ("last-block-0", "last-block-1")
_MAGIC: Final = b"PCLRCPY1"
_HEADER: Final = struct.Struct(">8sQ32s")
_VOID: Final = bytes(_HEADER.size)


class CopiedBlock(msgspec.Struct, array_like=True, frozen=True):
    """One block log row (the columns of ``store_sql.INSERT_BLOCK``) and its parent's block
    hash."""

    height: int
    time: int
    tx_count: int
    txs: bytes
    envelopes: bytes | None
    receipts: bytes
    state_root: bytes
    block_hash: bytes
    parent: bytes

    def row(self) -> tuple[int, int, int, bytes, bytes | None, bytes, bytes]:
        """The row to insert, without its block hash (``storage.Row``)."""
        return (
            self.height,
            self.time,
            self.tx_count,
            self.txs,
            self.envelopes,
            self.receipts,
            self.state_root,
        )


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(CopiedBlock)


def encode_copy(block: CopiedBlock) -> bytes:
    """The bytes of a copy file holding ``block``."""
    body = _encoder.encode(block)
    return _HEADER.pack(_MAGIC, len(body), _checksum(body)) + body


def decode_copy(data: bytes) -> CopiedBlock | None:
    """The block a copy file's bytes hold, or None if they hold none whole (void, torn,
    damaged, or not a copy)."""
    if len(data) < _HEADER.size:
        return None
    magic, length, check = _HEADER.unpack_from(data)
    body = data[_HEADER.size : _HEADER.size + length]
    if magic != _MAGIC or len(body) != length or _checksum(body) != check:
        return None
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError:
        return None


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=32).digest()


def highest(mark: Mark, copy: CopiedBlock | None) -> Mark:
    """The acknowledged mark: the record's ``mark``, or ``copy``'s block if it is higher."""
    if copy is None or copy.height <= mark.height:
        return mark
    return Mark(copy.height, copy.block_hash)


def latest_in(data_dir: Path) -> CopiedBlock | None:
    """The valid copy of the highest height in ``data_dir`` (None if none), creating
    nothing."""
    copies = []
    for name in FILE_NAMES:
        with suppress(FileNotFoundError):
            copies.append(decode_copy((data_dir / name).read_bytes()))
    return _latest(copies)


def _latest(copies: list[CopiedBlock | None]) -> CopiedBlock | None:
    valid = [copy for copy in copies if copy is not None]
    return max(valid, key=lambda copy: copy.height, default=None)


class BlockCopies:
    """The two copy files of a data directory, open for reading and writing, and the thread
    that writes them while SQLite commits."""

    def __init__(self, paths: tuple[Path, Path], fds: tuple[int, int]) -> None:
        """Use ``open``."""
        self.paths = paths
        self._fds = fds
        self._writer: ThreadPoolExecutor | None = None

    @classmethod
    def open(cls, data_dir: Path) -> BlockCopies:
        """Open the copies in ``data_dir``, creating them (empty, and the directory synced,
        so that they survive a crash as files) if they are not there."""
        paths = (data_dir / FILE_NAMES[0], data_dir / FILE_NAMES[1])
        created = not all(path.exists() for path in paths)
        fds = tuple(os.open(path, os.O_RDWR | os.O_CREAT, 0o644) for path in paths)
        if created:
            fsync_directory(data_dir)
        return cls(paths, (fds[0], fds[1]))

    def latest(self, at_most: int | None = None) -> CopiedBlock | None:
        """The valid copy of the highest height (at most ``at_most``), or None."""
        copies = [decode_copy(_read_all(fd)) for fd in self._fds]
        if at_most is not None:
            copies = [copy for copy in copies if copy is not None and copy.height <= at_most]
        return _latest(copies)

    def start(self, block: CopiedBlock) -> Future[None]:
        """``write(block)`` on the copies' own thread (the write and its sync release the
        interpreter lock): the caller commits the block to SQLite meanwhile."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="paraclear-block-copy")
        return self._writer.submit(self.write, block)

    def write(self, block: CopiedBlock) -> None:
        """Write ``block`` into the file of its parity, durably when this returns. Raises
        ``OSError`` (a full disk, say), leaving that file void or as it was."""
        _write_all(self._fds[block.height % 2], encode_copy(block))

    def void(self, height: int) -> None:
        """Void the copy file of ``height``'s parity, durably when this returns."""
        _write_all(self._fds[height % 2], _VOID)

    def void_all(self) -> None:
        """Void both files: the record starts again below them (``accept_loss``, a new
        chain)."""
        for height in (0, 1):
            self.void(height)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        for fd in self._fds:
            if fd >= 0:
                os.close(fd)
        self._fds = (-1, -1)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def _write_all(fd: int, data: bytes) -> None:
    written = 0
    while written < len(data):
        written += os.pwrite(fd, memoryview(data)[written:], written)
    os.fdatasync(fd)
