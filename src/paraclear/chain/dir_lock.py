"""One node per data directory: an exclusive lock on ``DATA_DIR/LOCK`` while a node uses it.

The lock is ``flock`` on a file that holds the owner's process id (for the message a second
node gets). The kernel drops it when the process ends however it ends, so a node killed
with SIGKILL never leaves a stale lock. Readers that do not write (``paraclear replay``, the
node's own background check of the log) take no lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Final, TextIO

from paraclear.chain.store_errors import StorageError

LOCK_NAME: Final = "LOCK"


class DataDirectoryLocked(StorageError):
    """Another process's node uses the data directory."""

    def __init__(self, directory: Path, owner: str) -> None:
        who = f"process {owner}" if owner else "another process"
        super().__init__(
            f"data directory {directory} is in use by another node ({who}); "
            "stop it first, or use another --data-dir"
        )
        self.directory = directory
        self.owner = owner


class DirectoryLock:
    """The lock of one data directory, held until ``release``."""

    def __init__(self, file: TextIO) -> None:
        self._file: TextIO | None = file

    @classmethod
    def acquire(cls, directory: Path) -> DirectoryLock:
        """Lock ``directory`` (created if missing). Raises DataDirectoryLocked."""
        directory.mkdir(parents=True, exist_ok=True)
        file = (directory / LOCK_NAME).open("a+")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            owner = file.read().strip()
            file.close()
            raise DataDirectoryLocked(directory, owner) from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        return cls(file)

    def release(self) -> None:
        """Unlock (closing the file drops the lock); idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None
