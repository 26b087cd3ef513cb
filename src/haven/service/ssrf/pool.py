"""URL fetches in a bounded pool of their own, each under one deadline.

Fetching waits on remote servers, which a caller controls: 45 slow fetches once held every thread of
the shared pool, so ``/readyz``, ``/v1/banks`` and ``/v1/hash`` waited seconds behind them. Here fetches
get their own ``HAVEN_FETCH_CONCURRENCY`` threads; a fetch that finds them all busy waits at most
``QUEUE_WAIT`` seconds and is then refused (503 ``busy``, ``Retry-After``). Each fetch has one deadline,
set when the request asks for it: the caller gets 504 at the deadline, and the thread itself stops by
then too (every socket operation is cut to the deadline, ``urlfetch``), so its slot comes back.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from haven.errors import BusyError, RemoteError
from haven.service.ssrf.urlfetch import Fetched, FetchPolicy, fetch_url

#: Seconds a fetch waits for a free slot before it is refused.
QUEUE_WAIT = 1.0


class FetchPool:
    """``size`` concurrent fetches under ``policy``; ``await pool.fetch(url)``."""

    def __init__(self, policy: FetchPolicy, size: int) -> None:
        self.policy = policy
        self.size = max(1, size)
        self._slots = asyncio.Semaphore(self.size)
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="haven-fetch")
        self.in_use = 0

    @property
    def saturated(self) -> bool:
        return self.in_use >= self.size

    def load(self) -> dict[str, Any]:
        """For ``/readyz``: slots in use, of how many."""
        return {"in_use": self.in_use, "limit": self.size, "saturated": self.saturated}

    async def fetch(self, url: str) -> Fetched:
        """Fetch ``url`` (see ``fetch_url``) within ``policy.timeout`` of now, queueing included."""
        deadline = time.monotonic() + self.policy.timeout
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=min(QUEUE_WAIT, self.policy.timeout))
        except TimeoutError:
            raise BusyError(f"all {self.size} URL fetch slots are busy; retry shortly",
                            retry_after=1) from None
        self.in_use += 1
        loop = asyncio.get_running_loop()
        job: Future[Fetched] = self._executor.submit(
            functools.partial(fetch_url, url, self.policy, deadline=deadline))
        # The slot is the thread: it comes back when the thread is done, not when the caller stops waiting.
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        try:
            left = max(0.0, deadline - time.monotonic())
            return await asyncio.wait_for(asyncio.wrap_future(job), timeout=left)
        except TimeoutError:
            raise RemoteError(f"fetch took longer than {self.policy.timeout:g} s",
                              code="fetch_timeout") from None

    def _release(self) -> None:
        self.in_use -= 1
        self._slots.release()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
