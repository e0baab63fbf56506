"""State snapshots as msgpack, without pickle.

State maps tuple keys to ints, tuples and frozen msgspec structs (``paraclear.clearing``'s
records and instruments). msgpack alone would lose the struct types, so a snapshot groups
the entries by a **type tag** and decodes each group with a typed msgspec decoder:

    [[tag, [key, ...], [value, ...]], ...]      tags in sorted order, keys sorted in a group

A tag is ``int``, ``str``, a struct's class name, or ``(T)`` for a tuple whose elements all
have tag ``T`` (``()`` for the empty tuple). The encoding is deterministic: the same state
always gives the same bytes, so a replay can compare a live state with a stored snapshot
byte for byte. A value of any other type raises ``UnsupportedValue``: adding a state record
type means adding its class to ``VALUE_TYPES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from paraclear.clearing import instruments, records
from paraclear.state import Key, State


class UnsupportedValue(TypeError):
    """A state value whose type a snapshot cannot encode."""

    def __init__(self, key: Key, value: object) -> None:
        super().__init__(f"state key {key!r} holds a {type(value).__name__}, not a snapshot type")
        self.key = key
        self.value_type = type(value).__name__


class CorruptSnapshot(ValueError):
    """Snapshot bytes that do not decode into state entries."""


def _structs(*modules: object) -> dict[str, type]:
    """Every msgspec struct class defined in ``modules``, by class name."""
    found: dict[str, type] = {}
    for module in modules:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, msgspec.Struct)
                and value.__module__ == getattr(module, "__name__", None)
            ):
                found[value.__name__] = value
    return found


VALUE_TYPES: Final[dict[str, type]] = {
    "int": int,
    "str": str,
    **_structs(records, instruments),
}
"""The element types a snapshot can hold, by tag."""

_encoder: Final = msgspec.msgpack.Encoder()
_decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {}
_groups_decoder: Final = msgspec.msgpack.Decoder(list[tuple[str, list[Key], msgspec.Raw]])


_TAGS: Final[dict[type, str]] = {cls: tag for tag, cls in VALUE_TYPES.items()}


def value_tag(key: Key, value: object) -> str:
    """The type tag of ``value`` (stored under ``key``, named in errors)."""
    tag = _TAGS.get(type(value))
    if tag is not None:
        return tag
    if type(value) is not tuple:
        raise UnsupportedValue(key, value)
    tags = {value_tag(key, item) for item in value}
    if len(tags) > 1:
        raise UnsupportedValue(key, value)
    return "(" + "".join(tags) + ")"


def encode_entries(entries: Mapping[Key, object]) -> bytes:
    """The snapshot bytes of ``entries`` (sorted by key, whatever the mapping's order)."""
    groups: dict[str, tuple[list[Key], list[object]]] = {}
    for key in sorted(entries):
        value = entries[key]
        tag = value_tag(key, value)
        group = groups.get(tag)
        if group is None:
            group = groups[tag] = ([], [])
        group[0].append(key)
        group[1].append(value)
    return _encoder.encode([(tag, *groups[tag]) for tag in sorted(groups)])


def encode_state(state: State) -> bytes:
    """The snapshot bytes of ``state``."""
    return encode_entries(state.data)


def decode_entries(data: bytes) -> dict[Key, object]:
    """The entries of a snapshot. Raises ``CorruptSnapshot``."""
    entries: dict[Key, object] = {}
    try:
        for tag, keys, raw_values in _groups_decoder.decode(data):
            values = _decoder(tag).decode(raw_values)
            if len(keys) != len(values):
                raise CorruptSnapshot(f"group {tag}: {len(keys)} keys, {len(values)} values")
            entries.update(zip(keys, values, strict=True))
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CorruptSnapshot(str(error)) from error
    return entries


def decode_state(data: bytes) -> State:
    """The state a snapshot holds (its root is recomputed from the entries)."""
    return State(decode_entries(data))


def _decoder(tag: str) -> msgspec.msgpack.Decoder[Any]:
    decoder = _decoders.get(tag)
    if decoder is None:
        decoder = _decoders[tag] = msgspec.msgpack.Decoder(list[_type_of(tag)])  # type: ignore[misc]
    return decoder


def _type_of(tag: str) -> Any:
    if tag == "()":
        return tuple[()]
    if tag.startswith("(") and tag.endswith(")"):
        return tuple[_type_of(tag[1:-1]), ...]  # type: ignore[misc]
    if tag not in VALUE_TYPES:
        raise CorruptSnapshot(f"unknown value tag {tag!r}")
    return VALUE_TYPES[tag]
