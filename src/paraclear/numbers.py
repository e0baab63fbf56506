"""Fixed-point numbers for consensus state: USDC amounts, prices and sizes as integers.

Every quantity stored in state is a Python ``int`` in fixed-point units:

* ``Amount``: USDC in micro-units (``USDC_SCALE`` = 1,000,000 per USDC).
* ``Price``: micro-USDC per contract, a multiple of the instrument's tick size.
* ``Size``: contracts in micro-units (``SIZE_SCALE`` = 1,000,000 per contract), a multiple of
  the instrument's lot size. Sizes are signed in positions: long > 0, short < 0.

Rounding is explicit and always *toward the house*: what an account receives is rounded
down, what it pays or must hold is rounded up (``div_floor`` / ``div_ceil``).

Parsing accepts decimal strings and integers only. Floats are refused, because a float has
already lost the exact decimal the user meant; so are NaN, infinities, more decimals than
the scale holds, and values beyond ``MAX_ABS_RAW``. Parsing reads the digits and exponent
as text and checks range and places before it builds an integer, so its cost is bounded
whatever the input (the parsers face the API).

>>> parse_amount("12.5")
12500000
>>> format_amount(12500000)
'12.5'
>>> notional(price=parse_price("60000"), size=parse_size("0.1"))
6000000000
"""

from __future__ import annotations

import re
from typing import Final, NewType

Amount = NewType("Amount", int)
Price = NewType("Price", int)
Size = NewType("Size", int)

USDC_DECIMALS: Final = 6
USDC_SCALE: Final = 10**USDC_DECIMALS
"""Micro-USDC per USDC."""
PRICE_SCALE: Final = USDC_SCALE
"""Raw price units per USDC of price."""
SIZE_DECIMALS: Final = 6
SIZE_SCALE: Final = 10**SIZE_DECIMALS
"""Raw size units per contract."""
PPM: Final = 1_000_000
"""Parts per million: the unit of every rate and fraction in state (fees, margin ratios)."""
MAX_ABS_RAW: Final = 2**62
"""Largest magnitude a parsed raw quantity may have (about 4.6e12 USDC); keeps values in int64."""
MAX_BALANCE: Final = 10**17
"""Largest collateral an account may hold, micro-USDC (1e11 USDC, more than all USDC in
existence), so that balances and their sums stay within the 64-bit integers state encodes."""


class NumberError(ValueError):
    """A value cannot be turned into a fixed-point quantity."""


class NotADecimalError(NumberError):
    """The input is a float, a bool or another type that is not an exact decimal."""


class NonFiniteError(NumberError):
    """The input is NaN or infinite."""


class TooManyDecimalsError(NumberError):
    """The input has more decimal places than the quantity's scale holds."""


class OutOfRangeError(NumberError):
    """The input is negative where it must not be, or larger than ``MAX_ABS_RAW``."""


class NotAMultipleError(NumberError):
    """A price or size is not a multiple of the instrument's tick or lot size."""


MAX_DECIMAL_CHARS: Final = 100
"""Longest decimal string the parsers read; a longer one is refused unread."""
MAX_RAW_DIGITS: Final = len(str(MAX_ABS_RAW))
"""Digits of ``MAX_ABS_RAW``: a raw value with more is out of range before it is built."""
_DECIMAL: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_NON_FINITE: Final = frozenset(
    sign + name for sign in ("", "+", "-") for name in ("nan", "snan", "inf", "infinity")
)


def parse_fixed(text: str | int, decimals: int, *, signed: bool = False) -> int:
    """Parse a decimal string or an integer into raw units with ``decimals`` places.

    The work is bounded whatever the input: a string is read only up to
    ``MAX_DECIMAL_CHARS``, and its magnitude and decimal places are checked on its digits
    and exponent before any integer is built (``"1e800000"`` is out of range at once).

    Raises NotADecimalError, NonFiniteError, TooManyDecimalsError, OutOfRangeError.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise NotADecimalError(f"expected a decimal string or int, got {type(text).__name__}")
    if isinstance(text, int):
        if abs(text) > MAX_ABS_RAW:
            raise OutOfRangeError(f"out of range: {_shown(text)}")
        raw: int = text * 10**decimals
    else:
        raw = _parse_decimal(text, decimals)
    if raw < 0 and not signed:
        raise OutOfRangeError(f"must not be negative: {_shown(text)}")
    if abs(raw) > MAX_ABS_RAW:
        raise OutOfRangeError(f"out of range: {_shown(text)}")
    return raw


def _parse_decimal(text: str, decimals: int) -> int:
    """Raw units of a decimal string: sign, digits, optional fraction and exponent."""
    if len(text) > MAX_DECIMAL_CHARS:
        raise NotADecimalError(f"a number of more than {MAX_DECIMAL_CHARS} characters")
    text = text.strip()
    match = _DECIMAL.fullmatch(text)
    if match is None or not (match[2] or match[3]):
        if text.lower() in _NON_FINITE:
            raise NonFiniteError(f"not a finite number: {text!r}")
        raise NotADecimalError(f"not a decimal number: {text!r}")
    sign, whole, fraction, exponent = match[1], match[2], match[3] or "", match[4] or "0"
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return 0
    shift = int(exponent) - len(fraction) + decimals  # raw = int(digits) * 10**shift
    if shift < 0:
        significant = digits.rstrip("0")
        if len(digits) - len(significant) < -shift:
            raise TooManyDecimalsError(f"{text!r} has more than {decimals} decimal places")
        digits, shift = digits[:shift], 0
    if len(digits) + shift > MAX_RAW_DIGITS:
        raise OutOfRangeError(f"out of range: {text!r}")
    raw: int = int(digits) * 10**shift
    return -raw if sign == "-" else raw


def _shown(text: str | int) -> str:
    """An input as an error message quotes it (long integers are not written out)."""
    return repr(text) if isinstance(text, str) else f"an integer of {text.bit_length()} bits"


def format_fixed(raw: int, decimals: int) -> str:
    """Format raw units as the shortest exact decimal string (``1500000, 6 -> '1.5'``)."""
    sign = "-" if raw < 0 else ""
    whole, frac = divmod(abs(raw), 10**decimals)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{decimals}d}".rstrip("0")


def parse_amount(text: str | int, *, signed: bool = False) -> Amount:
    """Parse a USDC amount (``"12.5"`` -> 12,500,000 micro-USDC)."""
    return Amount(parse_fixed(text, USDC_DECIMALS, signed=signed))


def parse_price(text: str | int) -> Price:
    """Parse a non-negative price in USDC per contract into raw units."""
    return Price(parse_fixed(text, USDC_DECIMALS))


def parse_size(text: str | int, *, signed: bool = False) -> Size:
    """Parse a size in contracts into raw units (``"0.1"`` -> 100,000)."""
    return Size(parse_fixed(text, SIZE_DECIMALS, signed=signed))


def format_amount(raw: int) -> str:
    """Format micro-USDC as a USDC decimal string."""
    return format_fixed(raw, USDC_DECIMALS)


def format_price(raw: int) -> str:
    """Format a raw price as a USDC decimal string."""
    return format_fixed(raw, USDC_DECIMALS)


def format_size(raw: int) -> str:
    """Format a raw size as a contracts decimal string."""
    return format_fixed(raw, SIZE_DECIMALS)


def div_floor(numerator: int, denominator: int) -> int:
    """Integer division rounded toward minus infinity (what an account *receives*)."""
    return numerator // denominator


def div_ceil(numerator: int, denominator: int) -> int:
    """Integer division rounded toward plus infinity (what an account *pays or must hold*)."""
    return -(-numerator // denominator)


def notional(price: int, size: int) -> int:
    """Exact value in micro-USDC of ``size`` raw contracts at ``price``.

    Exact because listing requires ``tick × lot`` to be a multiple of ``SIZE_SCALE``; for
    other inputs the result is floored.
    """
    return price * size // SIZE_SCALE


def value_against_holder(price: int, size: int) -> int:
    """Value of a signed position at ``price``, rounded against its holder (down)."""
    return div_floor(price * size, SIZE_SCALE)


def ppm_of_ceil(amount: int, rate_ppm: int) -> int:
    """``amount × rate`` for a rate in parts per million, rounded up (a charge)."""
    return div_ceil(amount * rate_ppm, PPM)


def check_multiple(raw: int, step: int, what: str) -> None:
    """Raise NotAMultipleError unless ``raw`` is a whole multiple of ``step``."""
    if step <= 0 or raw % step:
        raise NotAMultipleError(f"{what} {raw} is not a multiple of {step}")
