"""Connections that never finish their headers, idle ones, and too many of them are closed by a real
``haven serve`` process on loopback (service/connections.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from service_live import ServeProcess, serve_process

HEADER_TIMEOUT = 1.0
KEEPALIVE = 1
MAX_CONNECTIONS = 20


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = {"HAVEN_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "HAVEN_KEEPALIVE_TIMEOUT": str(KEEPALIVE),
           "HAVEN_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with serve_process(tmp_path_factory.mktemp("conn") / "data", env=env) as svc:
        yield svc


def _closed_after(sock: socket.socket, *, drip: bytes = b"", every: float = 0.3, limit: float = 8.0) -> float:
    """Seconds until the server closes ``sock`` (sending ``drip`` every ``every`` s meanwhile); inf if not."""
    started = time.monotonic()
    sock.settimeout(every)
    while time.monotonic() - started < limit:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        if drip:
            try:
                sock.sendall(drip)
            except OSError:
                return time.monotonic() - started
    return float("inf")


def test_slow_headers_are_cut_off(served: ServeProcess) -> None:
    """One header line every 0.3 s: the connection is closed at the header deadline (not after 50 s)."""
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        seconds = _closed_after(sock, drip=b"X-Slow: 1\r\n")
    print(f"slow-header connection closed after {seconds:.2f} s")
    assert HEADER_TIMEOUT - 0.1 < seconds < HEADER_TIMEOUT + 1.0, seconds


def test_silent_and_idle_connections_are_closed(served: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as silent:
        assert _closed_after(silent) < HEADER_TIMEOUT + 1.0
    with socket.create_connection(("127.0.0.1", served.port)) as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.settimeout(5)
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")
        assert _closed_after(idle) < KEEPALIVE + 1.0  # kept alive, then idle past the keep-alive timeout


def test_a_kept_alive_connection_gets_the_header_deadline_again(served: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # a second request that never ends its headers
        assert _closed_after(sock, drip=b"X-Slow: 1\r\n") < HEADER_TIMEOUT + 1.0


def test_connections_beyond_the_cap_are_closed_at_once(served: ServeProcess) -> None:
    held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(MAX_CONNECTIONS + 30)]
    try:
        time.sleep(0.3)
        open_ones = 0
        for sock in held:
            sock.settimeout(0.05)
            try:
                open_ones += sock.recv(1) != b""
            except TimeoutError:
                open_ones += 1  # still open
            except OSError:
                pass
        print(f"{open_ones} of {len(held)} connections left open (cap {MAX_CONNECTIONS})")
        assert open_ones <= MAX_CONNECTIONS
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200
