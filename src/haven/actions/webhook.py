"""Webhook deliveries: an HMAC-SHA256 signature over a timestamp and the exact body, sent with httpx.

Headers of every delivery::

    Content-Type: application/json
    Haven-Delivery: <action run id>        the same on every retry: receivers de-duplicate on it
    Haven-Timestamp: <unix seconds>
    Haven-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body with its shared secret, compares
in constant time, and refuses timestamps older than a few minutes (replays). ``verify_signature`` is the
reference implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from haven.errors import RemoteError, RemoteRejectedError

#: Statuses that mean "try again later"; any other 4xx is the receiver refusing this delivery for good.
RETRYABLE = frozenset({408, 425, 429})


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return "v1=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes, headers: dict[str, str], body: bytes, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        ts = int(lower["haven-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), lower.get("haven-signature", ""))


def deliver(
    url: str,
    secret: bytes,
    body: bytes,
    delivery_id: str,
    *,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> int:
    """POST one delivery; returns the status. ``RemoteError`` (retry) for network errors, 5xx and 408/425/429;
    ``RemoteRejectedError`` (do not retry) for any other 4xx."""
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "Haven-Delivery": delivery_id,
        "Haven-Timestamp": str(ts),
        "Haven-Signature": sign(secret, ts, body),
        "User-Agent": "haven-webhook/1",
    }
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise RemoteError(f"webhook {url}: {exc.__class__.__name__}: {exc}") from None
    finally:
        if own:
            http.close()
    if response.status_code < 300:
        return response.status_code
    text = response.text[:200].replace("\n", " ")
    if response.status_code >= 500 or response.status_code in RETRYABLE:
        raise RemoteError(f"webhook {url}: HTTP {response.status_code} {text}")
    raise RemoteRejectedError(f"webhook {url}: HTTP {response.status_code} (not retried) {text}")
