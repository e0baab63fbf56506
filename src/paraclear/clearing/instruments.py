"""Instruments: cash-settled European options and linear perpetual futures, named as Deribit does.

Names round-trip: ``parse_instrument(inst.name) == inst`` for default specifications and
``parse_instrument(name).name == name`` for every valid name.

* Option: ``BTC-27JUN26-60000-C`` (underlying, expiry day at 08:00 UTC, strike, C or P).
  Strikes with decimals use ``d`` for the point, as Deribit does: ``XRP-5JUL26-0d55-P``.
  Days have no leading zero (``5JUL26``), so each series has exactly one name.
* Perpetual: ``BTC-PERP``.

Prices, strikes, tick and lot sizes are raw fixed-point integers (see ``paraclear.numbers``).
Expiry is a Unix time in seconds.

>>> parse_instrument("BTC-27JUN26-60000-C").name
'BTC-27JUN26-60000-C'
"""

from __future__ import annotations

import calendar
import datetime
import enum
import re
from typing import Final

import msgspec

from paraclear.numbers import (
    PRICE_SCALE,
    SIZE_SCALE,
    NumberError,
    format_price,
    parse_price,
)

MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
EXPIRY_HOUR_UTC: Final = 8
"""Options expire at 08:00 UTC on their expiry day, as on Deribit."""
DEFAULT_OPTION_TICK: Final = PRICE_SCALE // 10  # 0.1 USDC
DEFAULT_OPTION_LOT: Final = SIZE_SCALE // 10  # 0.1 contract
DEFAULT_PERP_TICK: Final = PRICE_SCALE // 10  # 0.1 USDC
DEFAULT_PERP_LOT: Final = SIZE_SCALE // 1000  # 0.001 contract
DEFAULT_PERP_IM_PPM: Final = 20_000  # 2 % of notional
DEFAULT_PERP_MM_PPM: Final = 10_000  # 1 % of notional

_OPTION_RE: Final = re.compile(
    r"^(?P<u>[A-Z][A-Z0-9]{0,9})-(?P<day>[1-9][0-9]?)(?P<mon>[A-Z]{3})(?P<yy>[0-9]{2})"
    r"-(?P<strike>[0-9]+(?:d[0-9]+)?)-(?P<right>[CP])$"
)
_PERP_RE: Final = re.compile(r"^(?P<u>[A-Z][A-Z0-9]{0,9})-PERP$")


class InstrumentNameError(ValueError):
    """A string is not a valid instrument name."""


class Right(enum.Enum):
    """Whether an option is a call or a put."""

    CALL = "C"
    PUT = "P"


class Option(msgspec.Struct, frozen=True, tag="option"):
    """A cash-settled European option on ``underlying``, settled in USDC per contract.

    ``contract_size`` is in raw size units of the underlying per contract (1 BTC = SIZE_SCALE).
    """

    underlying: str
    expiry: int
    strike: int
    right: Right
    contract_size: int = SIZE_SCALE
    tick_size: int = DEFAULT_OPTION_TICK
    lot_size: int = DEFAULT_OPTION_LOT

    @property
    def name(self) -> str:
        strike = _format_strike(self.strike)
        return f"{self.underlying}-{format_expiry(self.expiry)}-{strike}-{self.right.value}"

    @property
    def is_call(self) -> bool:
        return self.right is Right.CALL

    def intrinsic(self, settlement_price: int) -> int:
        """Payoff per contract in micro-USDC at ``settlement_price`` (raw price units)."""
        if self.is_call:
            per_unit = max(settlement_price - self.strike, 0)
        else:
            per_unit = max(self.strike - settlement_price, 0)
        return per_unit * self.contract_size // SIZE_SCALE


class Perpetual(msgspec.Struct, frozen=True, tag="perpetual"):
    """A linear perpetual future on ``underlying``, margined and settled in USDC.

    Margin fractions are in parts per million of notional.
    """

    underlying: str
    contract_size: int = SIZE_SCALE
    tick_size: int = DEFAULT_PERP_TICK
    lot_size: int = DEFAULT_PERP_LOT
    initial_margin_ppm: int = DEFAULT_PERP_IM_PPM
    maintenance_margin_ppm: int = DEFAULT_PERP_MM_PPM

    @property
    def name(self) -> str:
        return f"{self.underlying}-PERP"


Instrument = Option | Perpetual


def format_expiry(expiry: int) -> str:
    """Format a Unix expiry time as Deribit's ``27JUN26`` (day without a leading zero)."""
    date = datetime.datetime.fromtimestamp(expiry, datetime.UTC)
    return f"{date.day}{MONTHS[date.month - 1]}{date.year % 100:02d}"


def expiry_time(day: int, month: int, year: int) -> int:
    """Unix time of 08:00 UTC on the given calendar day."""
    return calendar.timegm((year, month, day, EXPIRY_HOUR_UTC, 0, 0))


def parse_instrument(name: str) -> Instrument:
    """Parse a Deribit-style instrument name into an instrument with default specifications.

    Raises InstrumentNameError.
    """
    if match := _PERP_RE.match(name):
        return Perpetual(underlying=match["u"])
    match = _OPTION_RE.match(name)
    if match is None:
        raise InstrumentNameError(f"not an instrument name: {name!r}")
    month = MONTHS.index(match["mon"]) + 1 if match["mon"] in MONTHS else 0
    year = 2000 + int(match["yy"])
    day = int(match["day"])
    if month == 0 or day > calendar.monthrange(year, month)[1]:
        raise InstrumentNameError(f"not a calendar date in {name!r}")
    option = Option(
        underlying=match["u"],
        expiry=expiry_time(day, month, year),
        strike=_parse_strike(match["strike"], name),
        right=Right(match["right"]),
    )
    if option.name != name:
        raise InstrumentNameError(f"non-canonical instrument name {name!r}; use {option.name!r}")
    return option


def _parse_strike(text: str, name: str) -> int:
    try:
        strike = parse_price(text.replace("d", "."))
    except NumberError as error:
        raise InstrumentNameError(f"bad strike in {name!r}: {error}") from None
    if strike <= 0:
        raise InstrumentNameError(f"strike must be positive in {name!r}")
    return strike


def _format_strike(strike: int) -> str:
    return format_price(strike).replace(".", "d")
