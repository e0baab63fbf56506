"""What can go wrong with a data directory: the errors of ``storage``, ``acknowledged`` and
``replay``. Each names the height it is about where there is one, and says what is wrong.

    StorageError
    ├── StoreMissing                no chain in the directory (and no spec to create one)
    ├── UnsupportedFormat           another storage format version
    ├── ChainMismatch               another chain than the one asked for
    ├── HeightError                 a block appended at the wrong height
    ├── UnreadableBlock             a transaction that would not decode back
    ├── StorageFull                 the disk (or the database's size cap) is full: retryable
    ├── CorruptStore                the files are not what this package writes
    │   ├── AcknowledgedBlocksMissing   the log ends below what was acknowledged
    │   └── BlockHashMismatch           a stored block no longer hashes to its block hash
    └── Divergence                  re-execution does not reproduce the log
        ├── RootMismatch
        ├── ReceiptsMismatch
        └── TablesMismatch          the compiled engine's tables no longer mirror the state

``paraclear`` exits 1 on any of them (2 is for bad arguments).
"""

from __future__ import annotations

from typing import ClassVar


class StorageError(Exception):
    """Base of every storage and recovery error."""


class StoreMissing(StorageError):
    """No chain in the data directory, and no spec to create one with."""


class UnsupportedFormat(StorageError):
    """The data directory was written by another storage format version."""


class CorruptStore(StorageError):
    """The database is not what this module writes (a gap in the log, a bad snapshot, an
    unreadable page); ``height`` is the block or snapshot concerned, if known."""

    def __init__(self, message: str, height: int | None = None) -> None:
        super().__init__(message)
        self.height = height


class AcknowledgedBlocksMissing(CorruptStore):
    """The block log ends at ``log_height``, below ``acknowledged``: the height of a block
    the node had already reported durable (to clients, to the crash harness). Starting
    from the shorter log would silently give up acknowledged blocks and reuse their heights
    for other blocks, so the node refuses; the message says what the operator can do."""

    def __init__(self, data_dir: str, log_height: int, acknowledged: int) -> None:
        super().__init__(
            f"the block log in {data_dir} ends at height {log_height}, but blocks up to "
            f"height {acknowledged} were acknowledged as durable: blocks {log_height + 1}"
            f"..{acknowledged} are lost (a damaged, truncated or deleted chain.sqlite-wal, or "
            "a database restored from an older copy). The node will not start below an "
            "acknowledged height. Restore the data directory from a backup that reaches height "
            f"{acknowledged}; `paraclear replay {data_dir}` checks what is left; "
            f"`paraclear serve --accept-loss` starts from height {log_height} anyway and "
            "reuses the lost heights for new blocks",
            log_height + 1,
        )
        self.log_height = log_height
        self.acknowledged = acknowledged


class BlockHashMismatch(CorruptStore):
    """The block stored at ``height`` does not hash to the block hash recorded for it (in
    the log's chain of block hashes, or in the acknowledged record): its transactions,
    envelopes, receipts or root were altered after it was written."""

    def __init__(self, height: int, where: str) -> None:
        super().__init__(
            f"block {height} does not hash to the block hash {where}: its transactions, "
            "envelopes, receipts or state root were altered after it was written",
            height,
        )


class StorageFull(StorageError):
    """The disk, or the database's size cap, has no room for the block at ``height``.
    Nothing of that block was written; retry once space is back. Reaches JSON-RPC clients
    as an application error with ``data.error == "storage_full"``."""

    code: ClassVar[str] = "storage_full"
    fields: ClassVar[tuple[str, ...]] = ("height", "retryable")
    retryable: ClassVar[int] = 1

    def __init__(self, height: int, detail: str, size: int = 0) -> None:
        super().__init__(f"no room to store block {height}: {detail}; retry later")
        self.message = str(self)
        self.height = height
        self.size = size
        """Bytes of the write that did not fit (what a probe for room should try)."""

    def data(self) -> dict[str, int | str]:
        return {"height": self.height, "retryable": self.retryable}


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


class TablesMismatch(Divergence):
    """After the block at ``height`` the compiled engine's carried tables differ from those
    the replayed state loads into (``differences``, in words): the root and receipts still
    matched, but the engine's fast path would read something the state does not hold."""

    def __init__(self, height: int, differences: list[str]) -> None:
        super().__init__(
            height,
            f"after block {height} the compiled engine's tables differ from the state: "
            + "; ".join(differences[:3]),
        )
        self.differences = differences
