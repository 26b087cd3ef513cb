"""Haven's one retry policy for calls to remote APIs (NCMEC reporting, the hash-list exchanges).

Only network failures and HTTP 5xx are retried, with capped exponential backoff and full jitter; any other
answer (a 4xx: bad request, refused credentials, unknown entry) goes back to the caller at once, because
sending it again would get the same answer. A call that is not idempotent is retried only when the request
cannot have reached the server (the connection was never made): after a read timeout or a dropped
connection it may have been applied, so ``OutcomeUnknownError`` is raised and the caller decides.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from haven.errors import RemoteError


class OutcomeUnknownError(RemoteError):
    """A non-idempotent call failed after it may have reached the server: it may or may not have applied."""

    code = "outcome_unknown"


@dataclass
class RetryPolicy:
    """How often and how long to retry: ``retries`` more tries after the first, the n-th after a pause
    drawn from 0..min(``max_backoff``, ``backoff`` · 2^n) seconds."""

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 16.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))


def short_body(resp: httpx.Response, limit: int = 200) -> str:
    """The start of a response body on one line, for error messages."""
    try:
        text = resp.text
    except Exception:  # noqa: BLE001 - an undecodable body is described, not raised
        return ""
    return " ".join(text.split())[:limit]


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    idempotent: bool,
    label: str | None = None,
    base: str | None = None,
    before_try: Callable[[int, str], None] | None = None,
    calls: list[str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request under ``policy`` and return the first answer that is not a 5xx.

    ``label`` names the call in messages and in ``calls`` (every request sent is appended there, for tests
    and audit); ``base`` names the server in "cannot connect" messages; ``before_try(attempt, last_error)``
    runs before every try (a retried upload rewinds its stream there). Raises ``RemoteError`` once the
    tries are spent, ``OutcomeUnknownError`` for a non-idempotent call that may have been applied."""
    label = label or f"{method} {url}"
    last = ""
    for attempt in range(policy.retries + 1):
        if attempt:
            policy.sleep(policy.delay(attempt - 1))
        if before_try is not None:
            before_try(attempt, last)
        if calls is not None:
            calls.append(label)
        try:
            resp = http.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            last = f"cannot connect to {base or url}: {exc.__class__.__name__}: {exc}"
            continue  # the request never reached the server: always safe to retry
        except httpx.TransportError as exc:
            last = f"{label}: {exc.__class__.__name__}: {exc or 'connection lost'}"
            if not idempotent:
                raise OutcomeUnknownError(f"{last} (the server may have applied it)") from None
            continue
        if resp.status_code >= 500:
            last = f"{label}: HTTP {resp.status_code} {short_body(resp)}"
            continue
        return resp
    raise RemoteError(f"{last} (gave up after {policy.retries + 1} tries)")


__all__ = ["OutcomeUnknownError", "RetryPolicy", "send", "short_body"]
