"""Connection limits uvicorn does not have: a deadline for a request's headers, and a cap on open
connections. ``haven serve`` runs uvicorn with ``http=GuardedHttpToolsProtocol``.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` (``HAVEN_KEEPALIVE_TIMEOUT``),
but a connection that trickles its headers (one line every few seconds) or sends nothing at all stays
open as long as the client likes; a thousand of them hold a thousand sockets. Here every request must
finish its headers within ``HAVEN_HEADER_TIMEOUT`` seconds of its first byte (of the connection, for the
first request), or the connection gets 408 and is closed; and a connection beyond
``HAVEN_MAX_CONNECTIONS`` open ones is closed as soon as it is accepted. A reverse proxy in front
(docs/security.md) bounds the same things before they reach the service.

The limits come from the environment, like the app itself in each worker (``create_app_from_env``).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from haven.service.settings import ServiceSettings

_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@functools.cache
def _limits() -> tuple[float, int]:
    settings = ServiceSettings.from_env()
    return settings.header_timeout, settings.max_connections


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a connection cap (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout, self.max_connections = _limits()
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()
