"""Whole-market reads: accounts by risk with margins and Greeks, book summaries."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.api import rpc
from paraclear.api.account_risk import (
    AccountRisk,
    AccountRow,
    Ranking,
    account_row,
    margin_ratio,
    touched_accounts,
)
from paraclear.api.option_views import SeriesGreeks, series_greeks
from paraclear.api.overview import ACCOUNTS_BURST
from paraclear.api.rpc import RpcError
from paraclear.clearing.margin import StandardMargin
from paraclear.clearing.records import MarkData
from paraclear.clearing.transactions import ListInstrument, OracleUpdate, OrderType
from paraclear.state import State
from tests.clearing.harness import CALL, OTM_CALL, usd
from tests.node.test_api import Venue, error_of


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    venue = Venue(tmp_path)
    yield venue
    venue.close()


def list_calls(venue: Venue) -> None:
    """List two calls and republish the index so that they have marks."""
    operator = venue.operator
    admin = venue.client()
    for tx in (
        ListInstrument(sender=operator.account, nonce=2, instrument=CALL),
        ListInstrument(sender=operator.account, nonce=3, instrument=OTM_CALL),
        OracleUpdate(
            sender=operator.account,
            nonce=4,
            underlying="BTC",
            index_price=usd(60_000),
            atm_vol_ppm=600_000,
            skew_ppm=-100_000,
        ),
    ):
        assert admin.send_transaction(operator, tx)["ok"]


def test_accounts_rank_riskiest_first_with_positions_margins_and_greeks(venue: Venue) -> None:
    maker, taker, idle = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, "BTC-PERP", "2", "60000")
    b.buy(taker, "BTC-PERP", "1", "60010", kind=OrderType.IOC)
    accounts = venue.client().call("public/get_accounts", {"limit": 10})
    by_name = {row["account"]: row for row in accounts}
    assert set(by_name) >= {maker.account, taker.account, idle.account}
    ratios = [row["margin_ratio"] for row in accounts]
    assert ratios == sorted(ratios, reverse=True) and ratios[0] > 0
    assert by_name[idle.account]["margin_ratio"] == 0.0
    assert by_name[idle.account]["positions"] == []
    long = by_name[taker.account]
    assert long["positions"] == [
        {"instrument_name": "BTC-PERP", "size": 1.0, "mark_price": 60_000.0}
    ]
    assert long["greeks"] == {"delta": 1.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0}
    assert by_name[maker.account]["greeks"]["delta"] == -1.0
    assert 0 < long["maintenance_margin"] < long["initial_margin"] < long["equity"]
    assert long["margin_ratio"] == pytest.approx(long["maintenance_margin"] / long["equity"])
    assert venue.client().call("public/get_accounts", {"limit": 1}) == accounts[:1]


def test_option_positions_carry_black76_greeks(venue: Venue) -> None:
    list_calls(venue)
    maker, taker, _ = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    a.sell(maker, CALL.name, "1", "5000")
    b.buy(taker, CALL.name, "1", "5000", kind=OrderType.IOC)
    rows = {r["account"]: r for r in venue.client().call("public/get_accounts")}
    long, short = rows[taker.account]["greeks"], rows[maker.account]["greeks"]
    assert 0.4 < long["delta"] < 0.7 and long["gamma"] > 0 and long["vega"] > 0
    assert long["theta"] < 0
    assert short == pytest.approx({greek: -value for greek, value in long.items()})


def test_bad_accounts_params_are_typed_errors(venue: Venue) -> None:
    client = venue.client()
    for params, param in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit")):
        error = error_of(client.call, "public/get_accounts", params)
        assert error.code == rpc.INVALID_PARAMS and error.data is not None
        assert error.data["param"] == param
    for params in ({"sort": "equity"}, {"limit": "many"}, {"page": 2}):
        with pytest.raises(RpcError) as raised:
            client.call("public/get_accounts", params)
        assert raised.value.code == rpc.INVALID_PARAMS


def test_book_summary_has_marks_ivs_quotes_and_open_interest(venue: Venue) -> None:
    list_calls(venue)
    maker, taker, _ = venue.traders
    venue.client(maker).sell(maker, "BTC-PERP", "2", "60100")
    venue.client(taker).buy(taker, "BTC-PERP", "1", "60100", kind=OrderType.IOC)
    client = venue.client()
    summaries = {
        s["instrument_name"]: s
        for s in client.call("public/get_book_summary_by_currency", {"currency": "btc"})
    }
    assert set(summaries) == {"BTC-PERP", CALL.name, OTM_CALL.name}
    perp = summaries["BTC-PERP"]
    assert perp["mark_price"] == 60_000.0 and perp["mark_iv"] is None
    assert perp["ask_price"] == 60_100.0 and perp["bid_price"] is None
    assert perp["volume"] == 1.0 and perp["open_interest"] > 0
    atm, otm = summaries[CALL.name], summaries[OTM_CALL.name]
    assert atm["mark_iv"] == pytest.approx(60.0)
    assert otm["mark_iv"] < atm["mark_iv"]  # negative skew
    assert (otm["strike"], otm["option_type"]) == (70_000.0, "call")
    options = client.call(
        "public/get_book_summary_by_currency", {"currency": "BTC", "kind": "option"}
    )
    assert {s["instrument_name"] for s in options} == {CALL.name, OTM_CALL.name}
    error = error_of(client.call, "public/get_book_summary_by_currency", {"currency": "DOGE"})
    assert error.code == rpc.INVALID_PARAMS


def test_written_keys_name_touched_accounts_holders_and_market_wide_changes() -> None:
    touched, holders, everyone = touched_accounts(
        [("acct", "b", "nonce"), ("acct", "c", "portfolio"), ("acct", "a", "pos", "X")]
    )
    assert touched == {"a", "b", "c"} and holders == {"c"} and not everyone
    assert touched_accounts([("market", "open_interest", "X")])[2] is False
    assert touched_accounts([("market", "mark", "BTC-PERP")])[2] is True


def test_accounts_under_water_rank_first_with_a_null_ratio() -> None:
    assert margin_ratio(equity=-5, maintenance=0) is None
    assert margin_ratio(equity=0, maintenance=3) is None
    assert margin_ratio(equity=0, maintenance=0) == 0.0
    assert margin_ratio(equity=10, maintenance=0) == 0.0
    assert margin_ratio(equity=10, maintenance=4) == 0.4


def test_pages_of_the_ranking_follow_offset_and_count(venue: Venue) -> None:
    maker, taker, _ = venue.traders
    venue.client(maker).sell(maker, "BTC-PERP", "2", "60000")
    venue.client(taker).buy(taker, "BTC-PERP", "1", "60010", kind=OrderType.IOC)
    client = venue.client()
    everything = client.call("public/get_accounts", {"limit": 1000})
    pages = [client.call("public/get_accounts", {"count": 1, "offset": n}) for n in range(4)]
    assert [row for page in pages for row in page] == everything
    assert pages[-1] == [] and len(everything) == 3
    error = error_of(client.call, "public/get_accounts", {"offset": -1})
    assert error.code == rpc.INVALID_PARAMS and error.data == {
        "param": "offset",
        "reason": "must be between 0 and 10000000",
    }


def test_get_accounts_is_rate_limited_per_connection(venue: Venue) -> None:
    greedy, patient = venue.client(), venue.client()
    answers = []
    for _ in range(ACCOUNTS_BURST + 5):
        try:
            answers.append(len(greedy.call("public/get_accounts", {"limit": 1})))
        except RpcError as error:
            assert error.code == rpc.TOO_MANY_REQUESTS and error.data is not None
            answers.append(-1)
    assert answers.count(-1) >= 1 and answers[:ACCOUNTS_BURST] == [1] * ACCOUNTS_BURST
    assert len(patient.call("public/get_accounts", {"limit": 1})) == 1


def test_the_kept_ranking_equals_one_computed_from_scratch_after_each_block(venue: Venue) -> None:
    """Trades touch two accounts, an oracle update every account: the ranking kept per
    block must equal the rows computed afresh over the whole state."""
    maker, taker, idle = venue.traders
    a, b = venue.client(maker), venue.client(taker)
    reader = venue.client()
    model = venue.node.machine.margin_model

    def from_scratch() -> list[AccountRow]:
        state = venue.node.state
        rows = [account_row(state, t.account, model) for t in venue.traders]
        return sorted((row for row in rows if row is not None), key=lambda row: row[:2])

    def read() -> list[dict[str, Any]]:
        params = {"limit": 10, "min_height": venue.node.height}
        rows: list[dict[str, Any]] = reader.call("public/get_accounts", params)
        assert {row["block"] for row in rows} == {venue.node.height}
        return rows

    def kept() -> list[str]:
        return [row["account"] for row in read()]

    assert kept() == [row.account for row in from_scratch()]
    a.sell(maker, "BTC-PERP", "3", "60000")
    b.buy(taker, "BTC-PERP", "2", "60000", kind=OrderType.IOC)
    rows = read()
    assert [row["account"] for row in rows] == [row.account for row in from_scratch()]
    assert rows[0]["margin_ratio"] == from_scratch()[0].ratio
    operator = venue.operator
    crash = OracleUpdate(
        sender=operator.account,
        nonce=venue.node.next_nonce(operator.account),
        underlying="BTC",
        index_price=usd(40_000),
        atm_vol_ppm=600_000,
    )
    assert venue.client().send_transaction(operator, crash)["ok"]
    rows = read()
    fresh = from_scratch()
    assert [(r["account"], r["margin_ratio"]) for r in rows] == [
        (r.account, r.ratio) for r in fresh
    ]
    assert {p["mark_price"] for r in rows for p in r["positions"]} == {40_000.0}
    assert idle.account in {r["account"] for r in rows}


def test_without_min_height_the_newest_ranking_comes_at_once_and_catches_up(
    venue: Venue,
) -> None:
    maker, taker, _ = venue.traders
    client = venue.client()
    first = client.call("public/get_accounts", {"limit": 10})
    assert {row["block"] for row in first} == {venue.node.height}
    venue.client(maker).sell(maker, "BTC-PERP", "2", "60000")
    venue.client(taker).buy(taker, "BTC-PERP", "1", "60010", kind=OrderType.IOC)
    height = venue.node.height
    rows = client.call("public/get_accounts", {"limit": 10})
    assert {row["block"] for row in rows} <= {first[0]["block"], height}
    fresh = client.call("public/get_accounts", {"limit": 10, "min_height": height})
    assert {row["block"] for row in fresh} == {height}
    error = error_of(client.call, "public/get_accounts", {"min_height": height + 1})
    assert error.code == rpc.INVALID_PARAMS and error.data is not None
    assert error.data["param"] == "min_height"


def test_series_without_a_positive_index_have_zero_greeks_instead_of_an_error() -> None:
    greeks = series_greeks(State({}), {CALL.name: MarkData(CALL, price=0, index=0)}, 0)
    assert greeks == {CALL.name: SeriesGreeks(0.0, 0.0, 0.0, 0.0)}


def test_a_ranking_asked_for_between_its_computation_and_its_callback_comes() -> None:
    # The computation's future is done, its done-callback queued but not run, when ranking()
    # is called: awaiting a done future does not yield to the loop, so a loop that awaited
    # it again spun for ever (a demo hung in get_accounts). Run in a thread: a spin can only
    # be noticed from outside it.
    risk = AccountRisk(lambda: State(), StandardMargin())
    outcome: list[object] = []

    async def scenario() -> None:
        future: asyncio.Future[Ranking] = asyncio.get_running_loop().create_future()
        future.add_done_callback(risk._finished)
        risk._computing = (5, future)
        future.set_result(Ranking(5, []))  # schedules _finished; nothing has yielded yet
        outcome.append(await risk.ranking(5))

    thread = threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "ranking() spun on a finished computation"
    assert outcome == [Ranking(5, [])]
