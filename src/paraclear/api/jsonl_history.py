"""``JsonlHistory``: the latest records of something per block, kept in memory and, with a
path, in a file of JSON lines in the node's data directory, so that a restart finds them.

Each record is a JSON object with a ``height``. The file is appended one line per record,
through a handle kept open (opening it per record cost ~1 ms, per block); once it holds
twice as many lines as are kept, it is rewritten with the records kept. When a
node starts, the latest records up to its height are read back (a line cut short by a crash
is skipped; records above the height, of blocks the log lost, are dropped). Writing is best
effort: a full disk logs a warning and the chain goes on (these records are not the chain).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections import deque
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger(__name__)

Record = dict[str, Any]


class JsonlHistory:
    """The latest ``keep`` records, oldest first (see the module docstring)."""

    def __init__(self, keep: int, path: Path | None = None, height: int | None = None) -> None:
        self.keep = keep
        self.records: deque[Record] = deque(maxlen=keep)
        self.path = path
        self._lines = 0
        self._fd: int | None = None
        """The file, open for appending (a raw descriptor: one ``os.write`` per record,
        closed when this history is collected or the file is rewritten)."""
        self._closer: weakref.finalize[[int], JsonlHistory] | None = None
        if path is not None:
            self._load(path, height)

    def _load(self, path: Path, height: int | None) -> None:
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        self._lines = len(lines)
        for line in lines:
            try:
                record = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            if isinstance(record, dict) and (height is None or record.get("height", 0) <= height):
                self.records.append(record)

    def append(self, record: Record) -> None:
        self.records.append(record)
        if self.path is not None:
            self._save(self.path, record)

    def recent(self, count: int) -> list[Record]:
        """The latest ``count`` records, oldest first."""
        return list(self.records)[-count:] if count > 0 else []

    def at(self, height: int) -> Record | None:
        """The record of ``height``, if it is kept."""
        for record in reversed(list(self.records)):  # list(): atomic while others append
            if record.get("height") == height:
                return record
        return None

    @property
    def last_height(self) -> int | None:
        return self.records[-1].get("height") if self.records else None

    def close(self) -> None:
        """Close the file (a later record opens it again)."""
        if self._closer is not None:
            self._closer()
        self._fd = self._closer = None

    def _save(self, path: Path, record: Record) -> None:
        try:
            if self._lines >= 2 * self.keep:
                self.close()
                spare = path.with_suffix(".tmp")
                spare.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in self.records))
                spare.replace(path)
                self._lines = len(self.records)
                return
            if self._fd is None:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._closer = weakref.finalize(self, os.close, self._fd)
            os.write(self._fd, msgspec.json.encode(record) + b"\n")
            self._lines += 1
        except OSError as error:
            self.close()
            log.warning("cannot save to %s: %s", path, error)
