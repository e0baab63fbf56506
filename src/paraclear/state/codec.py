"""Canonical bytes of keys and values, for hashing into the state root.

msgpack via msgspec: tuples encode as arrays, frozen structs as maps in field order, enums
as their values. State holds no dicts and no floats, so the encoding is canonical.
"""

from __future__ import annotations

from typing import Final

import msgspec

from paraclear.state.keys import Key
from paraclear.state.smt import hash_bytes

_encoder: Final = msgspec.msgpack.Encoder()


def encode(value: object) -> bytes:
    """Canonical msgpack bytes of a key or state value."""
    return _encoder.encode(value)


def key_path(key: Key) -> bytes:
    """The 256-bit tree path of a key: BLAKE2b-256 of its encoding."""
    return hash_bytes(_encoder.encode(key))


def value_hash(value: object) -> bytes:
    """BLAKE2b-256 of a value's canonical encoding."""
    return hash_bytes(_encoder.encode(value))
