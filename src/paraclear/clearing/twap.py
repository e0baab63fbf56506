"""The index's time-weighted average, for expiry settlement. Integers only.

The index is a step function of time: the value an oracle update publishes holds from the
update's block time until the next update. The settlement price of an expiry ``E`` is the
average of that function over the window ``[E − TWAP_WINDOW, E)``, the last 30 minutes
before expiry::

    TWAP(E) = ⌊ Σ_samples index_i × (seconds sample i held inside the window)
               / (seconds of the window covered by some sample) ⌋

so each sample weighs as long as it was in force inside the window; the sample in force at
the window's start counts from the start, and time before the first update ever published
is not covered (it counts in neither sum). Updates at or after ``E`` never enter.

State keeps this compactly (``IndexHistory``): one bucket per whole minute, holding the
integral ``Σ index × seconds`` and the covered seconds inside that minute, for the last
``TWAP_WINDOW`` seconds. Expiries fall on whole minutes (08:00 UTC), so a window is a whole
number of buckets, plus the stretch since the latest update (the ``OracleData`` in force).
"""

from __future__ import annotations

from typing import Final

from paraclear.clearing.records import IndexHistory, OracleData

TWAP_WINDOW: Final = 30 * 60
"""Seconds of index history averaged into a settlement price."""
BUCKET: Final = 60
"""Seconds per history bucket; expiries and the window are multiples of it."""


def window_average(
    history: IndexHistory, latest: OracleData | None, start: int, end: int, fallback: int
) -> int:
    """TWAP over ``[start, end)`` from the buckets and the update in force since ``latest``.

    ``latest`` must be the last update before ``end`` (its value holds up to ``end``).
    Returns ``fallback`` when no update was in force anywhere in the window.
    """
    integral = seconds = 0
    for minute, bucket_integral, bucket_seconds in history.buckets:
        if start <= minute < end:
            integral += bucket_integral
            seconds += bucket_seconds
    if latest is not None:
        held = max(0, end - max(latest.time, start))
        integral += latest.index * held
        seconds += held
    return integral // seconds if seconds else fallback


def record_segment(history: IndexHistory, latest: OracleData, now: int) -> IndexHistory:
    """``history`` with ``latest``'s index held over ``[latest.time, now)`` added, and
    buckets older than the window (as seen from ``now``) dropped."""
    oldest = (now - TWAP_WINDOW) // BUCKET * BUCKET
    buckets = {m: (i, s) for m, i, s in history.buckets if m >= oldest}
    time = max(latest.time, oldest)
    while time < now:
        minute = time // BUCKET * BUCKET
        until = min(minute + BUCKET, now)
        integral, seconds = buckets.get(minute, (0, 0))
        buckets[minute] = (integral + latest.index * (until - time), seconds + until - time)
        time = until
    return IndexHistory(tuple((m, i, s) for m, (i, s) in sorted(buckets.items())))
