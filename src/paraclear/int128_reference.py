"""The readable references of ``paraclear.int128``: the same functions on Python integers.

Each returns ``(value, True)`` when the exact result fits int64 and ``(0, False)`` when it
does not (or when the divisor is not positive), the contract the compiled functions keep.
The accumulator's reference is a plain Python ``int``; ``acc_value`` reads a compiled
accumulator's limbs back as one.

>>> mul_div_floor(-7, 3, 2)
(-11, True)
>>> mul3_div_ceil(2**62, 2**62, 10**6, 10**12)
(0, False)
"""

from __future__ import annotations

from typing import Final

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def fit_int64(value: int) -> tuple[int, bool]:
    """(value, True) when value is an int64, else (0, False)."""
    if INT64_MIN <= value <= INT64_MAX:
        return value, True
    return 0, False


def div_floor(numerator: int, d: int) -> tuple[int, bool]:
    """numerator // d, refused for d <= 0 or a result outside int64."""
    return fit_int64(numerator // d) if d > 0 else (0, False)


def div_ceil(numerator: int, d: int) -> tuple[int, bool]:
    """-(-numerator // d), refused for d <= 0 or a result outside int64."""
    return fit_int64(-(-numerator // d)) if d > 0 else (0, False)


def mul_div_floor(a: int, b: int, d: int) -> tuple[int, bool]:
    """a * b // d."""
    return div_floor(a * b, d)


def mul_div_ceil(a: int, b: int, d: int) -> tuple[int, bool]:
    """-(-a * b // d)."""
    return div_ceil(a * b, d)


def mul3_div_floor(a: int, b: int, c: int, d: int) -> tuple[int, bool]:
    """a * b * c // d."""
    return div_floor(a * b * c, d)


def mul3_div_ceil(a: int, b: int, c: int, d: int) -> tuple[int, bool]:
    """-(-a * b * c // d)."""
    return div_ceil(a * b * c, d)


def add_checked(a: int, b: int) -> tuple[int, bool]:
    """a + b."""
    return fit_int64(a + b)


def sub_checked(a: int, b: int) -> tuple[int, bool]:
    """a - b."""
    return fit_int64(a - b)


def mul_checked(a: int, b: int) -> tuple[int, bool]:
    """a * b."""
    return fit_int64(a * b)


def abs_checked(a: int) -> tuple[int, bool]:
    """abs(a)."""
    return fit_int64(abs(a))


def acc_value(acc: tuple[int, int, int]) -> int:
    """The integer a compiled accumulator holds: its limbs (top, mid, low) as 192-bit two's
    complement."""
    top, mid, low = (limb % 2**64 for limb in acc)
    raw = (top << 128) | (mid << 64) | low
    return raw - 2**192 if raw >= 2**191 else raw
