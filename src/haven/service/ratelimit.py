"""Per-key token buckets, in process memory: each uvicorn worker enforces the limit on its own share.

With ``--workers N`` a key can therefore make up to N × its rate in total; size limits accordingly
(docs/security.md). A rate of 0 or None means unlimited.
"""

from __future__ import annotations

import threading
import time

from haven.errors import RateLimitedError


class TokenBucketLimiter:
    """``rate`` requests per second with bursts up to ``burst``, one bucket per key id."""

    def __init__(self, *, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key id → (tokens, last refill time)
        self._lock = threading.Lock()

    def check(self, key_id: int, rate: float | None, burst: float | None = None) -> None:
        """Take one token for ``key_id`` or raise ``RateLimitedError`` with the seconds to wait."""
        if not rate:
            return
        capacity = burst if burst and burst >= 1 else max(1.0, rate * 2)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return
            self._buckets[key_id] = (tokens, now)
        wait = (1.0 - tokens) / rate
        raise RateLimitedError(
            f"rate limit of {rate:g} requests/s exceeded for this API key", retry_after=wait
        )
