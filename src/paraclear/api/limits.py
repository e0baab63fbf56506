"""What one connection may send: frame size, nesting depth and batch length, and a rate.

The rate is a token bucket per connection (per peer address over HTTP). A request beyond it
gets a ``too_many_requests`` error and the connection survives. Each such rejection is a
*strike*; strikes are forgiven at a tenth of the rate, so a client that backs off is never
punished, while one that keeps sending faster than it may accumulates strikes and, past
``flood_strikes``, is disconnected.

A frame's nesting depth is measured (``nesting_depth``) before it is parsed, in time linear
in its length and without recursion, so that JSON nested a thousand levels deep is refused
rather than decoded into a ``RecursionError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

Clock = Callable[[], float]

STRIKE_FORGIVENESS: Final = 0.1
"""Strikes forgiven per second, as a fraction of the request rate."""


class Limits(msgspec.Struct, frozen=True):
    """Per-connection limits of the API server.

    ``max_frame_bytes``: a larger request frame or HTTP body gets an invalid-request error.
    ``hard_frame_bytes``: a larger WebSocket frame closes the connection (1009) unread.
    ``max_depth``: deepest nesting of arrays and objects in a frame (a batch of requests
    whose params hold an array is 4 deep).
    ``max_batch``: most requests in one JSON-RPC batch.
    ``rate_per_s`` and ``burst``: the token bucket, in requests (a batch counts each).
    ``flood_strikes``: rejected requests, net of forgiveness, that close the connection.
    ``max_pending_frames``: frames queued to one WebSocket before it counts as a slow
    consumer and is disconnected.
    ``max_in_flight``: frames of one WebSocket being answered at once; beyond, the server
    stops reading that connection until one is answered.
    """

    max_frame_bytes: int = 256 * 1024
    hard_frame_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_batch: int = 100
    rate_per_s: float = 20_000.0
    burst: int = 20_000
    flood_strikes: int = 2_000
    max_pending_frames: int = 10_000
    max_in_flight: int = 1_024


class TokenBucket:
    """A request rate limiter with flood detection; ``clock`` is injectable for tests."""

    __slots__ = (
        "_clock",
        "_forgive",
        "_last",
        "_last_strike",
        "burst",
        "rate",
        "strikes",
        "tokens",
    )

    def __init__(self, rate_per_s: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.strikes = 0.0
        self._clock = clock
        self._forgive = rate_per_s * STRIKE_FORGIVENESS
        self._last = clock()
        self._last_strike = self._last

    @classmethod
    def from_limits(cls, limits: Limits, clock: Clock = time.monotonic) -> TokenBucket:
        return cls(limits.rate_per_s, limits.burst, clock)

    def take(self) -> bool:
        """Spend one token if there is one; otherwise record a strike and return False."""
        now = self._clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.strikes = self._strikes_at(now) + 1.0
        self._last_strike = now
        return False

    def _strikes_at(self, now: float) -> float:
        return max(0.0, self.strikes - (now - self._last_strike) * self._forgive)

    def retry_after_ms(self) -> int:
        """Milliseconds until the next token."""
        return max(1, int((1.0 - self.tokens) / self.rate * 1000) + 1)

    def flooding(self, flood_strikes: int) -> bool:
        """Whether the sender has kept exceeding the rate long enough to be disconnected."""
        return self._strikes_at(self._clock()) > flood_strikes


_STEPS: Final = np.zeros(256, dtype=np.int8)
_STEPS[[ord("["), ord("{")]] = 1
_STEPS[[ord("]"), ord("}")]] = -1
_QUOTE: Final = ord('"')
_BACKSLASH: Final = ord("\\")


_ONE_KIND: Final = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE: Final = bytes(range(256)).translate(None, b'[]{}"')


def deeper_than(frame: bytes, max_depth: int) -> bool:
    """Whether a JSON text nests arrays and objects more than ``max_depth`` deep.

    Frames with no more opening brackets than that (nearly all) are not measured. A frame
    without a backslash (a frame of orders: base64 and names) is reduced to its brackets
    and quotes, which hold all its structure; its strings are dropped, then its innermost
    pairs of brackets removed round after round: if nothing is left within ``max_depth``
    rounds, it is balanced and no deeper (~15 us for a batch of 48 orders, against ~140
    for ``nesting_depth``). Anything else is measured exactly (``nesting_depth``)."""
    if b"\\" in frame:
        if frame.count(b"[") + frame.count(b"{") <= max_depth:
            return False
        return nesting_depth(frame) > max_depth
    structure = frame.translate(_ONE_KIND, _NOT_STRUCTURE)
    if structure.count(b"[") <= max_depth:
        return False
    pairs = b"".join(structure.split(b'"')[::2])  # outside strings: before an even quote
    for _ in range(max_depth):
        if not pairs:
            return False
        pairs = pairs.replace(b"[]", b"")
    return bool(pairs) and nesting_depth(structure) > max_depth


def nesting_depth(frame: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, not counting brackets
    inside strings.

    Linear in the frame's length and vectorised (a few passes of numpy over its bytes):
    0.1 ms for a small frame, a few ms for 256 KiB of brackets.
    """
    data = np.frombuffer(frame, dtype=np.uint8)
    steps = _STEPS[data]
    brackets = np.flatnonzero(steps)
    if len(brackets) and b'"' in frame:
        quotes = _string_quotes(data, has_escapes=b"\\" in frame)
        brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]
    return int(np.cumsum(steps[brackets], dtype=np.int32).max(initial=0))


def _string_quotes(data: npt.NDArray[np.uint8], *, has_escapes: bool) -> npt.NDArray[np.intp]:
    """Positions of the quotes that open or close strings: those after an even run of
    backslashes (``\\"`` is a quote inside a string, ``\\\\"`` ends one)."""
    if not has_escapes:
        return np.flatnonzero(data == _QUOTE)
    plain = np.flatnonzero(data != _BACKSLASH)
    among = np.flatnonzero(data[plain] == _QUOTE)
    quotes = plain[among]
    before = np.where(among > 0, plain[among - 1], -1)  # the byte before the backslash run
    result: npt.NDArray[np.intp] = quotes[(quotes - before) % 2 == 1]
    return result
