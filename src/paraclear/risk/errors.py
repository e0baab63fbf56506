"""Typed errors of the risk engine.

One tree: every error raised by ``paraclear.risk`` on purpose derives from :class:`RiskError`.
Caller mistakes (bad inputs, an unavailable backend) are checked at the boundary and raised
with typed fields, so that a margin engine can report *which* series was bad and why.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "BackendUnavailable",
    "InputReason",
    "InvalidInputError",
    "RiskError",
]


class InputReason(IntEnum):
    """Why one element of a vectorised call was rejected (stored as ``int8`` per element).

    ``OK`` is 0 so that ``reasons != 0`` selects the bad elements.
    """

    OK = 0
    NAN_OR_INF = 1
    """An input is NaN or infinite."""
    NON_POSITIVE_UNDERLYING = 2
    """Forward or spot is zero or negative."""
    NON_POSITIVE_STRIKE = 3
    """Strike is zero or negative."""
    NEGATIVE_EXPIRY = 4
    """Time to expiry is negative (already expired options have expiry 0)."""
    NEGATIVE_VOL = 5
    """Volatility is negative."""
    NEGATIVE_PRICE = 6
    """An option price given to the implied-vol solver is negative."""
    BELOW_INTRINSIC = 7
    """Implied vol: the price is below the discounted intrinsic value (no vol fits)."""
    ABOVE_UPPER_BOUND = 8
    """Implied vol: the price reaches the discounted forward (call) or strike (put)."""
    ZERO_EXPIRY = 9
    """Implied vol: expiry is zero, the price carries no information about vol."""
    NOT_CONVERGED = 10
    """Implied vol: the iteration did not converge (a bug if it ever shows up)."""


class RiskError(Exception):
    """Base of every error raised on purpose by ``paraclear.risk``."""


class InvalidInputError(RiskError, ValueError):
    """Some elements of a vectorised call are invalid.

    Attributes:
        indices: flat (C-order, after broadcasting) indices of the offending elements,
            at most ``MAX_LISTED`` of them.
        reasons: the :class:`InputReason` of each listed index.
        count: how many elements were invalid in total.
    """

    MAX_LISTED = 20

    def __init__(self, indices: list[int], reasons: list[InputReason], count: int) -> None:
        self.indices = indices[: self.MAX_LISTED]
        self.reasons = reasons[: self.MAX_LISTED]
        self.count = count
        listed = ", ".join(
            f"{i}: {r.name}" for i, r in zip(self.indices, self.reasons, strict=True)
        )
        more = "" if count <= len(self.indices) else f" (and {count - len(self.indices)} more)"
        super().__init__(f"{count} invalid input element(s) [{listed}]{more}")


class BackendUnavailable(RiskError, RuntimeError):
    """The requested compute backend (e.g. ``"cuda"``) is not installed or has no device."""

    def __init__(self, backend: str, why: str) -> None:
        self.backend = backend
        self.why = why
        super().__init__(f"backend {backend!r} unavailable: {why}")
