"""Deribit's documented wire formats as fixtures (``fixtures/deribit_wire.json``): every
documented request is accepted as Deribit writes it, and every answer and notification
holds the documented fields with values of the documented JSON types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.client.connection import Client
from tests.clearing.harness import CALL
from tests.node.test_deribit import OptionVenue, trade_twice
from tests.node.test_deribit_streams import Inbox, publish_index

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "deribit_wire.json").read_text())
PLACEHOLDERS = {"OPTION": CALL.name}


def shaped_like(ours: Any, pattern: Any, where: str = "result") -> list[str]:
    """Where ``ours`` departs from ``pattern``: a missing field, or a value of another JSON
    type (``null`` in the pattern: any value, the field must exist)."""
    if pattern is None:
        return []
    if isinstance(pattern, bool):
        return [] if isinstance(ours, bool) else [f"{where}: {ours!r} is not a boolean"]
    if isinstance(pattern, int | float):
        number = isinstance(ours, int | float) and not isinstance(ours, bool)
        return [] if number else [f"{where}: {ours!r} is not a number"]
    if isinstance(pattern, str):
        return [] if isinstance(ours, str) else [f"{where}: {ours!r} is not a string"]
    if isinstance(pattern, list):
        if not isinstance(ours, list):
            return [f"{where}: {ours!r} is not a list"]
        if not pattern:
            return []
        if any(type(item) is not type(pattern[0]) for item in pattern):  # a tuple
            if len(ours) != len(pattern):
                return [f"{where}: {ours!r} does not have {len(pattern)} items"]
            pairs = zip(ours, pattern, strict=True)
            return [
                gap for n, (a, b) in enumerate(pairs) for gap in shaped_like(a, b, f"{where}[{n}]")
            ]
        return [gap for item in ours for gap in shaped_like(item, pattern[0], f"{where}[]")]
    if not isinstance(ours, dict):
        return [f"{where}: {ours!r} is not an object"]
    gaps = [f"{where}.{name}: missing" for name in pattern if name not in ours]
    for name, value in pattern.items():
        if name in ours:
            gaps += shaped_like(ours[name], value, f"{where}.{name}")
    return gaps


def filled(value: Any) -> Any:
    if isinstance(value, str):
        return PLACEHOLDERS.get(value, value)
    if isinstance(value, dict):
        return {name: filled(item) for name, item in value.items()}
    return value


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OptionVenue]:
    venue = OptionVenue(tmp_path_factory.mktemp("wire"))
    yield venue
    venue.close()


@pytest.mark.parametrize(
    "example", FIXTURES["methods"], ids=[m["method"] for m in FIXTURES["methods"]]
)
def test_documented_requests_are_accepted_and_answers_have_the_documented_shape(
    venue: OptionVenue, example: dict[str, Any]
) -> None:
    client = venue.client()
    result = client.call(example["method"], filled(example["params"]))
    assert shaped_like(result, filled(example["result"])) == []


def test_the_pattern_check_finds_missing_fields_and_wrong_types() -> None:
    assert shaped_like({"a": 1}, {"a": 1.5, "b": None}) == ["result.b: missing"]
    assert shaped_like({"a": "1"}, {"a": 1}) == ["result.a: '1' is not a number"]
    assert shaped_like([{"x": True}], [{"x": False}]) == []
    assert shaped_like([["new", 1.0, 2.0]], [["change", 1.5, 0.0]]) == []
    assert shaped_like([[1.0, 2.0]], [["change", 1.5, 0.0]]) == [
        "result[]: [1.0, 2.0] does not have 3 items"
    ]


def test_notifications_and_trades_have_the_documented_shape(tmp_path: Path) -> None:
    venue = OptionVenue(tmp_path)
    try:
        watcher: Client = venue.client()
        stream = Inbox(
            watcher.subscribe(["book.BTC-PERPETUAL.100ms", "deribit_price_index.btc_usd"])
        )
        client = trade_twice(venue)
        notes = FIXTURES["notifications"]
        snapshot, change = stream.take("book.BTC-PERPETUAL.100ms", 2)
        assert shaped_like(snapshot, notes["book_snapshot"]) == []
        assert shaped_like(change, notes["book_change"]) == []
        trades = client.call(
            "public/get_last_trades_by_instrument", {"instrument_name": "BTC-PERPETUAL"}
        )["trades"]
        assert trades and shaped_like(trades, [notes["trade"]]) == []
        publish_index(venue, 3, 60_500)
        [index] = stream.take("deribit_price_index.btc_usd", 1)
        assert shaped_like(index, notes["deribit_price_index"]) == []
    finally:
        venue.close()
