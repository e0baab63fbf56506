"""The examples run and do what they say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_trade_example_fills_and_reports_positions() -> None:
    spec = importlib.util.spec_from_file_location("example_trade", EXAMPLES / "trade.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main()
    assert (result["fill"]["amount"], result["fill"]["price"]) == (1.0, 60_000.0)
    assert result["book"]["asks"] == [[60_000.0, 0.5]]
    assert result["positions"] == {"maker": -1.0, "taker": 1.0}


def test_bot_example_quotes_around_the_mark_on_a_running_node(tmp_path: Path) -> None:
    from tests.node.test_api import Venue

    spec = importlib.util.spec_from_file_location("example_bot", EXAMPLES / "bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    venue = Venue(tmp_path)
    try:
        quotes = module.run(venue.server.url, quotes=3)
        book = venue.client().call("public/get_order_book", {"instrument_name": "BTC-PERP"})
    finally:
        venue.close()
    assert [(q["mark"], q["bid"], q["ask"]) for q in quotes] == [(60_000.0, 59_880.0, 60_120.0)] * 3
    assert book["bids"] == [] and book["asks"] == []  # it cancelled its last pair
