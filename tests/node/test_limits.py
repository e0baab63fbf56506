"""The per-connection token bucket and its flood detection (a fake clock)."""

from __future__ import annotations

from paraclear.node.limits import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=100, burst=10, clock=clock)
    assert sum(bucket.take() for _ in range(20)) == 10
    clock.now = 1.0
    assert sum(bucket.take() for _ in range(20)) == 10


def test_persistent_flood_accumulates_strikes_but_backing_off_is_forgiven() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=100, burst=10, clock=clock)
    for step in range(50):  # twice the rate for half a second
        clock.now = step * 0.01
        bucket.take()
        bucket.take()
    assert 20 < bucket.strikes < 50 and not bucket.flooding(50)
    for step in range(50, 300):
        clock.now = step * 0.01
        bucket.take()
        bucket.take()
    assert bucket.flooding(50)
    clock.now += 60
    assert bucket.take() and not bucket.flooding(50)
