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
