from decimal import Decimal, localcontext

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from paraclear.numbers import (
    MAX_ABS_RAW,
    NonFiniteError,
    NotADecimalError,
    NotAMultipleError,
    OutOfRangeError,
    TooManyDecimalsError,
    check_multiple,
    div_ceil,
    div_floor,
    format_amount,
    format_size,
    notional,
    parse_amount,
    parse_fixed,
    parse_price,
    parse_size,
    ppm_of_ceil,
)


def test_parse_amount_reads_decimal_strings_and_integers_exactly():
    assert parse_amount("12.5") == 12_500_000
    assert parse_amount("0.000001") == 1
    assert parse_amount(7) == 7_000_000
    assert parse_amount(" 3 ") == 3_000_000
    assert parse_amount("-2.5", signed=True) == -2_500_000


@pytest.mark.parametrize("bad", [1.5, float("nan"), True, None, b"1"])
def test_parse_rejects_floats_bools_and_other_types(bad):
    with pytest.raises(NotADecimalError):
        parse_amount(bad)


@pytest.mark.parametrize("bad", ["NaN", "nan", "Infinity", "-inf", "sNaN"])
def test_parse_rejects_non_finite_strings(bad):
    with pytest.raises(NonFiniteError):
        parse_amount(bad)


def test_parse_rejects_garbage():
    for bad in ["", "abc", "1,5", "1.2.3", "0x10"]:
        with pytest.raises(NotADecimalError):
            parse_amount(bad)


def test_parse_rejects_too_many_decimals():
    with pytest.raises(TooManyDecimalsError):
        parse_amount("0.0000001")
    assert parse_amount("1.2300000") == 1_230_000  # trailing zeros are exact


def test_parse_rejects_negative_unless_signed_and_out_of_range_values():
    with pytest.raises(OutOfRangeError):
        parse_price("-1")
    with pytest.raises(OutOfRangeError):
        parse_amount(str(MAX_ABS_RAW))
    with pytest.raises(OutOfRangeError):
        parse_size("1e40")


@given(st.integers(min_value=-MAX_ABS_RAW, max_value=MAX_ABS_RAW))
def test_format_then_parse_round_trips(raw):
    assert parse_amount(format_amount(raw), signed=True) == raw
    assert parse_size(format_size(raw), signed=True) == raw


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False))
def test_parse_agrees_with_decimal_arithmetic(value):
    assert parse_amount(str(value), signed=True) == int(value * 1_000_000)


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**9))
def test_rounding_toward_the_house_brackets_the_exact_quotient(numerator, denominator):
    low, high = div_floor(numerator, denominator), div_ceil(numerator, denominator)
    exact = Decimal(numerator) / Decimal(denominator)
    assert low <= exact <= high
    assert high - low == (0 if numerator % denominator == 0 else 1)


def test_notional_and_ppm_charges():
    assert notional(parse_price("60000"), parse_size("0.1")) == 6_000_000_000
    assert ppm_of_ceil(1_000_001, 500) == 501  # 500.0005 rounds up
    assert ppm_of_ceil(1_000_000, 500) == 500


def test_check_multiple():
    check_multiple(300, 100, "size")
    with pytest.raises(NotAMultipleError):
        check_multiple(301, 100, "size")


# --- hostile inputs: bounded work, typed errors (issue 17) ---------------------------------


@pytest.mark.parametrize(
    "huge", ["1e800000", "1E+1000000", "1e999999999999", "9" * 90, "1.5e19", "0.1e40"]
)
def test_huge_magnitudes_are_out_of_range_without_being_built(huge):
    with pytest.raises(OutOfRangeError):
        parse_amount(huge)
    with pytest.raises(OutOfRangeError):
        parse_size("-" + huge, signed=True)


def test_negative_huge_magnitude_unsigned_is_out_of_range():
    with pytest.raises(OutOfRangeError):
        parse_price("-1e999999999999")


@pytest.mark.parametrize("tiny", ["1e-800000", "1e-999999999999", "0.5e-6"])
def test_tiny_magnitudes_have_too_many_decimals(tiny):
    with pytest.raises(TooManyDecimalsError):
        parse_amount(tiny)


def test_zero_with_any_exponent_is_zero():
    assert parse_amount("0e999999999999") == 0
    assert parse_amount("-0.000e-999999") == 0


def test_overlong_text_and_huge_integers_are_refused():
    with pytest.raises(NotADecimalError):
        parse_amount("1" + "0" * 200)
    with pytest.raises(OutOfRangeError):
        parse_amount(10**4000)
    with pytest.raises(NotADecimalError):
        parse_amount("1_000")


def decimal_reference(text: str, decimals: int) -> int | type[Exception]:
    """The readable rule: exact Decimal arithmetic (only for short, tame inputs). The context
    holds every digit of the inputs drawn below (Decimal's default 28 digits would round
    ``1000000000000000000000.0000001`` to an integer)."""
    with localcontext() as context:
        context.prec = 100
        value = Decimal(text.strip()).scaleb(decimals)
    if value != value.to_integral_value():
        return TooManyDecimalsError
    raw = int(value)
    return OutOfRangeError if abs(raw) > MAX_ABS_RAW else raw


decimal_texts = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-", "+"]),
    st.text("0123456789", min_size=1, max_size=22),
    st.one_of(st.just(""), st.text("0123456789", max_size=12).map(lambda f: "." + f)),
    st.one_of(
        st.just(""),
        st.builds(lambda e, n: f"{e}{n}", st.sampled_from("eE"), st.integers(-40, 40)),
    ),
)


@given(decimal_texts, st.sampled_from([0, 2, 6]))
@example("1000000000000000000000.0000001", 0)
def test_parse_fixed_agrees_with_decimal_on_every_short_decimal(text, decimals):
    expected = decimal_reference(text, decimals)
    if isinstance(expected, int):
        assert parse_fixed(text, decimals, signed=True) == expected
    else:
        with pytest.raises(expected):
            parse_fixed(text, decimals, signed=True)
