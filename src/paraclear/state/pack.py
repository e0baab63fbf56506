"""msgpack in compiled code: the pieces of the canonical encoding (``codec.encode``, msgspec)
that compiled encoders of state values are built from.

Each writer puts one msgpack item at ``out[at:]`` (a ``uint8`` array with room for it) and
returns the position after it. The formats are msgspec's: an integer takes the smallest
form that holds it (a positive fixint, else ``uint8``..``uint64`` for values above 127; a
negative fixint, else ``int8``..``int64``); strings, arrays and maps take the smallest
header for their length. The values are ``int64`` (every integer column of the state's
tables), so nothing here can overflow: lengths are array lengths, shifts are of ``int64``
values by at most 56 bits and masked to a byte.

Tests compare every writer with msgspec at the edges of each form (0, ±1, 127/128, 255/256,
2**16, 2**31, 2**32, 2**62, ±(2**63 - 1), -2**63).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from paraclear.jit import helper

INT_MAX_BYTES: Final = 9
"""The longest encoding of an ``int64``: a type byte and eight bytes."""
BOOL_TRUE: Final = 0xC3
BOOL_FALSE: Final = 0xC2

_helper: Any = helper(boundscheck=False)


@_helper
def put_header(out, at, code, value, width):  # type: ignore[no-untyped-def]
    """A type byte ``code`` followed by the low ``width`` bytes of ``value`` (two's
    complement), most significant first."""
    out[at] = np.uint8(code)
    for i in range(width):
        out[at + 1 + i] = np.uint8((value >> (8 * (width - 1 - i))) & 0xFF)
    return at + 1 + width


@_helper
def put_int(out, at, value):  # type: ignore[no-untyped-def]
    """An ``int64`` in its smallest msgpack form (msgspec's choice)."""
    if 0 <= value < 128:
        out[at] = np.uint8(value)
        return at + 1
    if -32 <= value < 0:
        out[at] = np.uint8(value & 0xFF)
        return at + 1
    if value > 0:
        if value < 2**8:
            return put_header(out, at, 0xCC, value, 1)
        if value < 2**16:
            return put_header(out, at, 0xCD, value, 2)
        if value < 2**32:
            return put_header(out, at, 0xCE, value, 4)
        return put_header(out, at, 0xCF, value, 8)
    if value >= -(2**7):
        return put_header(out, at, 0xD0, value, 1)
    if value >= -(2**15):
        return put_header(out, at, 0xD1, value, 2)
    if value >= -(2**31):
        return put_header(out, at, 0xD2, value, 4)
    return put_header(out, at, 0xD3, value, 8)


@_helper
def put_bool(out, at, value):  # type: ignore[no-untyped-def]
    out[at] = np.uint8(BOOL_TRUE if value else BOOL_FALSE)
    return at + 1


@_helper
def put_str(out, at, text, start, end):  # type: ignore[no-untyped-def]
    """The UTF-8 bytes ``text[start:end]`` as a msgpack string (fixstr, str8, 16 or 32)."""
    length = end - start
    if length < 32:
        out[at] = np.uint8(0xA0 | length)
        at += 1
    elif length < 2**8:
        at = put_header(out, at, 0xD9, length, 1)
    elif length < 2**16:
        at = put_header(out, at, 0xDA, length, 2)
    else:
        at = put_header(out, at, 0xDB, length, 4)
    for i in range(length):
        out[at + i] = text[start + i]
    return at + length


@_helper
def put_array(out, at, length):  # type: ignore[no-untyped-def]
    """The header of an array of ``length`` items (fixarray, array16 or array32)."""
    if length < 16:
        out[at] = np.uint8(0x90 | length)
        return at + 1
    if length < 2**16:
        return put_header(out, at, 0xDC, length, 2)
    return put_header(out, at, 0xDD, length, 4)


@_helper
def put_map(out, at, length):  # type: ignore[no-untyped-def]
    """The header of a map of ``length`` pairs (fixmap, map16 or map32)."""
    if length < 16:
        out[at] = np.uint8(0x80 | length)
        return at + 1
    if length < 2**16:
        return put_header(out, at, 0xDE, length, 2)
    return put_header(out, at, 0xDF, length, 4)


def str_bound(length: int) -> int:
    """The longest encoding of a string of ``length`` UTF-8 bytes."""
    return 5 + length
