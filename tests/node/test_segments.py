"""Parallel replay: the chain cut at its snapshots, segments verified at once; a tampered block
or snapshot is found and named."""

import json
import shutil
import sqlite3

import msgspec
import pytest

from paraclear.bench.store import write_chain
from paraclear.chain.replay import replay
from paraclear.chain.segments import plan_segments, replay_segments
from paraclear.chain.storage import DB_NAME, BlockStore
from paraclear.clearing.transactions import Transaction
from paraclear.cli import main
from paraclear.cluster import Backend
from paraclear.execution import Block


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """30 blocks (a setup block and 29 of 12 txs), a snapshot every 10, all kept."""
    data_dir = tmp_path_factory.mktemp("chain")
    write_chain(data_dir, 40, 29, 12, snapshot_every=10, keep_snapshots=100)
    return data_dir


def _copy(chain, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(chain, target)
    return target


def test_the_chain_is_cut_at_every_snapshot(chain):
    cuts = [(s.start, s.end) for s in plan_segments(chain)]
    assert cuts == [(0, 10), (10, 20), (20, 30)]


def test_replay_segments_on_the_command_line_verifies_every_block(chain, capsys):
    assert main(["replay", str(chain), "--segments", "--workers", "2", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and summary["blocks"] == 30 and summary["segments"] == 3


def test_every_segment_verifies_and_covers_the_sequential_replay(chain):
    report = replay_segments(chain, Backend(workers=2))
    with BlockStore.open(chain) as store:
        _, sequential = replay(store, "genesis")
    assert report.ok and sequential.ok
    assert (report.blocks, report.txs) == (sequential.blocks, sequential.txs) == (30, report.txs)
    assert [s.blocks for s in report.segments] == [10, 10, 10]


def test_a_block_with_a_transaction_removed_is_named(chain, tmp_path, capsys):
    data_dir = _copy(chain, tmp_path)
    db = sqlite3.connect(data_dir / DB_NAME)
    (raw,) = db.execute("SELECT txs FROM blocks WHERE height = 17").fetchone()
    block = msgspec.msgpack.decode(raw, type=Block[Transaction])
    tampered = msgspec.structs.replace(block, txs=block.txs[:-1])
    db.execute("UPDATE blocks SET txs = ? WHERE height = 17", (msgspec.msgpack.encode(tampered),))
    db.commit()
    db.close()
    report = replay_segments(data_dir, Backend(workers=2)).as_dict()
    assert not report["ok"] and report["mismatch_height"] == 17
    assert report["mismatch"] == "state root"
    assert main(["replay", str(data_dir), "--segments", "--quiet"]) == 1
    assert "MISMATCH at height 17: state root" in capsys.readouterr().out


def test_a_tampered_snapshot_is_named_by_the_segment_that_ends_there(chain, tmp_path):
    data_dir = _copy(chain, tmp_path)
    with BlockStore.open(data_dir, keep_snapshots=100) as store:
        state = store.snapshot(10).state()  # a valid state, stored at the wrong height
        db = sqlite3.connect(data_dir / DB_NAME)
        (blob,) = db.execute("SELECT state FROM snapshots WHERE height = 10").fetchone()
        db.execute("UPDATE snapshots SET state = ? WHERE height = 20", (blob,))
        db.commit()
        db.close()
        assert state.root() != store.root_at(20)
    report = replay_segments(data_dir, Backend(workers=2))
    assert not report.ok and report.first_mismatch.mismatch_height == 20
    assert "snapshot at height 20" in report.first_mismatch.problem
