"""Cost before authentication, against a real ``haven serve`` process on loopback: a request without a
valid key is refused from its headers, before a byte of its body is read; every route has its own body
limit; all bodies held at once share one budget. Raw sockets, so the client controls every byte."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_live import (
    ServeProcess,
    proc_status,
    reset_peak_rss,
    serve_process,
    service_settings,
    start_service,
)

MB = 1_000_000
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serve_process(tmp_path_factory.mktemp("front") / "data") as svc:
        yield svc


def _head(path: str, size: int | None, *, key: str | None = None, content_type: str = "application/json",
          chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Flood:
    """One connection that declares a large body and keeps sending it as fast as the server takes it,
    until the server answers; records the answer and how long after the headers it came."""

    def __init__(self, port: int, path: str, size: int, **head: object) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.path = path
        self.head = _head(path, size, **head)  # type: ignore[arg-type]
        self.chunked = bool(head.get("chunked"))
        self.size = size
        self.sent = 0
        self.status = 0
        self.seconds = float("inf")
        self.answered = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _pump(self) -> None:
        chunk = b"[" + b'{"md5":"00000000000000000000000000000000"},' * 1500
        if self.chunked:  # HTTP chunk framing around the same bytes
            chunk = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            while self.sent < self.size and not self.answered.is_set():
                n = self.sock.send(chunk[: self.size - self.sent])
                self.sent += n
        except OSError:
            pass  # the server closed the connection: what a refusal should do

    def _run(self) -> None:
        self.sock.sendall(self.head)
        started = time.perf_counter()
        pump = threading.Thread(target=self._pump, daemon=True)
        pump.start()
        try:
            reply = self.sock.recv(4096)
            self.seconds = time.perf_counter() - started
            if reply.startswith(b"HTTP/1.1 "):
                self.status = int(reply.split()[1])
        except OSError:
            pass
        self.answered.set()
        pump.join(timeout=10)
        self.sock.close()


def _run_floods(floods: list[Flood]) -> None:
    for f in floods:
        f.thread.start()
    for f in floods:
        f.thread.join(timeout=30)


def test_keyless_50mb_bodies_refused_from_headers(served: ServeProcess) -> None:
    """Three 50 MB JSON bodies and three 50 MB uploads without a key, one with a wrong key, and a web-UI
    upload and a portal PDF without a session: answered 401 within 100 ms of their headers (median), and
    the process grows by no more than a few MB (the code before the gate read and parsed them all)."""
    time.sleep(1.0)  # let start-up allocations settle
    before = proc_status(served.pid, "VmRSS")
    reset_peak_rss(served.pid)
    floods = [Flood(served.port, "/v1/match/hashes/batch", 50 * MB) for _ in range(3)]
    floods += [Flood(served.port, "/v1/match", 50 * MB, content_type="multipart/form-data; boundary=x")
               for _ in range(3)]
    floods += [Flood(served.port, "/v1/hash", 50 * MB, key="hvn_not-a-real-key",
                     content_type="multipart/form-data; boundary=x"),
               # a web-UI upload and a portal library PDF without a session
               Flood(served.port, "/ui/match", 50 * MB, content_type="multipart/form-data; boundary=x"),
               Flood(served.port, "/portal/library/new", 19 * MB,
                     content_type="multipart/form-data; boundary=x")]
    _run_floods(floods)
    peak = proc_status(served.pid, "VmHWM")
    for f in floods:
        assert f.status == 401, (f.status, served.log.read_text()[-2000:])
        # Each one well within a second even on a host loaded far past its cores (the refusal itself is
        # instant: nothing is read); the typical one within 100 ms.
        assert f.seconds < 1.0, f"{f.path} refused after {f.seconds * 1000:.0f} ms"
        assert f.sent < 20 * MB, f"the server took {f.sent} bytes of a body it refused"
    typical = statistics.median(f.seconds for f in floods)
    assert typical < 0.100, f"median refusal after {typical * 1000:.0f} ms"
    grew = (peak - before) / MiB
    slowest = max(f.seconds for f in floods)
    print(f"{len(floods)} keyless 50 MB bodies: median refusal {typical * 1000:.1f} ms, slowest "
          f"{slowest * 1000:.1f} ms, "
          f"peak RSS growth {grew:.1f} MiB")
    assert grew < 5, f"the process grew by {grew:.1f} MiB while refusing"
    with served.client() as c:  # and it still answers
        assert c.get("/healthz").status_code == 200


def test_route_body_limits_refuse_before_reading(served: ServeProcess) -> None:
    """With a valid key: a hash query may not declare 50 MB (413 from the header, no byte read), nor
    stream more than its limit in chunks."""
    declared = Flood(served.port, "/v1/match/hashes", 50 * MB, key=served.match)
    chunked = Flood(served.port, "/v1/match/hashes/batch", 50 * MB, key=served.match, chunked=True)
    _run_floods([declared, chunked])
    assert declared.status == 413 and declared.seconds < 0.100, (declared.status, declared.seconds)
    assert chunked.status == 413, chunked.status
    assert chunked.sent < 20 * MB
    with served.client(served.match) as c:  # an ordinary query is untouched
        r = c.post("/v1/match/hashes", json={"md5": "0" * 32})
        assert r.status_code == 200, r.text


def test_bodies_in_flight_share_one_budget(tmp_path: Path) -> None:
    """Bodies being received count against HAVEN_MAX_BODY_IN_FLIGHT; one that does not fit gets 503 at
    once (with Retry-After), and the budget comes back when the first request ends."""
    server, live = start_service(service_settings(tmp_path, max_body_in_flight=1 * MiB, upload_timeout=5))
    port = int(live.url.rsplit(":", 1)[1])
    with server:
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(_head("/v1/hash", 900_000, key=live.match,
                           content_type="multipart/form-data; boundary=x"))
        slow.sendall(b"x" * 1000)  # holds its 900 kB reservation while it trickles
        time.sleep(0.3)
        with live.client(live.match) as c:
            r = c.post("/v1/hash", files={"file": ("a.jpg", b"y" * 200_000, "image/jpeg")})
            assert r.status_code == 503 and r.json()["code"] == "busy", r.text
            assert r.headers["retry-after"] == "1"
            slow.close()
            deadline = time.monotonic() + 5
            while True:  # the server notices the disconnect and gives the reservation back
                r = c.post("/v1/hash", files={"file": ("a.jpg", b"y" * 200_000, "image/jpeg")})
                if r.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert r.status_code == 422 and r.json()["code"] == "not_image", r.text
    live.keys.close()


def test_large_json_is_parsed_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1,000-query batch (over 64 KiB) is parsed in a worker thread; a single query on the loop."""
    import json

    import haven.service.jsonbody as jsonbody

    parsed: list[tuple[str, bytes]] = []  # (thread, body) of every json.loads in the process
    real_loads = json.loads

    def recording_loads(data: bytes, *args: object, **kw: object) -> object:
        parsed.append((threading.current_thread().name, bytes(data) if isinstance(data, bytes) else b""))
        return real_loads(data, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(jsonbody.json, "loads", recording_loads)
    server, live = start_service(service_settings(tmp_path))
    with server, live.client(live.match) as c:
        batch = {"items": [{"md5": f"{i:032x}", "content_id": f"item-{i:04d}-" + "x" * 40}
                           for i in range(1000)]}
        assert len(json.dumps(batch)) > jsonbody.THREAD_ABOVE
        r = c.post("/v1/match/hashes/batch", json=batch)
        assert r.status_code == 200, r.text
        assert len(r.json()["results"]) == 1000
        r = c.post("/v1/match/hashes", json={"md5": "0" * 32, "content_id": "one"})
        assert r.status_code == 200, r.text
        loop_thread = server.thread.name
    big = [t for t, body in parsed if body.startswith(b'{"items"')]
    one = [t for t, body in parsed if b'"content_id":"one"' in body.replace(b" ", b"")]
    assert big and all(t != loop_thread and t.startswith("AnyIO worker thread") for t in big), big
    assert one == [loop_thread], one
    live.keys.close()
