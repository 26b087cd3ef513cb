"""SSRF guard: refused addresses never get a connection; redirects are re-vetted; limits hold.

A guard fixture patches ``socket.socket.connect`` so that any attempt to connect anywhere but
loopback fails the test, and records every connect so tests can assert a refusal came first.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from haven.errors import ImageTooLargeError, RemoteError, UnsafeURLError
from haven.service.ssrf import FetchPolicy, check_address, fetch_url, parse_host

LOOPBACK_ONLY = FetchPolicy.parse_allow("127.0.0.1/32")


class GuardError(PermissionError):
    """Raised by the guard (an OSError, so socket helpers close their sockets cleanly)."""


class ConnectGuard:
    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.blocked: list[str] = []
        self.expect_blocked = False


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectGuard]:
    """Block (and fail the test on) any non-loopback connect; record all connects."""
    g = ConnectGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(addr: object) -> None:
        host = addr[0] if isinstance(addr, tuple) else str(addr)
        g.attempts.append(str(host))
        try:
            ip = ipaddress.ip_address(str(host).split("%", 1)[0])
        except ValueError:
            pytest.fail(f"connect to a non-IP address {host!r}")
        if not ip.is_loopback:
            g.blocked.append(str(host))
            raise GuardError(f"TEST GUARD: attempted connection to non-loopback {host}")

    def connect(self: socket.socket, addr: object) -> None:
        check(addr)
        return real_connect(self, addr)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, addr: object) -> int:
        check(addr)
        return real_connect_ex(self, addr)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield g
    if not g.expect_blocked:
        assert g.blocked == [], f"connections to non-loopback addresses were attempted: {g.blocked}"


def test_guard_itself_blocks_non_loopback(guard: ConnectGuard) -> None:
    guard.expect_blocked = True
    with socket.socket() as s, pytest.raises(GuardError, match="non-loopback"):
        s.connect(("10.255.255.1", 80))
    assert guard.attempts == ["10.255.255.1"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://100.64.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://224.0.0.1/",
    "http://0.0.0.0/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[2002:7f00:1::1]/",   # 6to4 around 127.0.0.1
    "http://[64:ff9b::a00:1]/",   # NAT64 around 10.0.0.1
    "https://[::]/",
])
def test_refused_before_connecting(guard: ConnectGuard, url: str) -> None:
    with pytest.raises(UnsafeURLError):
        fetch_url(url, FetchPolicy(timeout=2))
    assert guard.attempts == [], "refusal must happen before any connection"


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "gopher://x/", "//host/x",
                                 "http://user:pw@example.org/", "http:///nohost", "http://[::1/"])
def test_bad_urls_refused(guard: ConnectGuard, url: str) -> None:
    with pytest.raises(UnsafeURLError):
        fetch_url(url, FetchPolicy(timeout=2))
    assert guard.attempts == []


def test_name_resolving_to_loopback_is_refused(guard: ConnectGuard) -> None:
    with pytest.raises(UnsafeURLError):
        fetch_url("http://localhost/", FetchPolicy(timeout=2))
    assert guard.attempts == []


def test_any_bad_dns_answer_refuses_the_name(guard: ConnectGuard) -> None:
    def resolver(host, port, *a):  # type: ignore[no-untyped-def]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    with pytest.raises(UnsafeURLError, match="10.1.2.3"):
        fetch_url("http://mixed.example/", FetchPolicy(timeout=2), resolver=resolver)
    assert guard.attempts == []


def test_connects_to_the_vetted_address_only(guard: ConnectGuard) -> None:
    """DNS rebinding: the name is resolved once; a later answer (loopback) is never used."""
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])

    def resolver(host, port, *a):  # type: ignore[no-untyped-def]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    guard.expect_blocked = True
    with pytest.raises(RemoteError):
        fetch_url("http://rebind.example/", FetchPolicy(timeout=2), resolver=resolver)
    # The only connect went to the vetted public IP (and was stopped by the guard), never to loopback.
    assert guard.attempts == ["93.184.216.34"]


@pytest.mark.parametrize("host,expected", [("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
                                           ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
                                           ("[::ffff:127.0.0.1]", "::ffff:7f00:1"), ("example.org", None),
                                           ("1.2.3.4.5", None), ("256.1.1.1", None)])
def test_parse_host_forms(host: str, expected: str | None) -> None:
    ip = parse_host(host)
    assert (str(ip) if ip else None) == expected


def test_public_addresses_pass() -> None:
    for ip in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        check_address(ip)


# --- a loopback test server ---------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"nope"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, dict[str, tuple[int, dict[str, str], bytes]]]]:
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    handler = type("H", (_Handler,), {"routes": routes})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", routes
    finally:
        srv.shutdown()
        srv.server_close()


def test_loopback_server_is_refused_without_allow_list(guard: ConnectGuard, loopback_server) -> None:  # type: ignore[no-untyped-def]
    base, routes = loopback_server
    routes["/img"] = (200, {"Content-Type": "image/jpeg"}, b"x")
    with pytest.raises(UnsafeURLError):
        fetch_url(f"{base}/img", FetchPolicy(timeout=2))
    assert guard.attempts == []


def test_positive_path_with_test_allow_list(guard: ConnectGuard, loopback_server, photos: Path) -> None:  # type: ignore[no-untyped-def]
    base, routes = loopback_server
    data = sorted(photos.glob("*.jp*g"))[0].read_bytes()
    routes["/a.jpg"] = (200, {"Content-Type": "image/jpeg"}, data)
    routes["/go"] = (302, {"Location": "/a.jpg"}, b"")
    got = fetch_url(f"{base}/go", FetchPolicy(timeout=5, allow=LOOPBACK_ONLY))
    assert got.data == data and got.status == 200 and got.final_url == f"{base}/a.jpg"
    assert guard.attempts == ["127.0.0.1", "127.0.0.1"]


@pytest.mark.parametrize("target", ["http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::ffff:10.0.0.1]/", "http://167772161/",
                                    "file:///etc/passwd"])
def test_redirect_to_refused_address(guard: ConnectGuard, loopback_server, target: str) -> None:  # type: ignore[no-untyped-def]
    base, routes = loopback_server
    routes["/redirect"] = (302, {"Location": target}, b"")
    with pytest.raises(UnsafeURLError):
        fetch_url(f"{base}/redirect", FetchPolicy(timeout=5, allow=LOOPBACK_ONLY))
    # Exactly one connection (to the loopback server); the redirect target was refused before connecting.
    assert guard.attempts == ["127.0.0.1"]


def test_redirect_loop_is_bounded(guard: ConnectGuard, loopback_server) -> None:  # type: ignore[no-untyped-def]
    base, routes = loopback_server
    routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(UnsafeURLError, match="redirects"):
        fetch_url(f"{base}/loop", FetchPolicy(timeout=5, allow=LOOPBACK_ONLY, max_redirects=3))
    assert len(guard.attempts) == 4


def test_size_cap(guard: ConnectGuard, loopback_server) -> None:  # type: ignore[no-untyped-def]
    base, routes = loopback_server
    routes["/big"] = (200, {}, b"x" * 5000)
    with pytest.raises(ImageTooLargeError):
        fetch_url(f"{base}/big", FetchPolicy(timeout=5, allow=LOOPBACK_ONLY, max_bytes=1000))


def test_total_time_cap(guard: ConnectGuard) -> None:
    # A loopback listener that accepts but never answers.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        with pytest.raises(RemoteError) as info:
            url = f"http://127.0.0.1:{srv.getsockname()[1]}/"
            fetch_url(url, FetchPolicy(timeout=0.5, allow=LOOPBACK_ONLY))
        assert info.value.code == "fetch_timeout"
    finally:
        srv.close()
