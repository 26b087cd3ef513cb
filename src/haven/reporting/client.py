"""HTTP client for NCMEC's CyberTipline reporting API (``/status /submit /upload /fileinfo /finish
/retract``).

Retry policy: Haven's one policy (``haven.httpretry``): only network failures and HTTP 5xx are retried,
with capped exponential backoff and jitter. A validation or authentication failure is never retried. For
the two calls that are not idempotent (``/submit`` opens a new report, ``/upload`` adds a file) a failure
*after the request may have reached the server* (read timeout, dropped connection) is not retried here
either: it raises ``OutcomeUnknownError`` and the state machine decides (see ``haven.reporting.machine``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar
from urllib.parse import urlsplit

import httpx

from haven.errors import AuthError, FormatError, RemoteError, RemoteRejectedError, UsageError
from haven.httpretry import OutcomeUnknownError as OutcomeUnknownError  # re-exported: its home was here
from haven.httpretry import RetryPolicy, send
from haven.reporting.credentials import Credentials
from haven.reporting.safexml import parse_xml

ENVIRONMENTS = {
    "production": "https://report.cybertip.org/ispws",
    "test": "https://exttest.cybertip.org/ispws",
}
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_RESPONSE_BYTES = 1 << 20

# responseCode values (NCMEC's report-response list as quoted in ../shared/reference/ncmec/README.md).
SUCCESS = 0
AUTH_CODES = {2000, 3000, 3100, 3300}
REPORT_NOT_FOUND = 5001
ALREADY_RETRACTED = 5101
ALREADY_FINISHED = 5102


class NcmecRejectedError(RemoteRejectedError):
    """NCMEC answered with a non-zero ``responseCode`` (validation, unknown report …); never retried."""

    def __init__(self, message: str, *, response_code: int | None, http_status: int) -> None:
        self.response_code = response_code
        self.http_status = http_status
        super().__init__(
            message, code=f"ncmec_{response_code}" if response_code is not None else "remote_rejected"
        )


@dataclass(frozen=True)
class ReportResponse:
    response_code: int
    description: str
    report_id: int | None = None
    file_id: str | None = None
    hash: str | None = None


@dataclass(frozen=True)
class DoneResponse:
    response_code: int
    report_id: int
    file_ids: list[str] = field(default_factory=list)


def base_url_for(environment: str, override: str | None = None) -> str:
    """The API base URL: NCMEC's for ``test``/``production``; ``override`` must be HTTPS unless loopback."""
    if override:
        parts = urlsplit(override)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise UsageError(f"{override}: NCMEC URLs must be https:// (plain http only for a local mock)")
        return override.rstrip("/")
    if environment not in ENVIRONMENTS:
        raise UsageError(
            f"unknown NCMEC environment {environment!r}: use test or production "
            "(or set HAVEN_NCMEC_URL for a mock)"
        )
    return ENVIRONMENTS[environment]


def parse_response(data: bytes) -> ReportResponse | DoneResponse:
    """Parse a ``reportResponse`` or ``reportDoneResponse`` with the hardened parser."""
    try:
        root = parse_xml(data, max_bytes=MAX_RESPONSE_BYTES)
    except FormatError as exc:
        raise RemoteError(f"unreadable NCMEC response: {exc.message}") from None

    def text(tag: str) -> str | None:
        el = root.find(tag)
        return el.text.strip() if el is not None and el.text is not None else None

    try:
        code = int(text("responseCode") or "")
        report_id = text("reportId")
        if root.tag == "reportDoneResponse":
            files = [el.text.strip() for el in root.iterfind("files/fileId") if el.text]
            return DoneResponse(code, int(report_id or 0), files)
        if root.tag == "reportResponse":
            return ReportResponse(
                code,
                text("responseDescription") or "",
                int(report_id) if report_id else None,
                text("fileId"),
                text("hash"),
            )
    except ValueError:
        raise RemoteError("NCMEC response has a non-numeric responseCode or reportId") from None
    raise RemoteError(f"unexpected NCMEC response element <{root.tag}>")


_R = TypeVar("_R", ReportResponse, DoneResponse)


class NcmecClient:
    """One authenticated session with the API; safe to reuse for many calls, not across threads."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 16.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.policy = RetryPolicy(retries=retries, backoff=backoff, max_backoff=max_backoff, sleep=sleep)
        self.calls: list[str] = []  # every HTTP request sent, in order ("POST /submit") — for tests and audit
        self._http = httpx.Client(
            auth=httpx.BasicAuth(credentials.username, credentials.password),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,  # a redirect would re-send credentials somewhere else
            headers={"User-Agent": "Haven-CyberTipline-client"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NcmecClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport with the retry policy -------------------------------------------------------------
    def _call(
        self, method: str, path: str, *, idempotent: bool, **kwargs: object
    ) -> ReportResponse | DoneResponse:
        files: dict[str, tuple[str, BinaryIO]] = kwargs.get("files") or {}  # type: ignore[assignment]

        def rewind(attempt: int, last: str) -> None:
            for value in files.values():
                stream = value[1]
                if attempt and not stream.seekable():
                    raise RemoteError(f"{last} (not retried: the upload stream cannot be rewound)")
                if stream.seekable():
                    stream.seek(0)  # a retried upload re-sends the file from the start

        resp = send(self._http, method, f"{self.base_url}{path}", policy=self.policy, idempotent=idempotent,
                    label=f"{method} {path}", base=self.base_url, before_try=rewind, calls=self.calls,
                    **kwargs)
        return self._result(method, path, resp)

    def _result(self, method: str, path: str, resp: httpx.Response) -> ReportResponse | DoneResponse:
        parsed: ReportResponse | DoneResponse | None
        try:
            parsed = parse_response(resp.content)
        except RemoteError:
            parsed = None
        code = parsed.response_code if parsed is not None else None
        if resp.status_code in (401, 403) or code in AUTH_CODES:
            raise AuthError(
                f"NCMEC refused the credentials for {method} {path}: HTTP {resp.status_code} "
                f"{_describe(parsed)}"
            )
        if parsed is None:
            raise NcmecRejectedError(
                f"{method} {path}: HTTP {resp.status_code} with no readable reportResponse",
                response_code=None,
                http_status=resp.status_code,
            )
        if resp.status_code != 200 or code != SUCCESS:
            raise NcmecRejectedError(
                f"NCMEC rejected {method} {path}: HTTP {resp.status_code} {_describe(parsed)}",
                response_code=code,
                http_status=resp.status_code,
            )
        return parsed

    # -- the API ------------------------------------------------------------------------------------
    def status(self) -> ReportResponse:
        """Check connectivity and credentials (``GET /status``)."""
        return self._expect(self._call("GET", "/status", idempotent=True), ReportResponse)

    def submit(self, report_xml: bytes) -> ReportResponse:
        """Open a report (``POST /submit``); the response carries its ``reportId``."""
        r = self._expect(
            self._call(
                "POST",
                "/submit",
                idempotent=False,
                content=report_xml,
                headers={"Content-Type": XML_CONTENT_TYPE},
            ),
            ReportResponse,
        )
        if r.report_id is None:
            raise RemoteError("NCMEC accepted /submit but sent no reportId")
        return r

    def upload(self, report_id: int, filename: str, stream: BinaryIO) -> ReportResponse:
        """Upload one file to an open report (``POST /upload``, multipart); returns ``fileId`` and MD5."""
        r = self._expect(
            self._call(
                "POST",
                "/upload",
                idempotent=False,
                data={"id": str(report_id)},
                files={"file": (filename, stream, "application/octet-stream")},
            ),
            ReportResponse,
        )
        if not r.file_id:
            raise RemoteError("NCMEC accepted /upload but sent no fileId")
        return r

    def fileinfo(self, details_xml: bytes) -> ReportResponse:
        """Send one file's ``<fileDetails>`` (``POST /fileinfo``); sending the same details again is
        harmless."""
        return self._expect(
            self._call(
                "POST",
                "/fileinfo",
                idempotent=True,
                content=details_xml,
                headers={"Content-Type": XML_CONTENT_TYPE},
            ),
            ReportResponse,
        )

    def finish(self, report_id: int) -> DoneResponse:
        """Complete the report (``POST /finish``); a repeat answers 5102 "already finished"."""
        return self._expect(
            self._call("POST", "/finish", idempotent=True, data={"id": str(report_id)}), DoneResponse
        )

    def retract(self, report_id: int) -> ReportResponse:
        """Cancel an unfinished report (``POST /retract``)."""
        return self._expect(
            self._call("POST", "/retract", idempotent=True, data={"id": str(report_id)}), ReportResponse
        )

    @staticmethod
    def _expect(value: object, cls: type[_R]) -> _R:
        if not isinstance(value, cls):
            raise RemoteError(f"NCMEC sent <{type(value).__name__}> where {cls.__name__} was expected")
        return value


def _describe(parsed: ReportResponse | DoneResponse | None) -> str:
    if parsed is None:
        return ""
    desc = getattr(parsed, "description", "")
    return f"responseCode {parsed.response_code}" + (f": {desc}" if desc else "")
