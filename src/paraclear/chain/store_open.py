"""Opening a data directory: creating a chain, upgrading an older one, and finding its
acknowledged record (``paraclear.chain.acknowledged``) or refusing to go on without it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

import msgspec

from paraclear.chain.acknowledged import FILE_NAME, AcknowledgedRecord, Mark
from paraclear.chain.block_copy import BlockCopies, highest, latest_in
from paraclear.chain.store_errors import AcknowledgedBlocksMissing, CorruptStore
from paraclear.chain.store_records import ChainSpec
from paraclear.chain.store_sql import (
    ACKNOWLEDGED_SINCE,
    DB_NAME,
    FORMAT_VERSION,
    create,
    reading,
    upgrade,
)

_encoder: Final = msgspec.msgpack.Encoder()


def create_chain(
    db: sqlite3.Connection,
    directory: Path,
    spec: ChainSpec,
    record: AcknowledgedRecord | None,
    copies: BlockCopies,
    accept_loss: bool,
) -> AcknowledgedRecord:
    """Create a new chain: the acknowledged record at genesis first (its block copies
    voided), then the tables (a crash in between leaves an empty database and a record at
    height 0). Refuses when the record says blocks were acknowledged: the database holding
    them is gone."""
    if record is not None:
        record.close()
    refuse_if_acknowledged(directory, accept_loss)
    copies.void_all()
    genesis_root = spec.genesis_state().root()
    created = AcknowledgedRecord.create(directory, Mark(0, genesis_root))
    try:
        meta = {"spec": _encoder.encode(spec), "genesis_root": genesis_root}
        create(db, meta)
    except BaseException:
        created.close()
        raise
    return created


def refuse_if_acknowledged(directory: Path, accept_loss: bool) -> None:
    """Raise ``AcknowledgedBlocksMissing`` if ``directory`` has no chain (no database, or
    an empty one) but its acknowledged record says blocks were acknowledged."""
    record = AcknowledgedRecord.open(directory)
    if record is None:
        return
    try:
        height = highest(record.read(), latest_in(directory)).height
    finally:
        record.close()
    if height > 0 and not accept_loss:
        raise AcknowledgedBlocksMissing(str(directory), 0, height)


def open_record(
    db: sqlite3.Connection,
    directory: Path,
    meta: tuple[dict[str, bytes], int],
    record: AcknowledgedRecord | None,
    accept_loss: bool,
) -> AcknowledgedRecord:
    """The record of an existing chain, upgrading an older format (format 2 had none)."""
    rows, version = meta
    has_record = record is not None and version >= ACKNOWLEDGED_SINCE
    if not has_record and version >= ACKNOWLEDGED_SINCE and not accept_loss:
        raise CorruptStore(
            f"{directory / FILE_NAME} is missing: it records the last block acknowledged as "
            "durable, without which a shortened log cannot be told from a whole one. Restore "
            "it with the data directory, or start with --accept-loss to trust the log as it is"
        )
    genesis_root = rows["genesis_root"]
    with reading(directory / DB_NAME, "the block log (upgrading it)"):
        if version < FORMAT_VERSION:
            upgrade(db, genesis_root, version)
        tip = db.execute("SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
    if has_record:
        assert record is not None
        return record
    if record is not None:
        record.close()
    mark = Mark(0, genesis_root) if tip is None else Mark(tip[0], bytes(tip[1]))
    return AcknowledgedRecord.create(directory, mark)
