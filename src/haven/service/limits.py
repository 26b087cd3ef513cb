"""The front door: a pure ASGI layer that decides about every request before a byte of its body is read.

In this order, for each request:

1. **Credentials.** A route that needs an API key (``/v1/…``, ``/metrics``) gets the key checked from the
   ``Authorization`` header first; without a valid key the answer is 401 and the body is never read. A
   web page's post that may carry more than a form (an upload to ``/ui``, a PDF to ``/portal``) is checked
   the same way against its surface's sign-in (``surfaces``). Scopes, roles, CSRF and rate limits are still
   checked by the route.
2. **Size, per route.** Each route has its own body limit (``body_limit``): a hash query needs kilobytes, an
   upload megabytes. A declared ``Content-Length`` over it is refused with 413 without reading; a chunked
   body is counted as it arrives.
3. **Bytes in flight.** All bodies this worker is holding share one budget (``HAVEN_MAX_BODY_IN_FLIGHT``);
   a body that does not fit gets 503 with ``Retry-After`` instead of more memory.
4. **Time.** The body must arrive within ``HAVEN_UPLOAD_TIMEOUT`` (408), so a slow client cannot hold a
   worker open.

The body is buffered here and replayed to the app, so everything behind this layer sees a bounded,
already-received body.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from haven.errors import AuthError, HavenError
from haven.portal.library import MAX_PDF_BYTES
from haven.service.errors import error_response

KiB = 1024
MiB = 1024 * KiB
#: Room for multipart boundaries and part headers on top of the file size limit.
MULTIPART_SLACK = 64 * KiB
#: Body limit of every route not listed in ``ROUTE_BODY_LIMITS`` (forms, bank metadata, unknown paths).
DEFAULT_BODY_LIMIT = 64 * KiB
#: The recovery portal's library takes PDFs up to its own limit.
PORTAL_PDF_BYTES = MAX_PDF_BYTES


def hash_query_bytes() -> int:
    """Body limit of one hash query: a PDQ or digest query needs well under 1 KiB, a video's vPDQ (a frame
    a second) about 86 bytes a second of video — room for the longest value any registered signal allows."""
    from haven.signals import all_signals

    return max(16 * KiB, max(s.max_length for s in all_signals()) + 16 * KiB)


HASH_QUERY_BYTES = hash_query_bytes()
#: ``(method, path, limit)``; the first whose path fully matches wins. ``None`` = the upload limit.
ROUTE_BODY_LIMITS: tuple[tuple[str, re.Pattern[str], int | None], ...] = (
    ("POST", re.compile(r"/v1/(hash|match)"), None),
    ("POST", re.compile(r"/v1/banks/[^/]+/import"), None),
    ("POST", re.compile(r"/ui/match"), None),
    ("POST", re.compile(r"/review/submit"), None),  # manual escalation: one file
    ("POST", re.compile(r"/portal/library/(new|[^/]+/versions)"), PORTAL_PDF_BYTES + MULTIPART_SLACK),
    ("POST", re.compile(r"/portal/.+"), 1 * MiB),  # case studies, discussions: long text, no files
    ("POST", re.compile(r"/v1/match/url"), 16 * KiB),  # one URL
    ("POST", re.compile(r"/v1/match/hashes"), HASH_QUERY_BYTES),  # one query (a video's vPDQ: its frames)
    ("POST", re.compile(r"/v1/match/hashes/batch"), max(2 * MiB, HASH_QUERY_BYTES)),  # 1,000 queries
    ("POST", re.compile(r"/v1/banks/[^/]+/entries"), 16 * MiB),  # 10,000 entries
    # HMA's API (routes/hma): uploads, and one content's signals
    ("POST", re.compile(r"/hma/(h/hash|m/lookup|c/bank/[^/]+/content)"), None),
    ("POST", re.compile(r"/hma/c/bank/[^/]+/signal"), HASH_QUERY_BYTES),
)
#: Paths whose routes all need an API key.
KEY_PREFIXES = ("/v1/", "/hma/")
KEY_PATHS = frozenset({"/metrics"})

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def body_limit(method: str, path: str, upload_limit: int) -> int:
    """The largest body ``method path`` accepts, in bytes."""
    for m, pattern, limit in ROUTE_BODY_LIMITS:
        if m == method and pattern.fullmatch(path):
            return upload_limit + MULTIPART_SLACK if limit is None else limit
    return DEFAULT_BODY_LIMIT


def needs_key(path: str) -> bool:
    return path in KEY_PATHS or path.startswith(KEY_PREFIXES)


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if there is one."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class ByteBudget:
    """Bytes that may be held at once by all requests of this worker (used from the event loop only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def load(self) -> dict[str, int | bool]:
        """For ``/readyz``."""
        return {"in_use": self.used, "limit": self.limit, "saturated": self.used >= self.limit}

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    h = dict(headers)
    return h.get(b"content-length", b"0") not in (b"0", b"") or b"transfer-encoding" in h


async def _refuse(scope: dict[str, Any], send: Send, status: int, code: str, message: str,
                  headers: dict[str, str] | None = None) -> None:
    """A JSON error that also closes the connection (the unread body must not be parsed as a request)."""
    body = json.dumps({"code": code, "message": message}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestGate:
    """See the module docstring. ``authenticate`` checks an API key (raises ``AuthError``); ``surfaces``
    maps a web surface's path prefix (``/ui/``) to what says whether a request carries its live sign-in."""

    def __init__(self, app: Any, *, authenticate: Callable[[str | None], object],
                 surfaces: Mapping[str, Callable[[dict[str, Any]], Awaitable[bool]]], upload_limit: int,
                 timeout: float, budget: ByteBudget) -> None:
        self.app = app
        self.authenticate = authenticate
        self.surfaces = dict(surfaces)
        self.upload_limit = upload_limit
        self.timeout = timeout
        self.budget = budget

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method, headers = scope["path"], scope["method"], scope.get("headers") or []
        limit = body_limit(method, path, self.upload_limit)
        try:
            if needs_key(path):
                self.authenticate(bearer_token(headers))
            elif limit > DEFAULT_BODY_LIMIT:
                for prefix, signed_in in self.surfaces.items():
                    if path.startswith(prefix) and not await signed_in(scope):
                        raise AuthError(f"sign in at {prefix.rstrip('/')} first")
        except HavenError as exc:
            response = error_response(exc, path)
            if _has_body(headers):
                response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        declared = dict(headers).get(b"content-length")
        held = [0]  # bytes of the budget this request holds
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _refuse(scope, send, 400, "bad_request", "invalid Content-Length")
                return
            if size > limit:
                await _refuse(scope, send, 413, "too_large",
                              f"request body of {size} bytes exceeds this route's {limit} byte limit")
                return
            if not self.budget.take(size):
                await _busy(scope, send)
                return
            held[0] = size
        try:
            data = await self._read(scope, receive, send, limit, held)
            if data is not None:
                await self.app(scope, replay_body(data, receive), send)
        finally:
            self.budget.give(held[0])

    async def _read(self, scope: dict[str, Any], receive: Receive, send: Send, limit: int,
                    held: list[int]) -> bytes | None:
        """The whole body, or None after answering the request (too large, too slow, no budget).
        A body longer than what ``held`` reserved (chunked) takes more of the budget as it arrives."""
        chunks: list[bytes] = []
        total = 0
        try:
            # asyncio.timeout is a cancel scope, not a new task per receive(): cheap on the hot path.
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    body = message.get("body", b"")
                    total += len(body)
                    if total > limit:
                        await _refuse(scope, send, 413, "too_large",
                                      f"request body exceeds this route's {limit} byte limit")
                        return None
                    if total > held[0]:
                        if not self.budget.take(total - held[0]):
                            await _busy(scope, send)
                            return None
                        held[0] = total
                    chunks.append(body)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _refuse(scope, send, 408, "upload_timeout",
                          f"the request body did not arrive within {self.timeout:g} s")
            return None
        return b"".join(chunks)


async def _busy(scope: dict[str, Any], send: Send) -> None:
    await _refuse(scope, send, 503, "busy",
                  "the server is holding as many request bodies as it allows; retry", {"Retry-After": "1"})


def replay_body(data: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``data`` as the whole, already-received body, then defers to the
    server's own ``receive`` (which waits for the disconnect)."""
    replayed = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": data, "more_body": False}
        return await receive()  # after the body: wait for disconnect, as the server would

    return replay
