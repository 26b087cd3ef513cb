"""A local conformance server for the CyberTipline API, with injectable faults (``haven ncmec-mock``).

Same endpoints, auth and ``reportResponse`` shapes as NCMEC's API (as described in
``../shared/reference/ncmec/README.md``), XSD validation of ``/submit`` and ``/fileinfo`` bodies, and the
report lifecycle (open → finished | retracted, unfinished reports expire). Faults let tests and users
check that a client survives a 5xx, a timeout or a dropped connection *after the server committed*.

It is the stdlib ``ThreadingHTTPServer`` on purpose: dropping a connection without a response needs
the raw socket, which ASGI servers hide. State is in memory; it is a test tool, bound to loopback.

Control endpoints (no auth; JSON): ``GET /_mock/reports``, ``POST /_mock/faults`` (one fault:
``{"step": "submit", "fault": "drop", "after_commit": true, "times": 1, "skip": 0, "delay": 5}``),
``DELETE /_mock/faults``, ``POST /_mock/reset``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from haven.errors import FormatError
from haven.loopback import LoopbackServer, take_fault
from haven.reporting.safexml import parse_xml
from haven.reporting.schema import XSD_PATH, schema_errors

PREFIX = "/ispws"
STEPS = ("status", "submit", "upload", "fileinfo", "finish", "retract")
FAULTS = ("http_500", "timeout", "drop", "delay")
MAX_BODY = 256 * 1024 * 1024


@dataclass
class Fault:
    step: str
    fault: str
    after_commit: bool = True  # timeout/drop: apply the request first, then fail to answer
    times: int = 1  # how many matching calls fail
    skip: int = 0  # let this many matching calls through first
    delay: float = 5.0  # seconds for "timeout" and "delay"


@dataclass
class MockFile:
    file_id: str
    name: str
    size: int
    md5: str
    details: str | None = None  # the last <fileDetails> XML received


@dataclass
class MockReport:
    report_id: int
    user: str
    state: str  # open | finished | retracted
    xml: str
    opened_at: float
    modified_at: float
    files: list[MockFile] = field(default_factory=list)


def _response(code: int, description: str, **extra: object) -> bytes:
    parts = [
        f"<responseCode>{code}</responseCode>",
        f"<responseDescription>{escape(description)}</responseDescription>",
    ]
    for tag in ("reportId", "fileId", "hash"):
        if extra.get(tag) is not None:
            parts.append(f"<{tag}>{escape(str(extra[tag]))}</{tag}>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<reportResponse>' + "".join(parts) + "</reportResponse>"
    ).encode()


def _done(report: MockReport) -> bytes:
    files = "".join(f"<fileId>{f.file_id}</fileId>" for f in report.files)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<reportDoneResponse><responseCode>0</responseCode>'
        f"<reportId>{report.report_id}</reportId><files>{files}</files></reportDoneResponse>"
    ).encode()


class _Reply(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


class MockState:
    """The server's reports, users and pending faults, behind one lock."""

    def __init__(self, users: dict[str, str], expire_after: float | None, first_id: int = 1_000_001) -> None:
        self.users = dict(users)
        self.expire_after = expire_after
        self.lock = threading.Lock()
        self.reports: dict[int, MockReport] = {}
        self.faults: list[Fault] = []
        self.next_id = first_id
        self.calls: list[str] = []

    def take_fault(self, step: str) -> Fault | None:
        with self.lock:
            return take_fault(self.faults, step)

    def expire(self) -> None:
        if self.expire_after is None:
            return
        cutoff = time.time() - self.expire_after
        for rid in [
            r.report_id for r in self.reports.values() if r.state == "open" and r.modified_at < cutoff
        ]:
            del self.reports[rid]  # NCMEC deletes reports left unfinished

    def open_report(self, rid_text: str | None, user: str) -> MockReport:
        self.expire()
        try:
            rid = int(rid_text or "")
        except ValueError:
            raise _Reply(400, _response(4000, "Invalid request: id must be a report id")) from None
        report = self.reports.get(rid)
        if report is None or report.user != user:
            raise _Reply(200, _response(5001, "Report does not exist", reportId=rid))
        if report.state == "retracted":
            raise _Reply(200, _response(5101, "Report already retracted", reportId=rid))
        if report.state == "finished":
            raise _Reply(200, _response(5102, "Report already finished", reportId=rid))
        return report

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            self.expire()
            return [asdict(r) for r in sorted(self.reports.values(), key=lambda r: r.report_id)]


def _validated_xml(body: bytes, root_tag: str) -> str:
    try:
        root = parse_xml(body)
    except FormatError as exc:
        raise _Reply(400, _response(4110, f"Malformed XML submittal: {exc.message}")) from None
    if root.tag != root_tag:
        raise _Reply(400, _response(4100, f"Validation failed: expected <{root_tag}>, got <{root.tag}>"))
    errors = schema_errors(root)
    if errors:
        element, line, message = errors[0]
        raise _Reply(400, _response(4100, f"Validation failed: {element} (line {line}): {message}"))
    return body.decode("utf-8", "replace")


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    params = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p)
    boundary = params.get("boundary", "").strip('"').encode()
    if not content_type.startswith("multipart/form-data") or not boundary:
        raise _Reply(400, _response(4200, "Malformed file submittal: expected multipart/form-data"))
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            (
                h
                for h in head.decode("utf-8", "replace").split("\r\n")
                if h.lower().startswith("content-disposition")
            ),
            "",
        )
        attrs = {}
        for item in disposition.split(";")[1:]:
            if "=" in item:
                k, v = item.strip().split("=", 1)
                attrs[k.lower()] = v.strip('"')
        if "name" in attrs:
            fields[attrs["name"]] = (attrs.get("filename"), content.removesuffix(b"\r\n"))
    return fields


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive surprises

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ---------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = "text/xml; charset=utf-8") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client went away (e.g. it timed out first)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise _Reply(413, _response(4000, "Invalid request: body too large"))
        return self.rfile.read(length) if length else b""

    def _chunked(self) -> bytes:
        """Read a chunked body (what clients send when a stream's length is unknown)."""
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise _Reply(413, _response(4000, "Invalid request: body too large"))
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _user(self) -> str:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if user in self.server.state.users and self.server.state.users[user] == password:
                return user
        raise _Reply(401, _response(2000, "Authentication required"))

    def do_GET(self) -> None:  # stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            if path.startswith("/_mock/"):
                self._control(method, path[len("/_mock/") :])
                return
            if not path.startswith(PREFIX + "/"):
                raise _Reply(404, _response(1210, "Resource not found"))
            step = path[len(PREFIX) + 1 :]
            self.server.state.calls.append(f"{method} /{step}")
            if step == "xsd" and method == "GET":
                self._user()
                self._send(200, XSD_PATH.read_bytes())
                return
            if step not in STEPS or (method == "GET") != (step == "status"):
                raise _Reply(404, _response(1210, "Resource not found"))
            self._api(step)
        except _Reply as reply:
            self._send(reply.status, reply.body)

    # -- the API ----------------------------------------------------------------------------------------
    def _api(self, step: str) -> None:
        body = self._body() if step != "status" else b""
        user = self._user()
        fault = self.server.state.take_fault(step)
        if fault is not None and fault.fault == "delay":
            time.sleep(fault.delay)
        if fault is not None and fault.fault == "http_500":
            raise _Reply(500, _response(1000, "Server error (injected)"))
        if fault is not None and fault.fault in ("timeout", "drop") and not fault.after_commit:
            self._fail(fault)
            return
        status, reply = self._apply(step, body, user)
        if fault is not None and fault.fault in ("timeout", "drop"):
            self._fail(fault)
            return
        self._send(status, reply)

    def _fail(self, fault: Fault) -> None:
        if fault.fault == "timeout":
            time.sleep(fault.delay)  # the client's read timeout fires first; then we hang up
        self._drop()

    def _apply(self, step: str, body: bytes, user: str) -> tuple[int, bytes]:
        state = self.server.state
        ctype = self.headers.get("Content-Type", "")
        if step == "status":
            return 200, _response(0, f"Remote User : {user}, Remote Ip : {self.client_address[0]}")
        if step == "submit":
            xml = _validated_xml(body, "report")
            with state.lock:
                rid = state.next_id
                state.next_id += 1
                now = time.time()
                state.reports[rid] = MockReport(rid, user, "open", xml, now, now)
            return 200, _response(0, "Success", reportId=rid)
        if step == "fileinfo":
            xml = _validated_xml(body, "fileDetails")
            root = parse_xml(body)
            with state.lock:
                report = state.open_report(root.findtext("reportId"), user)
                match = [f for f in report.files if f.file_id == (root.findtext("fileId") or "").strip()]
                if not match:
                    raise _Reply(200, _response(5002, "File does not exist", reportId=report.report_id))
                match[0].details = xml
                report.modified_at = time.time()
            return 200, _response(0, "Success", reportId=report.report_id)
        if step == "upload" or ctype.startswith("multipart/form-data"):
            fields = _multipart(ctype, body)
        else:  # application/x-www-form-urlencoded (what httpx sends for data=)
            fields = {k: (None, v[0].encode()) for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        rid_text = fields.get("id", (None, b""))[1].decode("utf-8", "replace")
        with state.lock:
            report = state.open_report(rid_text, user)
            if step == "upload":
                if "file" not in fields:
                    raise _Reply(400, _response(4200, "Malformed file submittal: no file field"))
                name, data = fields["file"]
                f = MockFile(uuid.uuid4().hex, name or "file", len(data), hashlib.md5(data).hexdigest())
                report.files.append(f)
                report.modified_at = time.time()
                return 200, _response(0, "Success", reportId=report.report_id, fileId=f.file_id, hash=f.md5)
            if step == "finish":
                report.state = "finished"
                report.modified_at = time.time()
                return 200, _done(report)
            report.state = "retracted"  # retract
            report.modified_at = time.time()
            return 200, _response(0, "Success", reportId=report.report_id)

    # -- control ----------------------------------------------------------------------------------------
    def _control(self, method: str, what: str) -> None:
        state = self.server.state
        if what == "reports" and method == "GET":
            self._send(200, json.dumps(state.snapshot()).encode(), "application/json")
        elif what == "faults" and method == "POST":
            try:
                fault = Fault(**json.loads(self._body() or b"{}"))
            except (TypeError, ValueError) as exc:
                self._send(400, json.dumps({"error": str(exc)}).encode(), "application/json")
                return
            if fault.step not in STEPS or fault.fault not in FAULTS:
                self._send(
                    400,
                    json.dumps({"error": f"step in {STEPS}, fault in {FAULTS}"}).encode(),
                    "application/json",
                )
                return
            with state.lock:
                state.faults.append(fault)
            self._send(200, json.dumps(asdict(fault)).encode(), "application/json")
        elif what == "faults" and method == "DELETE":
            with state.lock:
                state.faults.clear()
            self._send(200, b"{}", "application/json")
        elif what == "reset" and method == "POST":
            with state.lock:
                state.reports.clear()
                state.faults.clear()
                state.calls.clear()
            self._send(200, b"{}", "application/json")
        else:
            self._send(404, b'{"error": "unknown control endpoint"}', "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler sleeping in an injected timeout must not hold up shutdown

    def __init__(self, addr: tuple[str, int], state: MockState, verbose: bool) -> None:
        self.state = state
        self.verbose = verbose
        super().__init__(addr, _Handler)


class MockNcmec(LoopbackServer):
    """The conformance server; ``start()`` serves in a background thread, ``serve_forever()`` in this one."""

    thread_name = "ncmec-mock"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        users: dict[str, str] | None = None,
        expire_after: float | None = 3600.0,
        verbose: bool = False,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the mock binds to loopback only")
        self.state = MockState(users or {"haven": "haven-test-password"}, expire_after)
        self._server = _Server((host, port), self.state, verbose)

    @property
    def url(self) -> str:
        """Base URL to give the client (``…/ispws``)."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def inject(self, step: str, fault: str, **kwargs: Any) -> None:
        """Queue a fault (same as ``POST /_mock/faults``)."""
        if step not in STEPS or fault not in FAULTS:
            raise ValueError(f"step in {STEPS}, fault in {FAULTS}")
        with self.state.lock:
            self.state.faults.append(Fault(step, fault, **kwargs))

    def reports(self) -> list[dict[str, Any]]:
        """Every report the server holds, as plain dicts (same as ``GET /_mock/reports``)."""
        return self.state.snapshot()
