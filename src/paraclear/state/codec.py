"""Canonical bytes of keys and values, for hashing into the state root.

msgpack via msgspec: tuples encode as arrays, frozen structs as maps in field order, enums
as their values. State holds no dicts and no floats, so the encoding is canonical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np

from paraclear.state.blake2b import DIGEST_SIZE, hash_many
from paraclear.state.keys import Key, Lock
from paraclear.state.smt import hash_bytes

_encoder: Final = msgspec.msgpack.Encoder()
_lock_nibbles: dict[Lock, int] = {}


def encode(value: object) -> bytes:
    """Canonical msgpack bytes of a key or state value."""
    return _encoder.encode(value)


def append_encoding(value: object, buffer: bytearray) -> int:
    """Append the canonical encoding of ``value`` to ``buffer``; return the new length."""
    _encoder.encode_into(value, buffer, -1)
    return len(buffer)


def lock_nibble(lock: Lock) -> int:
    """The top nibble of every path under ``lock``: the top nibble of BLAKE2b-256 of the lock.

    All keys of one lock thus live in one of the 16 top-level subtrees of the state tree, so
    whoever owns a lock's subtree can commit and hash the lock's keys on its own (the
    parallel executor's workers each own some of the 16 subtrees).
    """
    nibble = _lock_nibbles.get(lock)
    if nibble is None:
        nibble = _lock_nibbles[lock] = hash_bytes(_encoder.encode(lock))[0] >> 4
    return nibble


def key_path(key: Key) -> bytes:
    """The 256-bit tree path of a key: BLAKE2b-256 of its encoding, with the top nibble
    replaced by its lock's (``lock_nibble``)."""
    digest = hash_bytes(_encoder.encode(key))
    return bytes(((lock_nibble(key[:2]) << 4) | (digest[0] & 0x0F),)) + digest[1:]


def key_paths(keys: Sequence[Key]) -> list[bytes]:
    """``key_path`` of each key, with the keys' hashes computed in one compiled call."""
    buffer = bytearray()
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    offsets[1:] = [append_encoding(key, buffer) for key in keys]
    digests = np.empty((len(keys), DIGEST_SIZE), dtype=np.uint8)
    hash_many(np.frombuffer(buffer or bytearray(1), dtype=np.uint8), offsets, digests)
    tops = np.fromiter((lock_nibble(key[:2]) for key in keys), dtype=np.uint8, count=len(keys))
    digests[:, 0] = (tops << 4) | (digests[:, 0] & 0x0F)
    flat = digests.tobytes()
    return [flat[at : at + DIGEST_SIZE] for at in range(0, len(flat), DIGEST_SIZE)]


def value_hash(value: object) -> bytes:
    """BLAKE2b-256 of a value's canonical encoding."""
    return hash_bytes(_encoder.encode(value))
