"""What a transaction may call an account or an instrument: a ``Name``.

A name is 1 to ``MAX_NAME_LENGTH`` characters of printable ASCII without spaces (0x21 to
0x7e). msgspec checks the length as it decodes. The characters are checked by
``check_names``, which every transaction runs when it is built or decoded (its
``__post_init__``): all of its names at once, joined, with three string methods. A
``pattern`` on each field did the same in msgspec, at about 0.9 µs a field (a placement's
two names cost more than the rest of its decoding).

The options pool's account name has a space so that no one can sign as it; a ``Holder``
(an account that expiry settles) may be a name or the pool, and keeps its pattern: it
appears only in ``SettleExpiry``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain
from operator import attrgetter
from typing import Annotated, Final, get_args, get_origin, get_type_hints

import msgspec

from paraclear.clearing.errors import Rejected
from paraclear.state.keys import POOL_ACCOUNT

MAX_NAME_LENGTH: Final = 64

NAME_LENGTH: Final = msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)
Name = Annotated[str, NAME_LENGTH]
"""An account or instrument name; its characters are checked by ``check_names``."""

Holder = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=r"^(?:[\x21-\x7e]+|" + re.escape(POOL_ACCOUNT) + ")$",
    ),
]
"""An account that may hold a position: a ``Name``, or the options pool."""

NameReader = Callable[[object], tuple[str, ...]]
_readers: dict[type, NameReader] = {}


def printable(text: str) -> bool:
    """Whether every character of ``text`` is printable ASCII other than a space."""
    return text.isascii() and text.isprintable() and " " not in text


def check_names(message: object) -> None:
    """Refuse ``message`` if one of its ``Name`` fields holds a character other than
    printable ASCII without spaces. Raises Rejected (a ValueError, which msgspec reports
    as a ValidationError while decoding). Messages use it as their ``__post_init__``."""
    try:
        names = _readers[type(message)](message)
    except KeyError:
        names = _reader(type(message))(message)
    joined = "".join(names)
    if joined.isascii() and joined.isprintable() and " " not in joined:
        return
    bad = next(name for name in names if not printable(name))
    raise Rejected(f"a name must be printable ASCII without spaces, not {bad!r}")


def _reader(cls: type) -> NameReader:
    """The function that reads the names of a message of ``cls`` as a tuple: its ``Name``
    fields and the items of its fields that are tuples of names, found from its type hints
    once. Most messages are read by one ``attrgetter`` of two or more fields (a single
    field is named twice, so that it too gives a tuple)."""
    hints = get_type_hints(cls, include_extras=True)
    fields: tuple[str, ...] = getattr(cls, "__struct_fields__", ())
    scalars = [field for field in fields if _is_name(hints[field])]
    tuples = [field for field in fields if _holds_names(hints[field])]
    read: NameReader = (
        attrgetter(*scalars, *scalars[:1]) if len(scalars) == 1 else attrgetter(*scalars)
    )
    if tuples:
        fixed = read

        def read(message: object) -> tuple[str, ...]:
            lists = (getattr(message, field) for field in tuples)
            return (*fixed(message), *chain.from_iterable(lists))

    _readers[cls] = read
    return read


def _is_name(hint: object) -> bool:
    return get_origin(hint) is Annotated and any(meta is NAME_LENGTH for meta in get_args(hint))


def _holds_names(hint: object) -> bool:
    """A ``tuple[Name, ...]``, bare or annotated (with its own length bounds)."""
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    return get_origin(hint) is tuple and any(_is_name(item) for item in get_args(hint))
