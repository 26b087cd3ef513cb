"""Slow URL fetches cannot starve the service: they run in a bounded pool of their own, each ends at its
deadline, and ``/readyz`` reports the saturation. Against a live server on loopback and a loopback server
that drips its answer one byte at a time."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from service_live import PHOTOS, ServeProcess, serve_process

FETCH_TIMEOUT = 2.0
SLOTS = 4
DRIP_SECONDS = 0.2


class _Drip(socketserver.BaseRequestHandler):
    """Answers any request with headers that never end: one byte every DRIP_SECONDS, for at most 20 s."""

    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            self.request.recv(4096)
            self.request.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(int(20 / DRIP_SECONDS)):
                self.request.sendall(b"X")
                time.sleep(DRIP_SECONDS)
        except OSError:
            pass  # the fetcher gave up: what it should do


class _DripServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def drip() -> Iterator[str]:
    server = _DripServer(("127.0.0.1", 0), _Drip)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slow.jpg"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A real ``haven serve`` process (so the 45 client threads here do not share its interpreter)."""
    env = {"HAVEN_FETCH_ALLOW": "127.0.0.1/32", "HAVEN_FETCH_TIMEOUT": str(FETCH_TIMEOUT),
           "HAVEN_FETCH_CONCURRENCY": str(SLOTS)}
    with serve_process(tmp_path_factory.mktemp("fetch") / "data", env=env) as svc:
        yield svc


def _timed(client: httpx.Client, method: str, path: str, **kw: object) -> tuple[int, float, httpx.Response]:
    started = time.perf_counter()
    r = client.request(method, path, **kw)  # type: ignore[arg-type]
    return r.status_code, time.perf_counter() - started, r


def test_slow_fetches_do_not_starve_other_routes(service: ServeProcess, drip: str) -> None:
    photo = sorted(PHOTOS.glob("*.jp*g"))[0].read_bytes()
    results: list[tuple[int, float, str]] = []
    # Clients are made up front: making one loads a TLS context, which would hold this process's GIL and
    # make the measurements below about the test, not the server.
    clients = [service.client(service.match) for _ in range(45)]
    probe = service.client(service.match)

    def fetch_one(c: httpx.Client) -> None:
        status, seconds, r = _timed(c, "POST", "/v1/match/url", json={"url": drip})
        results.append((status, seconds, r.json().get("code", "")))

    with ThreadPoolExecutor(45) as pool:
        futures = [pool.submit(fetch_one, c) for c in clients]
        time.sleep(0.5)  # every slot is now held by a dripping fetch
        ready = _timed(probe, "GET", "/readyz")
        banks = _timed(probe, "GET", "/v1/banks")
        hashed = _timed(probe, "POST", "/v1/hash", files={"file": ("p.jpg", photo, "image/jpeg")})
        for f in futures:
            f.result()
    for c in (*clients, probe):
        c.close()
    for name, (status, seconds, _) in (("readyz", ready), ("banks", banks), ("hash", hashed)):
        print(f"{name}: {status} in {seconds * 1000:.0f} ms while 45 fetches dripped")
        assert status == 200 and seconds < 1.0, (name, status, seconds)
    load = ready[2].json()
    assert load["saturated"] == ["url_fetch"], load
    assert load["load"]["url_fetch"] == {"in_use": SLOTS, "limit": SLOTS, "saturated": True}

    timed_out = [r for r in results if r[0] == 504]
    refused = [r for r in results if r[0] == 503]
    assert len(timed_out) + len(refused) == 45, results
    assert len(timed_out) >= SLOTS and all(code == "fetch_timeout" for _, _, code in timed_out)
    assert all(code == "busy" for _, _, code in refused)
    worst = max(seconds for _, seconds, _ in timed_out)
    print(f"{len(timed_out)} fetches ended at their {FETCH_TIMEOUT:g} s deadline (worst {worst:.2f} s), "
          f"{len(refused)} refused busy")
    assert worst < FETCH_TIMEOUT + 1.0, worst


def test_fetch_threads_stop_at_the_deadline(service: ServeProcess, drip: str) -> None:
    """The slot comes back when the deadline passes: the fetch thread itself stops, not only the caller."""
    with service.client(service.match) as c:
        status, seconds, _ = _timed(c, "POST", "/v1/match/url", json={"url": drip})
        assert status == 504 and seconds < FETCH_TIMEOUT + 1.0
        deadline = time.monotonic() + 1.0
        while c.get("/readyz").json()["load"]["url_fetch"]["in_use"]:
            assert time.monotonic() < deadline, "the fetch thread outlived its deadline"
            time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", int(drip.split(":")[2].split("/")[0]))):
        pass  # the drip server is still up: the fetcher, not the server, ended the exchange
