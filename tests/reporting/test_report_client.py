"""The NCMEC client: response parsing, the retry policy (network errors and 5xx only), auth, URLs."""

from __future__ import annotations

import io

import httpx
import pytest
from report_helpers import NCMEC_REF, PASSWORD, USER

from haven.errors import AuthError, RemoteError, UsageError
from haven.reporting.client import (
    DoneResponse,
    NcmecClient,
    NcmecRejectedError,
    OutcomeUnknownError,
    ReportResponse,
    base_url_for,
    parse_response,
)
from haven.reporting.credentials import Credentials
from haven.reporting.mock import MockNcmec

OK = b"<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription>" \
     b"<reportId>4564654</reportId></reportResponse>"
DONE = b"<reportDoneResponse><responseCode>0</responseCode><reportId>4564654</reportId><files>" \
       b"<fileId>b0754af766b426f2928a02c651ed4b99</fileId></files></reportDoneResponse>"


def _client(handler, **kw) -> tuple[NcmecClient, list[float]]:  # type: ignore[no-untyped-def]
    sleeps: list[float] = []
    c = NcmecClient(
        "https://ncmec.invalid/ispws",
        Credentials("u", "p"),
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        **kw,
    )
    return c, sleeps


def test_parse_documented_example_responses() -> None:
    assert parse_response(OK) == ReportResponse(0, "Success", 4564654)
    assert parse_response(DONE) == DoneResponse(0, 4564654, ["b0754af766b426f2928a02c651ed4b99"])


def test_hostile_response_is_refused() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><reportResponse>&x;'
        b"</reportResponse>"
    )
    with pytest.raises(RemoteError, match="DOCTYPE"):
        parse_response(evil)


def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(503) if len(seen) < 3 else httpx.Response(200, content=OK)

    c, sleeps = _client(handler, retries=4, backoff=0.5)
    assert c.submit(b"<report/>").report_id == 4564654
    assert len(seen) == 3 and len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_5xx_gives_up_after_the_retry_budget() -> None:
    calls = []
    c, _ = _client(lambda r: calls.append(1) or httpx.Response(500, text="boom"), retries=2)
    with pytest.raises(RemoteError, match="gave up after 3 tries"):
        c.finish(1)
    assert len(calls) == 3


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_4xx_is_never_retried(status: int) -> None:
    calls = []
    body = (
        b"<reportResponse><responseCode>4100</responseCode><responseDescription>Validation failed"
        b"</responseDescription></reportResponse>"
    )
    c, sleeps = _client(lambda r: calls.append(1) or httpx.Response(status, content=body))
    with pytest.raises(NcmecRejectedError) as exc:
        c.fileinfo(b"<fileDetails/>")
    assert len(calls) == 1 and not sleeps
    assert exc.value.response_code == 4100 and exc.value.code == "ncmec_4100"


@pytest.mark.parametrize(("status", "code"), [(401, 2000), (403, 3000), (200, 3100)])
def test_auth_failures_are_never_retried(status: int, code: int) -> None:
    calls = []
    body = (
        f"<reportResponse><responseCode>{code}</responseCode><responseDescription>no</responseDescription>"
        "</reportResponse>".encode()
    )
    c, _ = _client(lambda r: calls.append(1) or httpx.Response(status, content=body))
    with pytest.raises(AuthError):
        c.status()
    assert len(calls) == 1


def test_nonzero_response_code_with_http_200_is_a_rejection() -> None:
    body = (
        b"<reportResponse><responseCode>5102</responseCode><responseDescription>Report already finished"
        b"</responseDescription></reportResponse>"
    )
    c, _ = _client(lambda r: httpx.Response(200, content=body))
    with pytest.raises(NcmecRejectedError) as exc:
        c.finish(1)
    assert exc.value.response_code == 5102


def test_connect_errors_are_retried_even_for_submit() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=OK)

    c, _ = _client(handler)
    assert c.submit(b"<report/>").report_id == 4564654 and len(calls) == 2


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
def test_maybe_applied_failures_are_not_retried_for_submit_and_upload(
    exc: type[httpx.TransportError],
) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise exc("lost", request=request)

    c, _ = _client(handler)
    with pytest.raises(OutcomeUnknownError):
        c.submit(b"<report/>")
    with pytest.raises(OutcomeUnknownError):
        c.upload(1, "a.jpg", io.BytesIO(b"x"))
    assert len(calls) == 2


def test_maybe_applied_failures_are_retried_for_idempotent_calls() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, content=DONE)

    c, _ = _client(handler)
    assert c.finish(4564654).file_ids == ["b0754af766b426f2928a02c651ed4b99"] and len(calls) == 3


def test_requests_carry_basic_auth_and_the_documented_shapes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if request.url.path.endswith("/upload"):
            return httpx.Response(200, content=OK.replace(b"</reportId>", b"</reportId><fileId>f1</fileId>"))
        return httpx.Response(200, content=DONE if request.url.path.endswith("/finish") else OK)

    c, _ = _client(handler)
    c.submit(b"<report/>")
    c.upload(4564654, "a.jpg", io.BytesIO(b"bytes"))
    c.finish(4564654)
    sub, up, fin = seen
    assert sub.headers["authorization"].startswith("Basic ") and sub.headers["content-type"].startswith(
        "text/xml"
    )
    assert up.headers["content-type"].startswith("multipart/form-data")
    assert b'name="id"' in up.content and b'name="file"; filename="a.jpg"' in up.content
    assert fin.content == b"id=4564654"


def test_base_urls() -> None:
    assert base_url_for("test") == "https://exttest.cybertip.org/ispws"
    assert base_url_for("production") == "https://report.cybertip.org/ispws"
    assert base_url_for("x", "http://127.0.0.1:9/ispws/") == "http://127.0.0.1:9/ispws"
    for bad in ("http://example.com/ispws", "ftp://127.0.0.1/x"):
        with pytest.raises(UsageError):
            base_url_for("test", bad)
    with pytest.raises(UsageError):
        base_url_for("staging")


def test_against_the_mock_over_http(mock: MockNcmec) -> None:
    with NcmecClient(mock.url, Credentials(USER, PASSWORD), timeout=2, backoff=0.01) as c:
        assert c.status().description.startswith(f"Remote User : {USER}")
        invalid = (
            (NCMEC_REF / "example-minimal.xml")
            .read_bytes()
            .replace(b"<incidentType>", b"<incidentKind>")
            .replace(b"</incidentType>", b"</incidentKind>")
        )
        with pytest.raises(NcmecRejectedError) as exc:
            c.submit(invalid)
        assert exc.value.response_code == 4100 and "/report/incidentSummary/incidentKind" in exc.value.message
        assert c.calls == ["GET /status", "POST /submit"]  # the 400 was not retried
    with NcmecClient(mock.url, Credentials(USER, "wrong"), timeout=2) as bad:
        with pytest.raises(AuthError):
            bad.status()
        assert bad.calls == ["GET /status"]
    assert mock.state.calls == ["GET /status", "POST /submit", "GET /status"]
