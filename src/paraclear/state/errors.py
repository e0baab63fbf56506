"""The root of the failure tree: a transaction that is included but changes nothing.

Every error a transaction can fail with derives from ``TxFailure``. Its ``code`` is the class
name and its ``details`` are the typed fields, in declaration order, so a receipt carries
them deterministically (``InsufficientMargin(required=…, available=…)``).
"""

from __future__ import annotations

from typing import ClassVar


class TxFailure(Exception):
    """A transaction failed; it is included in its block and changes only its nonce and fee.

    Subclasses list their typed fields in ``fields``; construct them with keywords.
    """

    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str = "", **details: int | str) -> None:
        unknown = set(details) - set(self.fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no fields {sorted(unknown)}")
        self.details: tuple[tuple[str, int | str], ...] = tuple(
            (name, details[name]) for name in self.fields if name in details
        )
        self.message = message or ", ".join(f"{k}={v}" for k, v in self.details)
        super().__init__(self.message)

    @property
    def code(self) -> str:
        return type(self).__name__

    def detail(self, name: str) -> int | str:
        """The value of one typed field; raises KeyError if it was not given."""
        return dict(self.details)[name]


class AccessViolation(TxFailure):
    """The transaction touched a key outside its declared access set (Solana's rule)."""

    fields = ("key", "access")


class AccessMispredicted(Exception):
    """An optimistic transaction stepped outside the access set predicted for it.

    Not a ``TxFailure``: the transaction did nothing wrong, the executor's schedule did. It
    escapes ``BlockRun.attempt`` and makes the executor run the block another way.
    """

    def __init__(self, key: tuple[str, ...], access: str) -> None:
        super().__init__(f"{access} of {'/'.join(key)} was not predicted")
        self.key = key
        self.access = access
