"""The examples run and do what they say."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).parents[2] / "examples"


def load(name: str) -> ModuleType:
    """The example ``examples/{name}.py``, imported."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trade_example_fills_and_reports_positions() -> None:
    module = load("trade")
    result = module.main()
    assert (result["fill"]["amount"], result["fill"]["price"]) == (1.0, 60_000.0)
    assert result["book"]["asks"] == [[60_000.0, 0.5]]
    assert result["positions"] == {"maker": -1.0, "taker": 1.0}


def test_bot_example_quotes_around_the_mark_on_a_running_node(tmp_path: Path) -> None:
    from tests.node.test_api import Venue

    module = load("bot")
    venue = Venue(tmp_path)
    try:
        quotes = module.run(venue.server.url, quotes=3)
        book = venue.client().call("public/get_order_book", {"instrument_name": "BTC-PERP"})
    finally:
        venue.close()
    assert [(q["mark"], q["bid"], q["ask"]) for q in quotes] == [(60_000.0, 59_880.0, 60_120.0)] * 3
    assert book["bids"] == [] and book["asks"] == []  # it cancelled its last pair


def test_verify_balance_example_proves_a_balance_against_the_root(tmp_path: Path) -> None:
    from paraclear.state import keys as k
    from tests.node.test_api import Venue

    module = load("verify_balance")
    venue = Venue(tmp_path)
    try:
        maker, taker = venue.traders[:2]
        venue.client(maker).sell(maker, "BTC-PERP", "0.2", "60000")
        venue.client(taker).buy(taker, "BTC-PERP", "0.2", "60000")
        report = module.run(venue.server.url, taker.account)
        collateral = venue.node.state.get(k.collateral(taker.account))
        root = venue.node.state.root().hex()
    finally:
        venue.close()
    assert report["verified"] and report["totals_verified"]
    assert report["collateral_usdc"] * 1_000_000 == collateral
    assert report["positions"] == ["BTC-PERP"] and report["state_root"] == root
