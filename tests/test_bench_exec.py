"""``paraclear bench exec``: the order-flow mix end to end through the command line, every
engine and executor on the same blocks (shape and equality only: no timing is asserted)."""

from __future__ import annotations

import gc
import json

import pytest

from paraclear.bench.blocks import TradeBlocks, make_source
from paraclear.bench.stages import PARTS, STAGES, encode_block, run_staged
from paraclear.clearing import ENGINES, ClearingMachine
from paraclear.clearing.margin import PortfolioMargin
from paraclear.cli import main
from paraclear.execution.wire import WireCodec

ORDER_TYPES = {"PlaceOrder", "AmendOrder", "CancelOrder", "SettleFill", "CloseOrder"}


def test_orders_mix_runs_every_engine_and_executor_to_equal_roots(capsys, tmp_path):
    argv = ["bench", "exec", "--mix", "orders", "--accounts", "30", "--txs", "120"]
    argv += ["--workers", "0,2", "--backend", "threads", "inline", "--repeats", "2", "--json"]
    assert main([*argv, "--engine", *ENGINES, "--plot", str(tmp_path / "plot.png")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mix"] == "orders" and result["engines"] == list(ENGINES)
    assert result["backends"] == ["threads", "inline"]
    rows = result["rows"]
    runs = [(0, None), (2, "threads"), (2, "inline")]
    assert [(r["engine"], r["workers"], r["backend"]) for r in rows] == [
        (e, w, b) for e in ENGINES for w, b in runs
    ]
    for row in rows:
        if row["workers"]:
            assert row["ceiling"] > 0 and row["speedup"] > 0
            assert row["efficiency"] == pytest.approx(row["speedup"] / row["ceiling"], abs=2e-3)
            assert 0 <= row["hashed_share"] <= 1  # keys the workers took from their rows
            assert 1 <= row["bound"] <= row["workers"]  # Amdahl's, from the compiled share
            if row["engine"] == "reference":  # no engine, no rows
                assert row["hashed_share"] == 0
        else:
            assert row["ceiling"] is row["efficiency"] is None
        assert row["mix"] == "orders" and row["accounts"] == 30 and row["margin"] == "standard"
        assert row["roots_equal"] is True and row["receipts_equal"] is True
        assert set(row["composition"]) >= ORDER_TYPES
        assert set(row["stages"]) == set(STAGES)
        assert sum(s["share"] for s in row["stages"].values()) == pytest.approx(1, abs=1e-3)
        assert all(s["seconds"] >= 0 and s["us_per_tx"] >= 0 for s in row["stages"].values())
        assert row["e2e_tps"] > 0 and row["build_seconds"] > 0
        assert 0 < row["compiled_share"] < 1
        assert (row["par_tps"] is None) == (row["workers"] == 0)
        split = ["commit", "execute"] if row["engine"] == "compiled" else ["commit"]
        assert sorted(row["parts"]) == split
        for stage in split:  # medians of 2 blocks are means: the parts add up to the stage
            assert list(row["parts"][stage]) == list(PARTS[stage])
            seconds = sum(part["seconds"] for part in row["parts"][stage].values())
            assert seconds == pytest.approx(row["stages"][stage]["seconds"], abs=1e-5)
        assert (row["kernel_tps"] is None) == (row["engine"] == "reference")
        assert (row["kernel_txs"] > 0) == (row["engine"] == "compiled")
    assert rows[0]["vs_reference"] == rows[0]["vs_reference_cpu"] == 1.0
    assert result["builder"] == "compiled"
    dry_run = rows[0]["dry_run"]  # the builder's, on the compiled engine by default
    assert dry_run["ms"] > 0 and list(dry_run["parts"]) == list(PARTS["execute"])
    seconds = sum(part["seconds"] for part in dry_run["parts"].values())
    assert seconds * 1e3 == pytest.approx(dry_run["ms"], abs=1e-2)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_trades_mix_text_names_every_stage_and_the_sequential_executor_alone(capsys):
    argv = ["bench", "exec", "--accounts", "10", "--txs", "40", "--workers", "0"]
    assert main([*argv, "--repeats", "1", "--engine", "reference", "--plot", "-"]) == 0
    out = capsys.readouterr().out
    assert "mix trades" in out
    assert "reference engine, plain commit, sequential, 40 txs per block" in out
    assert all(f"  {stage} " in out for stage in STAGES)
    assert all(f"    {part} " in out for part in PARTS["commit"])


def test_orders_mix_text_shows_the_dry_run_and_the_compiled_engines_parts(capsys):
    argv = ["bench", "exec", "--mix", "orders", "--accounts", "20", "--txs", "60"]
    argv += ["--workers", "0", "--repeats", "1", "--plot", "-"]
    assert main([*argv, "--engine", "compiled", "--builder-engine", "reference"]) == 0
    out = capsys.readouterr().out
    assert "the builder's dry run (reference engine, matching excluded)" in out
    assert "compiled engine, hashed commit, sequential" in out and "the kernels alone: " in out
    assert all(f"    {part} " in out for part in PARTS["execute"] + PARTS["commit"])


def test_the_compiled_engine_commits_hashed_and_plain_side_by_side_to_equal_roots(capsys):
    argv = ["bench", "exec", "--mix", "orders", "--accounts", "20", "--txs", "60", "--json"]
    argv += ["--workers", "0", "--repeats", "2", "--plot", "-", "--commit", "hashed", "plain"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["commits"] == ["hashed", "plain"]
    rows = result["rows"]
    assert [(r["engine"], r["commit"]) for r in rows] == [
        ("reference", "plain"), ("compiled", "hashed"), ("compiled", "plain")
    ]  # fmt: skip
    assert all(r["roots_equal"] and r["receipts_equal"] for r in rows)
    assert all(r["vs_reference"] > 0 and "rows" in r["parts"]["commit"] for r in rows[1:])


def test_portfolio_margin_order_flow_runs_both_engines_to_equal_roots(capsys):
    argv = ["bench", "exec", "--mix", "orders", "--margin", "portfolio", "--accounts", "20"]
    argv += ["--txs", "80", "--workers", "0,2", "--repeats", "2", "--plot", "-", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["margin"] == "portfolio" and len(result["rows"]) == 4
    for row in result["rows"]:
        assert row["margin"] == "portfolio" and row["roots_equal"] and row["receipts_equal"]
        assert set(row["composition"]) >= {"PlaceOrder", "SettleFill"}
    source = make_source("orders", 20, 80, margin="portfolio")
    assert isinstance(source.workload.model, PortfolioMargin)
    assert main([*argv[:-1], "--engine", "compiled", "--workers", "0"]) == 0
    assert "mix orders, portfolio margin," in capsys.readouterr().out


def test_more_warm_up_blocks_measure_a_larger_state(capsys):
    """The order flow's books deepen as makers' orders rest: each row says how many keys the
    state held as its measured blocks began, and --warmup moves that later."""
    argv = ["bench", "exec", "--mix", "orders", "--accounts", "20", "--txs", "60", "--json"]
    argv += ["--workers", "0", "--repeats", "1", "--plot", "-", "--engine", "compiled"]
    keys = {}
    for warmup in (0, 4):
        assert main([*argv, "--warmup", str(warmup)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["warmup"] == warmup
        (row,) = result["rows"]
        assert row["roots_equal"] and row["receipts_equal"]
        keys[warmup] = row["state_keys"]
    assert 0 < keys[0] < keys[4]
    with pytest.raises(SystemExit):
        main([*argv, "--warmup", "-1"])
    assert "--warmup" in capsys.readouterr().err


def test_orders_with_a_life_keep_the_books_from_deepening(capsys):
    """--quote-life: the order flow's orders expire after that many blocks, so more warm-up
    blocks measure a smaller state than without; the trades have no orders to expire."""
    argv = ["bench", "exec", "--mix", "orders", "--accounts", "20", "--txs", "60", "--json"]
    argv += ["--workers", "0", "--repeats", "1", "--plot", "-", "--engine", "compiled"]
    keys = {}
    for life, warmup in ((0, 8), (2, 8)):
        assert main([*argv, "--warmup", str(warmup), "--quote-life", str(life)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["quote_life"] == life
        (row,) = result["rows"]
        assert row["roots_equal"] and row["receipts_equal"]
        assert (row["composition"].get("CloseOrder", 0) > 0) or life == 0
        keys[life] = row["state_keys"]
    assert keys[2] < keys[0]
    trades = ["bench", "exec", "--mix", "trades", "--quote-life", "2", "--plot", "-"]
    assert main(trades) == 2
    assert "--quote-life needs --mix orders" in capsys.readouterr().err


def test_help_explains_the_mixes_engines_and_stages(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "exec", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    expected = ("--mix {trades,orders}", "--margin {standard,portfolio}", "--engine")
    expected += ("SettleFill", "decode", "root", "--commit", "--warmup", "state_keys")
    for words in (*expected, "--quote-life"):
        assert words in out


def test_the_collector_is_timed_as_a_stage_of_its_own_and_receipts_come_back_as_stored():
    source = TradeBlocks(accounts=20, txs=50)
    machine = ClearingMachine(source.workload.model)
    state = source.workload.genesis()
    run_staged(state, encode_block(source.setup_block()), machine)
    block = source.next_block(state)
    threshold = gc.get_threshold()
    gc.set_threshold(1)  # a collection at nearly every allocation, in every stage
    try:
        result, receipts, times = run_staged(state, encode_block(block), machine)
    finally:
        gc.set_threshold(*threshold)
    assert times.gc > 0 and times.cpu > 0
    assert all(getattr(times, stage) >= 0 for stage in STAGES)
    assert WireCodec(machine).decode_receipts(receipts) == result.receipts
    assert len(result.receipts) == len(block.txs)
