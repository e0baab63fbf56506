import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraclear.clearing.instruments import (
    InstrumentNameError,
    Option,
    Perpetual,
    Right,
    expiry_time,
    parse_instrument,
)
from paraclear.numbers import PRICE_SCALE


def test_option_name_parses_to_its_fields():
    option = parse_instrument("BTC-27JUN26-60000-C")
    assert option == Option(
        underlying="BTC",
        expiry=expiry_time(27, 6, 2026),
        strike=60_000 * PRICE_SCALE,
        right=Right.CALL,
    )
    assert option.expiry == 1_782_547_200  # 2026-06-27 08:00:00 UTC


def test_perpetual_and_decimal_strike_names_round_trip():
    for name in ["BTC-PERP", "ETH-PERP", "XRP-5JUL26-0d55-P", "ETH-31DEC27-3250d5-C"]:
        assert parse_instrument(name).name == name
    assert parse_instrument("BTC-PERP") == Perpetual(underlying="BTC")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "BTC",
        "btc-PERP",
        "BTC-05JUL26-60000-C",  # leading zero: not canonical
        "BTC-31JUN26-60000-C",  # no such day
        "BTC-1FOO26-60000-C",
        "BTC-1JUN26-0-C",
        "BTC-1JUN26-60000-X",
        "BTC-1JUN26-60.5-C",
        "BTC-1JUN26-60000d50-C",  # non-canonical trailing zero
    ],
)
def test_bad_names_are_refused_with_a_typed_error(bad):
    with pytest.raises(InstrumentNameError):
        parse_instrument(bad)


@given(
    st.sampled_from(["BTC", "ETH", "SOL"]),
    st.dates(
        min_value=__import__("datetime").date(2020, 1, 1),
        max_value=__import__("datetime").date(2099, 12, 31),
    ),
    st.integers(1, 10**12),
    st.sampled_from(list(Right)),
)
def test_every_option_round_trips_through_its_name(underlying, day, strike, right):
    option = Option(
        underlying=underlying,
        expiry=expiry_time(day.day, day.month, day.year),
        strike=strike,
        right=right,
    )
    assert parse_instrument(option.name) == option


def test_intrinsic_value_per_contract():
    call = parse_instrument("BTC-27JUN26-60000-C")
    put = parse_instrument("BTC-27JUN26-60000-P")
    assert isinstance(call, Option) and isinstance(put, Option)
    assert call.intrinsic(65_000 * PRICE_SCALE) == 5_000 * PRICE_SCALE
    assert put.intrinsic(65_000 * PRICE_SCALE) == 0
    assert put.intrinsic(50_000 * PRICE_SCALE) == 10_000 * PRICE_SCALE
