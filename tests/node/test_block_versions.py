"""Block hash versions: a chain written before version 2 (``fixtures/chain_v3``, a format 3
data directory of three blocks: listing, oracle and deposits, a resting sell, a buy that
fills it) keeps its version 1 hashes, replays, and continues with version 2 blocks whose
hash a header alone gives."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from paraclear.chain.acknowledged import FILE_NAME
from paraclear.chain.core import Node, NodeConfig
from paraclear.chain.storage import DB_NAME, FORMAT_VERSION, BlockStore
from paraclear.clearing.transactions import Deposit
from paraclear.cli import main
from paraclear.client.envelope import Keypair, sign
from paraclear.client.headers import header_hash
from tests.clearing.harness import T0, usd

FIXTURE = Path(__file__).parent / "fixtures" / "chain_v3"
CHAIN = "paraclear-local"
BLOCKS = 3


@pytest.fixture
def chain_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "chain"))


def stored_hashes(directory: Path) -> list[bytes]:
    with sqlite3.connect(directory / DB_NAME) as db:
        rows = db.execute("SELECT hash FROM blocks ORDER BY height").fetchall()
    return [bytes(row[0]) for row in rows]


def formats(directory: Path) -> tuple[bytes, ...]:
    with sqlite3.connect(directory / DB_NAME) as db:
        return tuple(
            bytes(v) for (v,) in db.execute("SELECT value FROM meta WHERE name = 'format'")
        )


def test_a_format_3_chain_keeps_its_hashes_replays_and_continues_under_version_2(
    chain_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = stored_hashes(chain_dir)
    assert len(written) == BLOCKS and formats(chain_dir) == (b"\x03",)
    with BlockStore.open(chain_dir) as store:
        assert store.header_from == BLOCKS + 1
        assert [store.block(h).hash_version for h in (1, 2, 3)] == [1, 1, 1]
        assert store.verify_hashes() == BLOCKS
    assert stored_hashes(chain_dir) == written and formats(chain_dir) == (bytes([FORMAT_VERSION]),)
    assert main(["replay", str(chain_dir), "--quiet"]) == 0
    capsys.readouterr()
    node = Node(NodeConfig(data_dir=chain_dir, genesis_time=T0), clock=lambda: T0)
    try:
        trader = Keypair.from_seed_int(3)
        deposit = Deposit(sender=trader.account, nonce=0, amount=usd(1_000))
        future = node.submit(sign(trader, CHAIN, deposit))
        node.admit_pending()
        assert node.produce_block() is not None and future.result(timeout=0).receipt.ok
        stored = node.store.block(BLOCKS + 1)
        assert stored.hash_version == 2
        assert header_hash(stored.header(written[-1])) == stored.block_hash
        assert node.store.verify_hashes() == BLOCKS + 1
    finally:
        node.stop()
    assert stored_hashes(chain_dir)[:BLOCKS] == written
    assert main(["replay", str(chain_dir), "--quiet"]) == 0  # both versions, from genesis


def test_a_format_2_directory_is_upgraded_with_the_same_block_hashes(chain_dir: Path) -> None:
    written = stored_hashes(chain_dir)
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("ALTER TABLE blocks DROP COLUMN hash")
        db.execute("UPDATE meta SET value = ? WHERE name = 'format'", (b"\x02",))
    (chain_dir / FILE_NAME).unlink()
    with BlockStore.open(chain_dir) as store:
        assert store.hash_at(store.height) == written[-1]
        assert store.verify_hashes() == BLOCKS
        assert store.acknowledged.read().height == BLOCKS
        assert store.header_from == BLOCKS + 1
    assert stored_hashes(chain_dir) == written


def test_a_new_chain_hashes_every_block_under_version_2(tmp_path: Path) -> None:
    node = Node(NodeConfig(data_dir=tmp_path, genesis_time=T0), clock=lambda: T0)
    try:
        trader = Keypair.from_seed_int(3)
        node.submit(sign(trader, CHAIN, Deposit(sender=trader.account, nonce=0, amount=1)))
        node.admit_pending()
        node.produce_block()
        assert node.store.header_from == 1
        stored = node.store.block(1)
        assert stored.hash_version == 2
        assert header_hash(stored.header(node.store.genesis_root)) == stored.block_hash
    finally:
        node.stop()
