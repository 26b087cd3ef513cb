"""Local mocks of the exchange APIs (``haven exchange-mock --type ncmec|stopncii|threatexchange``).

Each serves its API's documented shapes (see the clients in ``haven.exchanges.clients``) from a generated
hash set: ``count`` records whose values are derived from a seed (MD5 and PDQ strings that are not of any
real media), with paging, tombstones, changed records and injected faults. No machine here reaches the real
APIs; the tests and ``haven bench exchange`` run against these.

Timestamps are whole seconds from ``clock``; a fetch covers ``[from, to)``, so a record changed in the
current second is served by the next fetch (the clients' ``lag`` keeps them behind the present).

Control endpoints (no auth; JSON): ``GET /_mock/state`` (the live set), ``POST /_mock/mutate``
``{"add": n, "change": n, "delete": n}``, ``POST /_mock/faults`` ``{"step": "fetch"|"feedback", "fault":
"http_500"|"http_400"|"timeout"|"truncate", "times": 1, "skip": 0, "delay": 2}``, ``DELETE /_mock/faults``,
``GET /_mock/feedback`` (feedback received), ``GET /_mock/calls``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from haven.loopback import LoopbackServer, take_fault
from haven.signals import get_signal

TYPES = ("ncmec", "stopncii", "threatexchange")
FAULTS = ("http_500", "http_400", "timeout", "truncate")
CLASSES = ("A1", "A2", "B1", "B2")
NS = "https://hashsharing.ncmec.org/hashsharing/v2"
DEFAULT_CREDENTIALS = {
    "ncmec": {"username": "haven", "password": "haven-test-password"},
    "stopncii": {
        "subscription_key": "sub-key",
        "fetch_function_key": "fetch-key",
        "feedback_function_key": "feedback-key",
    },
    "threatexchange": {"access_token": "1234567890|haven-test-token-000000"},
}


@dataclass
class Fault:
    step: str  # fetch | feedback
    fault: str
    times: int = 1
    skip: int = 0
    delay: float = 2.0


def _value(seed: str, i: int, signal: str) -> str:
    """A made-up value of ``signal``'s length (hex), the same for the same seed, record and signal."""
    raw = f"{seed}:{i}:{signal}".encode()
    return hashlib.blake2b(raw, digest_size=get_signal(signal).max_length // 2).hexdigest()


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _parse_iso(text: str) -> int:
    import calendar

    return calendar.timegm(time.strptime(text.replace(".000Z", "Z"), "%Y-%m-%dT%H:%M:%SZ"))


class MockData:
    """The generated hash set and its history, behind one lock.

    Record ``i``: a video every 10th (one MD5), else an image (MD5 and PDQ for NCMEC; one PDQ for
    StopNCII and ThreatExchange). ``version`` changes with every mutation (it keys the paging cache)."""

    def __init__(
        self,
        kind: str,
        count: int,
        *,
        seed: str = "haven",
        clock: Callable[[], float] = time.time,
        start: int | None = None,
    ) -> None:
        self.kind = kind
        self.seed = seed
        self.clock = clock
        self.lock = threading.Lock()
        t0 = int(clock()) - 86_400 if start is None else start
        self.ts: list[int] = [t0] * count
        self.deleted: set[int] = set()
        self.shift: dict[int, int] = {}  # record → how many times its classification/status changed
        self.version = 0
        self.faults: list[Fault] = []
        self.feedback: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self._order: tuple[int, list[int]] = (-1, [])
        self._cursor = 0  # which records mutate next

    # -- the records ---------------------------------------------------------------------------------------
    def is_video(self, i: int) -> bool:
        return i % 10 == 9

    def signals(self, i: int) -> list[tuple[str, str]]:
        """``(Haven signal, value)`` of record ``i``."""
        if self.is_video(i):
            return [("md5", _value(self.seed, i, "md5"))]
        if self.kind == "ncmec":
            return [("md5", _value(self.seed, i, "md5")), ("pdq", _value(self.seed, i, "pdq"))]
        return [("pdq", _value(self.seed, i, "pdq"))]

    def classification(self, i: int) -> str:
        return CLASSES[(i + self.shift.get(i, 0)) % len(CLASSES)]

    def live(self) -> set[tuple[str, str]]:
        with self.lock:
            return {s for i in range(len(self.ts)) if i not in self.deleted for s in self.signals(i)}

    def order(self) -> list[int]:
        """Every record by (timestamp, index), cached per version."""
        with self.lock:
            if self._order[0] != self.version:
                self._order = (self.version, sorted(range(len(self.ts)), key=lambda i: (self.ts[i], i)))
            return self._order[1]

    def in_range(self, lo: int, hi: int | None) -> list[int]:
        import bisect

        order = self.order()
        keys = [self.ts[i] for i in order] if len(order) < 50_000 else None
        if keys is None:  # large sets: bisect on a key view without building a list

            class _View:
                def __len__(s) -> int:
                    return len(order)

                def __getitem__(s, k: int) -> int:
                    return self.ts[order[k]]

            view: Any = _View()
        else:
            view = keys
        a = bisect.bisect_left(view, lo)
        b = len(order) if hi is None else bisect.bisect_left(view, hi)
        return order[a:b]

    def mutate(self, add: int = 0, change: int = 0, delete: int = 0) -> dict[str, list[int]]:
        """Add records, change some (new classification / status, new timestamp), delete some; returns
        the indices touched."""
        with self.lock:
            now = int(self.clock())
            out: dict[str, list[int]] = {"added": [], "changed": [], "deleted": []}
            n0 = len(self.ts)
            self.ts.extend([now] * add)
            out["added"] = list(range(n0, n0 + add))
            alive = [i for i in range(n0) if i not in self.deleted]
            step = max(1, len(alive) // max(1, change + delete))
            picks = alive[self._cursor % step :: step][: change + delete]
            self._cursor += 1
            for k, i in enumerate(picks):
                self.ts[i] = now
                if k < change:
                    self.shift[i] = self.shift.get(i, 0) + 1
                    out["changed"].append(i)
                else:
                    self.deleted.add(i)
                    out["deleted"].append(i)
            self.version += 1
            return out

    def take_fault(self, step: str) -> Fault | None:
        with self.lock:
            return take_fault(self.faults, step)


class _Reply(Exception):
    def __init__(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.status, self.body, self.ctype = status, body, ctype


def _json(obj: Any, status: int = 200) -> _Reply:
    return _Reply(status, json.dumps(obj).encode())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:  # stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._body()
        data = self.server.data
        try:
            if url.path.startswith("/_mock/"):
                raise self._control(method, url.path[len("/_mock/") :], body)
            step = self.server.api.step(method, url.path)
            with data.lock:
                data.calls.append(f"{method} {url.path}")
            fault = data.take_fault(step) if step else None
            if fault is not None:
                if fault.fault == "timeout":
                    time.sleep(fault.delay)
                elif fault.fault == "http_500":
                    raise _json({"error": "injected 500"}, 500)
                elif fault.fault == "http_400":
                    raise _json({"error": "injected 400"}, 400)
            reply = self.server.api.handle(method, url.path, query, body, dict(self.headers))
            if fault is not None and fault.fault == "truncate":
                # Promise the whole page, send half of it and hang up: a network error for the client.
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.ctype)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            raise reply
        except _Reply as r:
            self._send(r.status, r.body, r.ctype)

    def _control(self, method: str, what: str, body: bytes) -> _Reply:
        data = self.server.data
        if what == "state" and method == "GET":
            return _json({"live": sorted(data.live()), "records": len(data.ts), "deleted": len(data.deleted)})
        if what == "mutate" and method == "POST":
            spec = json.loads(body or b"{}")
            return _json(
                data.mutate(int(spec.get("add", 0)), int(spec.get("change", 0)), int(spec.get("delete", 0)))
            )
        if what == "faults" and method == "POST":
            spec = json.loads(body or b"{}")
            if spec.get("fault") not in FAULTS or spec.get("step", "fetch") not in ("fetch", "feedback"):
                return _json({"error": f"fault must be one of {FAULTS}, step fetch|feedback"}, 400)
            with data.lock:
                data.faults.append(Fault(**{"step": "fetch", **spec}))
            return _json({"ok": True})
        if what == "faults" and method == "DELETE":
            with data.lock:
                data.faults.clear()
            return _json({"ok": True})
        if what == "feedback" and method == "GET":
            with data.lock:
                return _json(list(data.feedback))
        if what == "calls" and method == "GET":
            with data.lock:
                return _json(list(data.calls))
        return _json({"error": "unknown control endpoint"}, 404)


class _Api:
    """One API's routes over ``MockData``."""

    def __init__(self, data: MockData, credentials: dict[str, str], page_size: int, root: Callable[[], str]):
        self.data = data
        self.creds = credentials
        self.page_size = page_size
        self.root = root

    def step(self, method: str, path: str) -> str | None:
        raise NotImplementedError

    def handle(
        self, method: str, path: str, q: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> _Reply:
        raise NotImplementedError


class _Ncmec(_Api):
    _rendered: dict[int, tuple[tuple[int, bool, int], str]]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._rendered = {}

    def step(self, method: str, path: str) -> str | None:
        if method == "PUT" and path.endswith("/feedback"):
            return "feedback"
        return "fetch" if path == "/v2/entries" else None

    def _auth(self, headers: dict[str, str]) -> None:
        want = (
            "Basic "
            + base64.b64encode(f"{self.creds['username']}:{self.creds['password']}".encode()).decode()
        )
        if headers.get("Authorization") != want:
            raise _Reply(401, b"<error>unauthorized</error>", "application/xml")

    def handle(
        self, method: str, path: str, q: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> _Reply:
        self._auth(headers)
        d = self.data
        if method == "GET" and path == "/v2/entries":
            lo, hi = _parse_iso(q["from"]), _parse_iso(q["to"])
            keys = d.in_range(lo, hi)
            start, size = int(q.get("start", 1)), int(q.get("size", self.page_size))
            chunk = keys[start - 1 : start - 1 + size]
            images: list[str] = []
            videos: list[str] = []
            for i in chunk:
                (videos if d.is_video(i) else images).append(self._entry(i))
            parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', f'<queryResult xmlns="{NS}">']
            for tag, items in (("images", images), ("videos", videos)):
                if items:
                    top = max(d.ts[i] for i in chunk if (tag == "videos") == d.is_video(i))
                    parts.append(
                        f'<{tag} count="{len(items)}" maxTimestamp="{_iso(top)}">{"".join(items)}</{tag}>'
                    )
            if start - 1 + size < len(keys):
                nxt = urlencode(
                    {"from": q["from"], "to": q["to"], "start": start + size, "size": size, "max": len(keys)}
                )
                parts.append(f"<paging><next>/v2/entries?{nxt.replace('&', '&amp;')}</next></paging>")
            parts.append("</queryResult>")
            return _Reply(200, "".join(parts).encode(), "application/xml")
        if method == "GET" and path.startswith("/v2/feedback/") and path.endswith("/reasons"):
            return _Reply(
                200,
                (
                    f'<?xml version="1.0"?><availableFeedbackReasons xmlns="{NS}">'
                    f'<reason guid="01234567-abcd-0123-4567-012345678900" name="Not CSAM" '
                    f'type="{path.split("/")[3]}"/></availableFeedbackReasons>'
                ).encode(),
                "application/xml",
            )
        if method == "PUT" and path.endswith("/feedback"):
            _, _, _, member, entry, fp_type, _ = path.split("/")
            text = body.decode()
            vote = "affirmative" if "<affirmative" in text else "negative" if "<negative" in text else None
            if vote is None:
                raise _Reply(400, b"<error>bad feedbackSubmission</error>", "application/xml")
            with d.lock:
                d.feedback.append({"member": member, "entry": entry, "type": fp_type, "vote": vote})
            return _Reply(200, f'<submissionResult xmlns="{NS}"/>'.encode(), "application/xml")
        raise _Reply(404, b"<error>not found</error>", "application/xml")

    def _entry(self, i: int) -> str:
        # Rendered once per state of the record: the mock should not be what a benchmark waits for.
        d = self.data
        key = (d.ts[i], i in d.deleted, d.shift.get(i, 0))
        hit = self._rendered.get(i)
        if hit is not None and hit[0] == key:
            return hit[1]
        xml = self._render(i)
        self._rendered[i] = (key, xml)
        return xml

    def warm(self) -> None:
        """Render every record ahead of the first request."""
        for i in range(len(self.data.ts)):
            self._entry(i)

    def _render(self, i: int) -> str:
        d = self.data
        tag = "video" if d.is_video(i) else "image"
        member = 42 + i % 2
        head = (
            f'<member id="{member}">Member {member}</member>'
            f"<timestamp>{_iso(d.ts[i])}</timestamp><id>e{i}</id>"
        )
        if i in d.deleted:
            return f"<deleted{tag.capitalize()}>{head}</deleted{tag.capitalize()}>"
        fps = "".join(f"<{s}>{v}</{s}>" for s, v in d.signals(i))
        if tag == "image":
            fps += "<pdna>not-a-haven-signal</pdna>"
        return (
            f"<{tag}>{head}<classification>{d.classification(i)}</classification>"
            f"<fingerprints>{fps}</fingerprints><feedback/></{tag}>"
        )


class _StopNcii(_Api):
    def step(self, method: str, path: str) -> str | None:
        return {"/v1/FetchHashes": "fetch", "/v1/SubmitFeedback": "feedback"}.get(path)

    def handle(
        self, method: str, path: str, q: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> _Reply:
        if headers.get("Ocp-Apim-Subscription-Key") != self.creds["subscription_key"]:
            raise _json({"error": "bad subscription key"}, 401)
        d = self.data
        if method == "GET" and path == "/v1/FetchHashes":
            if headers.get("x-functions-key") != self.creds["fetch_function_key"]:
                raise _json({"error": "bad function key"}, 401)
            token = q.get("nextPageToken")
            if token:
                start, hi, offset = json.loads(base64.urlsafe_b64decode(token))
            else:
                start, hi, offset = int(q.get("startTimestamp", 0)), int(d.clock()), 0
            keys = d.in_range(start, hi)
            size = int(q.get("pageSize", self.page_size))
            chunk = keys[offset : offset + size]
            more = offset + size < len(keys)
            records: list[dict[str, Any]] = []
            for i in chunk:
                video = d.is_video(i)
                records.append(
                    {
                        "lastModtimestamp": d.ts[i],
                        "signalType": "VideoMD5" if video else "ImagePDQ",
                        "hashValue": d.signals(i)[0][1],
                        "hashStatus": "Withdrawn"
                        if i in d.deleted
                        else ("Active" if d.shift.get(i, 0) % 2 == 0 else "Received"),
                        "caseNumbers": {f"case-{i}": "Withdrawn" if i in d.deleted else "Active"},
                        "CSPFeedbacks": [],
                    }
                )
            nxt = (
                base64.urlsafe_b64encode(json.dumps([start, hi, offset + size]).encode()).decode()
                if more
                else None
            )
            raise _json(
                {
                    "count": len(records),
                    "nextPageToken": nxt,
                    "nextSetTimestamp": hi,
                    "hasMoreRecords": more,
                    "hashRecords": records,
                }
            )
        if method == "POST" and path == "/v1/SubmitFeedback":
            if headers.get("x-functions-key") != self.creds["feedback_function_key"]:
                raise _json({"error": "bad function key"}, 401)
            payload = json.loads(body or b"{}")
            with d.lock:
                for f in payload.get("hashFeedbacks", []):
                    d.feedback.append({"hashValue": f.get("hashValue"), "vote": f.get("feedbackValue")})
            raise _json({"ok": True})
        raise _json({"error": "not found"}, 404)


class _ThreatExchange(_Api):
    def step(self, method: str, path: str) -> str | None:
        if path.endswith("/threat_updates/"):
            return "fetch"
        return "feedback" if method == "POST" else None

    def handle(
        self, method: str, path: str, q: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> _Reply:
        d = self.data
        if method == "POST":
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            if form.get("access_token") != self.creds["access_token"]:
                raise _json({"error": {"message": "bad token"}}, 401)
            if form.get("reactions") not in ("HELPFUL", "NOT_HELPFUL", "SAW_THIS_TOO"):
                raise _json({"error": {"message": "bad reaction"}}, 400)
            with d.lock:
                d.feedback.append({"descriptor": path.strip("/"), "vote": form["reactions"]})
            raise _json({"success": True})
        if q.get("access_token") != self.creds["access_token"]:
            raise _json({"error": {"message": "bad token"}}, 401)
        if not path.endswith("/threat_updates/"):
            raise _json({"error": "not found"}, 404)
        lo, hi = int(q.get("start_time", 0)), int(q.get("stop_time") or d.clock())
        keys = d.in_range(lo, hi)
        offset, size = int(q.get("after", 0)), int(q.get("limit", self.page_size))
        data = []
        for i in keys[offset : offset + size]:
            video = d.is_video(i)
            data.append(
                {
                    "id": str(1_000_000 + i),
                    "indicator": d.signals(i)[0][1],
                    "type": "HASH_VIDEO_MD5" if video else "HASH_PDQ",
                    "last_updated": str(d.ts[i]),
                    "should_delete": i in d.deleted,
                    "tags": ["csam"],
                    "status": "MALICIOUS" if d.shift.get(i, 0) % 2 == 0 else "SUSPICIOUS",
                    "descriptors": {"data": [{"id": str(5_000_000 + i), "owner": {"id": "616912251743987"}}]},
                }
            )
        paging: dict[str, Any] = {}
        if offset + size < len(keys):
            qs = {
                "access_token": q["access_token"],
                "start_time": lo,
                "stop_time": hi,
                "limit": size,
                "after": offset + size,
            }
            paging["next"] = f"{self.root()}{path}?{urlencode(qs)}"
        raise _json({"data": data, "paging": paging})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], data: MockData, api: _Api, verbose: bool) -> None:
        self.data, self.api, self.verbose = data, api, verbose
        super().__init__(addr, _Handler)


class MockExchange(LoopbackServer):
    """One mock API on 127.0.0.1 (``port`` 0: any free port); start it, or use it as a context manager."""

    thread_name = "exchange-mock"
    _server: _Server

    def __init__(
        self,
        kind: str,
        *,
        count: int = 2500,
        port: int = 0,
        page_size: int | None = None,
        credentials: dict[str, str] | None = None,
        seed: str = "haven",
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
    ) -> None:
        if kind not in TYPES:
            raise ValueError(f"unknown mock type {kind!r}; use one of {', '.join(TYPES)}")
        self.kind = kind
        self.data = MockData(kind, count, seed=seed, clock=clock)
        self.credentials = dict(credentials or DEFAULT_CREDENTIALS[kind])
        size = page_size or {"ncmec": 1000, "stopncii": 800, "threatexchange": 500}[kind]
        api_cls = {"ncmec": _Ncmec, "stopncii": _StopNcii, "threatexchange": _ThreatExchange}[kind]
        api = api_cls(self.data, self.credentials, size, lambda: self.root)
        self._server = _Server(("127.0.0.1", port), self.data, api, verbose)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to give the exchange (``--url``)."""
        return {"ncmec": self.root, "stopncii": f"{self.root}/v1", "threatexchange": self.root}[self.kind]

    def inject(self, fault: str, *, step: str = "fetch", **kwargs: Any) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self.data.lock:
            self.data.faults.append(Fault(step=step, fault=fault, **kwargs))

    def warm(self) -> None:
        """Sort the generated set and (NCMEC) render its records before the first request."""
        self.data.order()
        if isinstance(self._server.api, _Ncmec):
            self._server.api.warm()

    def faults(self) -> list[dict[str, Any]]:
        with self.data.lock:
            return [asdict(f) for f in self.data.faults]
