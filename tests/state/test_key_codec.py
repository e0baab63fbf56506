"""The key codec: every key a constructor of ``state.keys`` makes parses to its typed form,
which makes the same key again; a tuple no constructor makes is refused; the scan helpers
agree with ``parse_key``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraclear.state import keys as k
from paraclear.state.keys import (
    AccountField,
    Counter,
    CounterKey,
    Field,
    HouseKey,
    MarketKey,
    OrderKey,
    ParsedKey,
    PositionKey,
    UnknownKey,
    account_field_of,
    account_of,
    parse_key,
    position_of,
)

names = st.text(min_size=1, max_size=12)
nonces = st.integers(min_value=0, max_value=2**63 - 1)

ACCOUNT_FIELDS = {
    Field.COLLATERAL: k.collateral,
    Field.NONCE: k.nonce,
    Field.PORTFOLIO: k.portfolio,
    Field.BANKRUPTCY: k.bankruptcy,
    Field.OPEN_ORDERS: k.open_orders,
    Field.RESERVED: k.reserved,
    Field.POOL_SHARES: k.pool_shares,
}
MARKET = {
    "surface": k.surface,
    "quote": k.quote,
    "instrument": k.instrument,
    "series": k.series,
    "oracle": k.oracle,
    "mark": k.mark,
}
DETAILS = {"history": k.index_history, "settlements": k.settlement_prices, "premium": k.premium}


def _round_trip(key: tuple[str, ...], expected: ParsedKey) -> None:
    parsed = parse_key(key)
    assert parsed == expected
    assert type(parsed) is type(expected)
    assert parsed.key() == key
    assert account_of(key) == getattr(expected, "account", None)
    assert position_of(key) == (expected if isinstance(expected, PositionKey) else None)
    for field in Field:
        wanted = (
            expected.account
            if isinstance(expected, AccountField) and expected.field == field
            else None
        )
        assert account_field_of(key, field) == wanted


@given(names, st.sampled_from(sorted(ACCOUNT_FIELDS)))
def test_account_fields(account: str, field: Field) -> None:
    _round_trip(ACCOUNT_FIELDS[field](account), AccountField(account, field))


@given(names, names)
def test_positions(account: str, instrument: str) -> None:
    _round_trip(k.position(account, instrument), PositionKey(account, instrument))


@given(names, nonces)
def test_orders(account: str, nonce: int) -> None:
    parsed = parse_key(k.order(account, nonce))
    assert isinstance(parsed, OrderKey) and isinstance(parsed.nonce, int)
    _round_trip(k.order(account, nonce), OrderKey(account, nonce))


@given(names)
def test_counters_and_market_data(name: str) -> None:
    _round_trip(k.open_interest(name), CounterKey(Counter.OPEN_INTEREST, name))
    _round_trip(k.order_count(name), CounterKey(Counter.ORDER_COUNT, name))
    for table, make in MARKET.items():
        _round_trip(make(name), MarketKey(table, name))
    for detail, make in DETAILS.items():
        table = "mark" if detail == "premium" else "oracle"
        _round_trip(make(name), MarketKey(table, name, detail))


def test_constants() -> None:
    _round_trip(k.POOL_TOTAL_SHARES, AccountField(k.POOL_ACCOUNT, Field.TOTAL_SHARES))
    for key in (k.INSURANCE_FUND, k.FEE_POOL, k.NET_DEPOSITS, k.POOL_VOLUME, k.POOL_SPREAD):
        _round_trip(key, HouseKey(*key))
    _round_trip(k.CONFIG, MarketKey("config"))
    _round_trip(k.POOL_CONFIG, MarketKey("pool"))


@pytest.mark.parametrize(
    "key",
    [
        (),
        ("acct",),
        ("acct", "alice"),
        ("acct", "alice", "colateral"),
        ("acct", "alice", "pos"),
        ("acct", "alice", "order", "007"),
        ("acct", "alice", "order", "-1"),
        ("acct", "alice", "order", "1e3"),
        ("acct", "alice", "order", "7", "x"),
        ("fund",),
        ("fund", "fees", "x"),
        ("oi",),
        ("market",),
        ("market", ""),
        ("market", "mark", ""),
        ("market", "mark", "BTC-PERP", "premium", "x"),
        ("nothing", "here"),
    ],
)
def test_refuses_what_no_constructor_makes(key: tuple[str, ...]) -> None:
    with pytest.raises(UnknownKey, match="not a state key"):
        parse_key(key)
    assert position_of(key) is None


def test_the_typed_forms_kept_stay_bounded_and_orders_are_not_kept() -> None:
    for n in range(k.PARSED_KEPT + 10):
        parse_key(k.collateral(f"bounded-{n}"))
        assert len(k._parsed) <= k.PARSED_KEPT
    before = len(k._parsed)
    parse_key(k.order("bounded", 7))
    assert len(k._parsed) == before
    assert parse_key(k.collateral("bounded-3")) == AccountField("bounded-3", Field.COLLATERAL)
