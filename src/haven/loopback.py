"""A local HTTP server run in a background thread: what the mock APIs (NCMEC reporting, the hash-list
exchanges) share, so tests and ``haven … mock`` commands start and stop them the same way."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Protocol, Self, TypeVar


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


class QueuedFault(Protocol):
    """A fault injected into a mock: which step it hits, how many matching calls it lets through first
    (``skip``) and how many it fails (``times``)."""

    step: str
    skip: int
    times: int


_F = TypeVar("_F", bound=QueuedFault)


def take_fault(faults: list[_F], step: str) -> _F | None:
    """The fault the next call of ``step`` meets, or None: the first queued for that step lets ``skip``
    calls through, then fails ``times`` calls and leaves the queue (the caller holds its lock)."""
    for f in faults:
        if f.step != step:
            continue
        if f.skip > 0:
            f.skip -= 1
            return None
        f.times -= 1
        if f.times <= 0:
            faults.remove(f)
        return f
    return None
