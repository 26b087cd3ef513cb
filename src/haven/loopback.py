"""A local HTTP server run in a background thread: what the mock APIs (NCMEC reporting, the hash-list
exchanges) share, so tests and ``haven … mock`` commands start and stop them the same way."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    """Owns ``self._server`` (set by the subclass); ``start()`` serves in a background thread,
    ``serve_forever()`` in this one; a context manager starts and stops it."""

    _server: ThreadingHTTPServer
    thread_name = "mock"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
