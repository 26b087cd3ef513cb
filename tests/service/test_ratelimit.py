"""Token buckets with a fake clock."""

from __future__ import annotations

import pytest

from haven.errors import RateLimitedError
from haven.service.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refill() -> None:
    clock = Clock()
    lim = TokenBucketLimiter(clock=clock)
    for _ in range(10):  # burst = 2 × rate
        lim.check(1, 5)
    with pytest.raises(RateLimitedError) as info:
        lim.check(1, 5)
    assert info.value.retry_after == pytest.approx(0.2)
    lim.check(2, 5)  # another key has its own bucket
    clock.t += 0.2
    lim.check(1, 5)
    with pytest.raises(RateLimitedError):
        lim.check(1, 5)


def test_sustained_rate_is_enforced() -> None:
    clock = Clock()
    lim = TokenBucketLimiter(clock=clock)
    allowed = 0
    for _ in range(1000):  # 10 s of requests at 100/s against a 10/s limit
        clock.t += 0.01
        try:
            lim.check(7, 10)
            allowed += 1
        except RateLimitedError:
            pass
    assert 100 <= allowed <= 100 + 20  # 10/s for 10 s plus the initial burst


@pytest.mark.parametrize("rate", [0, None])
def test_unlimited(rate: float | None) -> None:
    lim = TokenBucketLimiter()
    for _ in range(10_000):
        lim.check(1, rate)
