"""The conformance server itself: lifecycle response codes, auth, control endpoints, expiry."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from report_helpers import NCMEC_REF, PASSWORD, USER

from haven.errors import RemoteError
from haven.reporting.client import parse_response
from haven.reporting.mock import MockNcmec


@pytest.fixture
def http(mock: MockNcmec) -> httpx.Client:
    with httpx.Client(base_url=mock.url, auth=(USER, PASSWORD), timeout=5) as c:
        yield c


def _code(resp: httpx.Response) -> int:
    return parse_response(resp.content).response_code


def test_report_lifecycle_codes(http: httpx.Client, mock: MockNcmec) -> None:
    r = parse_response(http.post("/submit", content=(NCMEC_REF / "example-minimal.xml").read_bytes(),
                                 headers={"Content-Type": "text/xml; charset=utf-8"}).content)
    rid = r.report_id
    assert r.response_code == 0 and rid
    up = parse_response(
        http.post("/upload", data={"id": str(rid)}, files={"file": ("a.bin", b"abc\r\n\0")}).content
    )
    assert up.hash == hashlib.md5(b"abc\r\n\0").hexdigest() and up.file_id
    details = (
        (NCMEC_REF / "example-fileDetails.xml")
        .read_text()
        .replace("4564654", str(rid))
        .replace("0" * 32, up.file_id)
    )
    assert _code(http.post("/fileinfo", content=details.encode())) == 0
    assert _code(http.post("/fileinfo", content=details.replace(up.file_id, "f" * 32).encode())) == 5002
    done = parse_response(http.post("/finish", data={"id": str(rid)}).content)
    assert done.response_code == 0 and done.file_ids == [up.file_id]
    assert _code(http.post("/finish", data={"id": str(rid)})) == 5102
    assert _code(http.post("/retract", data={"id": str(rid)})) == 5102
    assert _code(http.post("/upload", data={"id": "42"}, files={"file": ("a", b"x")})) == 5001
    assert mock.reports()[0]["state"] == "finished" and mock.reports()[0]["files"][0]["size"] == 6


def test_validation_auth_and_malformed(http: httpx.Client, mock: MockNcmec) -> None:
    bad = http.post("/submit", content=b"<report><nope/></report>")
    assert bad.status_code == 400 and _code(bad) == 4100 and "/report/nope" in bad.text
    evil = http.post(
        "/submit", content=b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><report>&x;</report>'
    )
    assert evil.status_code == 400 and _code(evil) == 4110
    noauth = httpx.get(f"{mock.url}/status")
    assert noauth.status_code == 401 and _code(noauth) == 2000
    assert http.get("/xsd").content.startswith(b"<?xml")
    assert mock.reports() == []


def test_control_endpoints_and_expiry(http: httpx.Client, mock: MockNcmec) -> None:
    root = mock.url.rsplit("/ispws", 1)[0]
    assert httpx.post(f"{root}/_mock/faults", json={"step": "status", "fault": "http_500"}).status_code == 200
    assert httpx.post(f"{root}/_mock/faults", json={"step": "nope", "fault": "drop"}).status_code == 400
    assert http.get("/status").status_code == 500
    assert http.get("/status").status_code == 200  # one-shot fault
    rid = parse_response(
        http.post("/submit", content=(NCMEC_REF / "example-minimal.xml").read_bytes()).content
    ).report_id
    assert [r["report_id"] for r in httpx.get(f"{root}/_mock/reports").json()] == [rid]
    mock.state.expire_after = 0.0
    assert _code(http.post("/finish", data={"id": str(rid)})) == 5001  # unfinished reports expire
    assert httpx.post(f"{root}/_mock/reset").status_code == 200 and mock.reports() == []


def test_mock_refuses_non_loopback() -> None:
    with pytest.raises(ValueError):
        MockNcmec(host="0.0.0.0")


class _Unseekable(io.RawIOBase):
    """A stream of unknown length that cannot be rewound (an evidence-vault download, say)."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        chunk = self._buf.read(min(len(b), 7))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_upload_of_a_stream_of_unknown_length(mock: MockNcmec) -> None:
    from haven.reporting.client import NcmecClient
    from haven.reporting.credentials import Credentials

    data = bytes(range(256)) * 100
    with NcmecClient(mock.url, Credentials(USER, PASSWORD), timeout=5, backoff=0.01) as c:
        rid = c.submit((NCMEC_REF / "example-minimal.xml").read_bytes()).report_id
        assert rid is not None
        r = c.upload(rid, "stream.bin", _Unseekable(data))
        assert r.hash == hashlib.md5(data).hexdigest()
        mock.inject("upload", "http_500")
        with pytest.raises(RemoteError, match="cannot be rewound"):
            c.upload(rid, "stream.bin", _Unseekable(data))
    assert [f["size"] for f in mock.reports()[0]["files"]] == [len(data)]
