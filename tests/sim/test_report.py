"""The demo's report on a real small block log: replay comparison, text, JSON, HTML."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from paraclear.bench.ceiling import measure_ceiling
from paraclear.bench.crashtest import Plan
from paraclear.chain.storage import DB_NAME
from paraclear.clearing.margin import StandardMargin
from paraclear.clearing.transactions import OracleUpdate, Transaction
from paraclear.execution import Block
from paraclear.sim.compare import (
    CEILING_SAMPLES,
    BlockComparison,
    ReplayComparison,
    compare_replay,
)
from paraclear.sim.report import DemoReport, Machine, cpu_model, short_key, summary, text
from paraclear.sim.report_html import write_html
from paraclear.state import State
from tests.sim.report_support import CRASH, ORDERS, market_run, small_plan, write_chain


@pytest.fixture(scope="module")
def plan() -> Plan:
    return small_plan()


@pytest.fixture
def chain_dir(tmp_path: Path, plan: Plan) -> Path:
    return write_chain(tmp_path / "chain", plan)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory, plan: Plan) -> ReplayComparison:
    data_dir = write_chain(tmp_path_factory.mktemp("compare") / "chain", plan)
    return compare_replay(data_dir, workers=2, expected_root=plan.roots[-1])


def test_both_executors_reproduce_every_logged_root(
    comparison: ReplayComparison, plan: Plan
) -> None:
    assert comparison.roots_equal
    assert [block.height for block in comparison.blocks] == list(range(1, 10))
    assert comparison.final_root == plan.roots[-1]
    assert comparison.txs == sum(len(block.txs) for block in plan.blocks)
    assert all(
        block.sequential_seconds > 0 and block.parallel_seconds > 0 for block in comparison.blocks
    )
    assert comparison.speedup == pytest.approx(
        comparison.sequential_seconds / comparison.parallel_seconds
    )


def test_parallel_metrics_explain_each_block(comparison: ReplayComparison) -> None:
    for block in comparison.blocks:
        assert 1 <= block.critical_path <= block.txs
        assert 1 <= block.widest_level <= block.txs
        assert len(block.busy_seconds) == (2 if block.spread else 0)
    # The first block worth spreading starts the workers; the next is measured on them.
    assert comparison.spread_blocks >= 2
    # Every spread block was planned; the one-transaction oracle blocks never are.
    assert comparison.spread_blocks <= comparison.planned_blocks < len(comparison.blocks)
    assert not any(block.planned for block in comparison.blocks if block.txs == 1)
    mean, longest, share_mean, share_max = comparison.critical_path_stats()
    assert 1 <= mean <= longest and 0 < share_mean <= share_max <= 1
    hot = comparison.hot_keys(3)
    assert len(hot) == 3 and hot[0][1] >= hot[1][1] >= hot[2][1] > 0


def _block(height: int, txs: int, path: int, seconds: tuple[float, float]) -> BlockComparison:
    return BlockComparison(height, txs, *seconds, path, txs - path + 1, (), 0, (0.1, 0.2))


def test_run_figures_from_block_figures() -> None:
    comparison = ReplayComparison(2, "threads")
    comparison.blocks = [
        _block(1, 1, 1, (1.0, 1.0)),  # an oracle block: left out of the critical path figures
        _block(2, 10, 2, (2.0, 1.0)),
        _block(3, 20, 10, (3.0, 6.0)),
    ]
    assert comparison.critical_path_stats() == (6.0, 10, 0.35, 0.5)
    assert comparison.widest_level_mean() == (9 + 11) / 2
    assert comparison.speedup == 6 / 8 and comparison.median_speedup == 1.0
    assert comparison.dag_parallelism == 31 / 13
    assert comparison.worker_busy_seconds() == pytest.approx([0.3, 0.6])


def test_a_wrong_live_root_makes_roots_unequal(chain_dir: Path) -> None:
    comparison = compare_replay(chain_dir, workers=2, backend="inline", expected_root=bytes(32))
    assert comparison.first_mismatch is None
    assert not comparison.roots_equal


def test_a_block_of_oracle_updates_alone_gives_the_ceiling_nothing_to_measure() -> None:
    update = OracleUpdate(sender="house", nonce=0, underlying="BTC", index_price=1, atm_vol_ppm=1)
    block: Block[Transaction] = Block(height=1, time=0, txs=(update,))
    assert measure_ceiling({}, block, StandardMargin(), threads=2) is None
    assert measure_ceiling({}, block, StandardMargin(), threads=1) == 1.0


def test_a_sampled_block_with_nothing_to_measure_passes_the_sample_to_the_next(
    chain_dir: Path,
) -> None:
    asked: list[int] = []

    def ceiling(state: State, block: Block[Transaction], model: object) -> float | None:
        asked.append(block.height)
        return None if len(asked) % 2 else 1.5  # every other block: nothing to measure

    comparison = compare_replay(chain_dir, workers=2, backend="inline", ceiling=ceiling)
    assert comparison.ceiling == 1.5  # a None in the median would not even sort
    for nothing, then in zip(asked[::2], asked[1::2], strict=False):
        assert then == nothing + 1
    assert 2 <= len(asked) <= 2 * CEILING_SAMPLES


def test_a_tampered_logged_root_is_found_at_its_height(chain_dir: Path) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        db.execute("UPDATE blocks SET state_root = ? WHERE height = 4", (bytes(32),))
    comparison = compare_replay(chain_dir, workers=2, backend="inline")
    assert not comparison.roots_equal
    assert comparison.first_mismatch == 4
    bad = [block.height for block in comparison.blocks if not block.sequential_ok]
    assert bad == [4] and not comparison.blocks[3].parallel_ok


def test_a_tampered_receipt_is_found(chain_dir: Path) -> None:
    with sqlite3.connect(chain_dir / DB_NAME) as db:
        (receipts,) = db.execute("SELECT receipts FROM blocks WHERE height = 5").fetchone()
        db.execute("UPDATE blocks SET receipts = ? WHERE height = 5", (receipts[:-1] + b"\0",))
    comparison = compare_replay(chain_dir, workers=2, backend="inline")
    assert comparison.first_mismatch == 5 and not comparison.roots_equal


def test_summary_has_the_figures_the_demo_promises(comparison: ReplayComparison) -> None:
    report = DemoReport(market_run(Path("unused")), comparison, Machine(2, "Test CPU", "3.11"))
    data = json.loads(json.dumps(summary(report)))
    assert data["orders"] == ORDERS
    assert data["blocks"] == 9 and data["txs"] == comparison.txs
    assert data["roots_equal"] is True and data["speedup"] > 0
    assert (data["liquidations"], data["backstops"], data["deleverages"]) == (7, 2, 1)
    assert (data["insurance_fund_before"], data["insurance_fund_after"]) == (1_000.0, 750.0)
    assert (data["insurance_fund_peak"], data["insurance_fund_used"]) == (1_000.0, 250.0)
    assert data["dag_parallelism"] == pytest.approx(
        comparison.txs / sum(block.critical_path for block in comparison.blocks), abs=1e-3
    )
    assert data["orders_per_second"] == pytest.approx(data["orders"] / 4.5, abs=0.1)
    assert data["workers"] == 2 and data["critical_path_mean"] > 0
    assert data["widest_level_mean"] >= 1 and len(data["worker_busy_seconds"]) == 2
    assert 0 < sum(data["worker_busy_seconds"]) <= 2 * data["parallel_seconds"]
    stages = data["parallel_stage_seconds"]
    assert list(stages) == ["access sets", "schedule", "tasks", "workers", "merge", "commit"]
    rounding = 0.5e-4 * (len(stages) + 1)  # each figure rounded to 4 places, the total too
    assert 0 < sum(stages.values()) <= data["parallel_seconds"] + rounding
    assert stages["workers"] > 0
    assert [hot["accesses"] for hot in data["hot_keys"]] == [n for _, n in comparison.hot_keys()]
    assert data["roles"]["maker"] == 2 and data["errors"]["vol"] == {"InsufficientMargin": 4}
    assert list(data["mm_greeks"]) == ["start", "before crash", "crash", "end"]
    assert data["mm_greeks"]["crash"]["vega"] == 2_500.0 * CRASH


def test_text_report_names_every_topic(comparison: ReplayComparison) -> None:
    report = DemoReport(market_run(Path("unused")), comparison, Machine(2, "Test CPU", "3.11"))
    printed = text(report)
    assert "WARNING" not in printed
    for expected in (
        "orders/s",
        "speedup x",
        "roots equal: yes",
        "liquidations 7",
        "backstops 2",
        "auto-deleverages 1",
        "1,000.00 USDC before the crash",
        "250.00 paid out",
        "(2 maker, 1 liquidator, 8 vol, 29 directional)",
        "(most: InsufficientMargin 7, PostOnlyWouldCross 5)",
        "the DAG allows at most x",
        "parallel time by stage: access sets ",
        "critical path mean",
        comparison.hot_keys()[0][0],
        "before crash",
        "15,000",  # the crash tick's MM vega
        "2 cores, Test CPU",
    ):
        assert expected in printed, expected


def test_text_report_warns_of_stalls(comparison: ReplayComparison) -> None:
    run = market_run(Path("unused"))
    run.stalls, run.lost = 3, 4
    report = DemoReport(run, comparison, Machine(2, "Test CPU", "3.11"))
    assert "WARNING: 3 times the driver gave up waiting" in text(report)
    assert "WARNING: 4 requests refused by the API" in text(report)
    assert (summary(report)["stalls"], summary(report)["lost"]) == (3, 4)


def test_html_report_is_one_file_with_plots_and_figures(
    comparison: ReplayComparison, tmp_path: Path
) -> None:
    report = DemoReport(market_run(Path("unused")), comparison, Machine(2, "Test CPU", "3.11"))
    report.html = tmp_path / "report.html"
    page = write_html(report, report.html).read_text()
    assert page.count('src="data:image/png;base64,') == 6
    assert "How to read this" in page and 'alt="smile"' in page
    assert f"<td>orders</td><td>{ORDERS:,}</td>" in page
    assert "<td>roots_equal</td><td>True</td>" in page
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_cpu_model_reads_the_model_name(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU @ 3.00GHz\nflags\t: fpu\n")
    assert cpu_model(info) == "Example CPU @ 3.00GHz"
    assert cpu_model(tmp_path / "missing")  # falls back to the platform's name


def test_short_key_cuts_account_hashes_only() -> None:
    assert short_key("acct/" + "ab" * 32) == "acct/ababababab.."
    assert short_key("market/BTC-26JUN26-60000-C") == "market/BTC-26JUN26-60000-C"


def test_short_key_names_the_accounts_the_run_knows() -> None:
    maker, stranger = "ab" * 32, "cd" * 32
    names = {maker: "maker-0"}
    assert short_key(f"acct/{maker}", names=names) == "acct/maker-0"
    assert short_key(f"acct/{stranger}", names=names) == "acct/cdcdcdcdcd.."
