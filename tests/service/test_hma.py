"""HMA 2.0's API under /hma on a live ``haven serve`` app, on SQLite and PostgreSQL.

The request/response pairs of HMA's own API tests (facebook/ThreatExchange
``hasher-matcher-actioner/src/OpenMediaMatch/tests/``: test_api_banks.py, test_match_api.py, test_api.py,
test_e2e_workflow.py, test_hashing.py), re-expressed against Haven: a local image server stands in for the
media URLs (benign photos from ../shared, not HMA's checkerboards, whose PDQ Haven calls too weak to bank),
and Haven's API keys are sent. Beside them: keyless and wrong-scope requests are refused, a signal added
through /hma/c is matched within a second, banks are shared with the native API, ``disable_until_ts`` and
``enabled_ratio`` are honoured.
"""

from __future__ import annotations

import hashlib
import http.server
import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from service_live import PHOTOS, LiveService, eventually, service_settings, start_service, wait_ready

from haven.hashing import hash_file

PHOTO_1, PHOTO_2, PHOTO_3 = sorted(PHOTOS.glob("*.jpg"))[:3]
PDQ = {p.name: hash_file(p).hashes["pdq"] for p in (PHOTO_1, PHOTO_2, PHOTO_3)}
# Two PDQ values 9 bits apart: the pair HMA's test_compare_hashes uses (test vectors, source above).
SPECIMEN_1 = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318"
SPECIMEN_2 = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318"


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    """A local server for the media URLs: /<photo name>, and /redirect to the cloud metadata address."""
    files = {f"/{p.name}": p.read_bytes() for p in (PHOTO_1, PHOTO_2, PHOTO_3)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files.get(self.path)
            if data is None:
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def svc(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One live service per database (the SSRF guard lets the loopback image server through)."""
    settings = service_settings(tmp_path_factory.mktemp("hma"), module_db_url, fetch_allow="127.0.0.1/32",
                                fetch_timeout=5.0)
    server, live = start_service(settings)
    with server:
        wait_ready(live.url)
        yield live
    live.close()


class Hma:
    """A client for /hma with a key (``url`` of the image server for content added by URL)."""

    def __init__(self, svc: LiveService, key: str | None, images: str = "") -> None:
        self.http = svc.client(key)
        self.images = images

    def __enter__(self) -> Hma:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(f"/hma{path}", **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(f"/hma{path}", **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(f"/hma{path}", **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(f"/hma{path}", **kw)

    def create_bank(self, name: str) -> None:
        r = self.post("/c/banks", json={"name": name})
        assert r.status_code == 201, r.text
        assert r.json() == {"matching_enabled_ratio": 1.0, "name": name}

    def add_url(self, bank: str, photo: str, **kw: Any) -> int:
        r = self.post(f"/c/bank/{bank}/content", params={"url": f"{self.images}/{photo}",
                                                         "content_type": "photo"}, **kw)
        assert r.status_code == 200, r.text
        assert r.json()["signals"] == {"pdq": PDQ[photo]}
        return int(r.json()["id"])


@pytest.fixture(scope="module")
def writer(svc: LiveService, images: str) -> Iterator[Hma]:
    """A client with a key holding both scopes a curator needs."""
    key = svc.keys.create("hma-curator", ["match", "banks:write"])[1]
    with Hma(svc, key, images) as hma:
        yield hma


def only_message(r: httpx.Response) -> str:
    """HMA's error object: ``{"message": …}`` and nothing else."""
    body = r.json()
    assert set(body) == {"message"}, body
    return str(body["message"])


# -- curation: banks (test_api_banks.py) -------------------------------------------------------------------


def test_banks_empty_index(writer: Hma) -> None:
    r = writer.get("/c/banks")
    assert r.status_code == 200 and r.json() == []


def test_banks_create(writer: Hma) -> None:
    for bad in ("01_TEST_BANK", "my_test_bank"):  # must not start with a digit; no lower case
        r = writer.post("/c/banks", json={"name": bad})
        assert r.status_code == 400
        assert only_message(r) == "Bank names must be UPPER_WITH_UNDERSCORE"
    r = writer.post("/c/banks", json={"name": "MY_TEST_BANK_01"})
    assert r.status_code == 201 and r.json() == {"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}
    assert r.json() in writer.get("/c/banks").json()
    again = writer.post("/c/banks", json={"name": "MY_TEST_BANK_01"})
    assert again.status_code == 403 and "already exists" in only_message(again)
    # Coop sends the ratio as a string
    r = writer.post("/c/banks", json={"name": "COOP_ORG1_RATIO", "enabled_ratio": "0.25"})
    assert r.status_code == 201 and r.json()["matching_enabled_ratio"] == 0.25


def test_banks_update(writer: Hma) -> None:
    writer.create_bank("MY_TEST_BANK")
    assert writer.put("/c/bank/MY_TEST_BANK", json={"name": "1_invalid_name"}).status_code == 400
    r = writer.put("/c/bank/MY_TEST_BANK", json={"name": "MY_TEST_BANK_RENAMED"})
    assert r.status_code == 200 and r.json()["name"] == "MY_TEST_BANK_RENAMED"
    r = writer.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled": False})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0
    r = writer.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 0.5})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0.5
    names = [b["name"] for b in writer.get("/c/banks").json()]
    assert "MY_TEST_BANK_RENAMED" in names and "MY_TEST_BANK" not in names
    assert {"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 0.5} in writer.get("/c/banks").json()
    assert writer.put("/c/bank/NO_SUCH_BANK", json={"enabled": True}).status_code == 404
    writer.create_bank("MY_TEST_BANK_TAKEN")
    taken = writer.put("/c/bank/MY_TEST_BANK_RENAMED", json={"name": "MY_TEST_BANK_TAKEN"})
    assert taken.status_code == 403


def test_banks_show_and_delete(writer: Hma) -> None:
    writer.create_bank("MY_DELETED_BANK")
    r = writer.get("/c/bank/MY_DELETED_BANK")
    assert r.status_code == 200 and r.json() == {"name": "MY_DELETED_BANK", "matching_enabled_ratio": 1.0}
    assert writer.delete("/c/bank/MY_DELETED_BANK").json() == {"message": "Done"}
    again = writer.delete("/c/bank/MY_DELETED_BANK")  # deleting a bank that is not there succeeds
    assert again.status_code == 200 and again.json() == {"message": "Done"}
    missing = writer.get("/c/bank/MY_DELETED_BANK")
    assert missing.status_code == 404 and only_message(missing) == "bank 'MY_DELETED_BANK' not found"


# -- curation: contents ------------------------------------------------------------------------------------


def test_bank_get_content(writer: Hma) -> None:
    assert writer.get("/c/bank/TEST_BANK_GET/content/1").status_code == 404  # no such bank
    writer.create_bank("TEST_BANK_GET")
    assert writer.get("/c/bank/TEST_BANK_GET/content/999999").status_code == 404  # no such content
    cid = writer.add_url("TEST_BANK_GET", PHOTO_1.name)
    r = writer.get(f"/c/bank/TEST_BANK_GET/content/{cid}")
    assert r.status_code == 200
    assert r.json() == {"id": cid, "disable_until_ts": 1, "original_media_uri": None,
                        "bank": {"name": "TEST_BANK_GET", "matching_enabled_ratio": 1.0}}
    with_signals = writer.get(f"/c/bank/TEST_BANK_GET/content/{cid}", params={"include_signals": "true"})
    assert with_signals.json()["signals"] == {"pdq": PDQ[PHOTO_1.name]}
    # a content is found in its own bank only
    writer.create_bank("TEST_BANK_OTHER")
    assert writer.get(f"/c/bank/TEST_BANK_OTHER/content/{cid}").status_code == 404


def test_bank_update_content(writer: Hma) -> None:
    writer.create_bank("TEST_BANK_UPDATE")
    cid = writer.add_url("TEST_BANK_UPDATE", PHOTO_1.name)
    until = int((datetime.now() + timedelta(days=365)).timestamp())
    r = writer.put(f"/c/bank/TEST_BANK_UPDATE/content/{cid}", json={"disable_until_ts": until})
    assert r.status_code == 200 and r.json()["disable_until_ts"] == until
    assert r.json()["id"] == cid and r.json()["bank"]["name"] == "TEST_BANK_UPDATE"
    for bad in (9999999999, -1, "soon"):  # beyond five years; negative; not a number
        r = writer.put(f"/c/bank/TEST_BANK_UPDATE/content/{cid}", json={"disable_until_ts": bad})
        assert r.status_code == 400, (bad, r.text)
        only_message(r)
    assert writer.put("/c/bank/TEST_BANK_UPDATE/content/999999", json={"note": "x"}).status_code == 404


def test_banks_delete_content(writer: Hma) -> None:
    writer.create_bank("DELETE_CONTENT_BANK")
    cid = writer.add_url("DELETE_CONTENT_BANK", PHOTO_2.name)
    r = writer.delete(f"/c/bank/DELETE_CONTENT_BANK/content/{cid}")
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert writer.delete(f"/c/bank/DELETE_CONTENT_BANK/content/{cid}").json() == {"deleted": 0}
    assert writer.get(f"/c/bank/DELETE_CONTENT_BANK/content/{cid}").status_code == 404
    assert writer.delete(f"/c/bank/NO_SUCH_BANK/content/{cid}").status_code == 404


def test_banks_add_metadata(writer: Hma) -> None:
    writer.create_bank("META_BANK")
    params = {"url": f"{writer.images}/{PHOTO_1.name}", "content_type": "photo"}
    bad = writer.post("/c/bank/META_BANK/content", params=params, json={"metadata": {"invalid_metadata": 5}})
    assert bad.status_code == 400 and only_message(bad).startswith("Invalid metadata")
    metadata = {"content_id": "ext-id-123", "content_uri": "https://example.com/item/123",
                "json": {"source": "test", "nested": {"key": "value"}}}
    r = writer.post("/c/bank/META_BANK/content", params=params, json={"metadata": metadata})
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    got = writer.get(f"/c/bank/META_BANK/content/{cid}").json()
    assert got["metadata"] == metadata
    hidden = writer.get(f"/c/bank/META_BANK/content/{cid}", params={"include_metadata": "false"}).json()
    assert "metadata" not in hidden


def test_bank_content_notes(writer: Hma) -> None:
    writer.create_bank("TEST_BANK_NOTE")
    cid = writer.add_url("TEST_BANK_NOTE", PHOTO_1.name, json={"note": "Reported by user X"})
    assert writer.get(f"/c/bank/TEST_BANK_NOTE/content/{cid}").json()["note"] == "Reported by user X"
    for note in ("Initial note", "Updated note"):
        assert writer.put(f"/c/bank/TEST_BANK_NOTE/content/{cid}", json={"note": note}).status_code == 200
        assert writer.get(f"/c/bank/TEST_BANK_NOTE/content/{cid}").json()["note"] == note
    assert writer.put(f"/c/bank/TEST_BANK_NOTE/content/{cid}", json={"note": ""}).status_code == 200
    assert "note" not in writer.get(f"/c/bank/TEST_BANK_NOTE/content/{cid}").json()
    writer.create_bank("TEST_BANK_NO_NOTE")
    bare = writer.add_url("TEST_BANK_NO_NOTE", PHOTO_2.name)
    assert "note" not in writer.get(f"/c/bank/TEST_BANK_NO_NOTE/content/{bare}").json()
    long = writer.post("/c/bank/TEST_BANK_NO_NOTE/content",
                       params={"url": f"{writer.images}/{PHOTO_3.name}"}, json={"note": "x" * 256})
    assert long.status_code == 400


def test_bank_add_hash_with_note(writer: Hma) -> None:
    writer.create_bank("TEST_BANK_HASH_NOTE")
    pdq = PDQ[PHOTO_3.name]
    r = writer.post("/c/bank/TEST_BANK_HASH_NOTE/signal", json={"pdq": pdq, "note": "Hash from campaign ABC"})
    assert r.status_code == 200 and r.json()["signals"] == {"pdq": pdq}
    got = writer.get(f"/c/bank/TEST_BANK_HASH_NOTE/content/{r.json()['id']}").json()
    assert got["note"] == "Hash from campaign ABC"
    # HMA's own test banks an all-zero PDQ; Haven refuses such a weak value unless told to (?force=true)
    zero = {"pdq": "0" * 64}
    weak = writer.post("/c/bank/TEST_BANK_HASH_NOTE/signal", json=zero)
    assert weak.status_code == 400 and "not added" in only_message(weak)
    forced = writer.post("/c/bank/TEST_BANK_HASH_NOTE/signal", params={"force": "true"}, json=zero)
    assert forced.status_code == 200
    for body in ({}, {"no_such_type": "abc"}, {"pdq": "banana"}):
        r = writer.post("/c/bank/TEST_BANK_HASH_NOTE/signal", json=body)
        assert r.status_code == 400, (body, r.text)
        only_message(r)
    assert writer.post("/c/bank/NO_SUCH_BANK/signal", json={"pdq": pdq}).status_code == 404


def test_content_of_several_signals(writer: Hma) -> None:
    """One content, two signals: one id, found by either."""
    writer.create_bank("TWO_SIGNAL_BANK")
    md5 = hashlib.md5(b"haven-hma-two-signals").hexdigest()
    pdq = PDQ[PHOTO_2.name]
    r = writer.post("/c/bank/TWO_SIGNAL_BANK/signal", json={"pdq": pdq, "video_md5": md5})
    assert r.status_code == 200 and r.json()["signals"] == {"pdq": pdq, "video_md5": md5}
    cid = r.json()["id"]
    for signal_type, value in (("pdq", pdq), ("video_md5", md5)):
        query = {"signal_type": signal_type, "signal": value, "banks": "TWO_SIGNAL_BANK"}
        found = eventually(lambda q=query: writer.get("/m/raw_lookup", params=q).json()["matches"])
        assert found == [cid], signal_type
    assert writer.delete(f"/c/bank/TWO_SIGNAL_BANK/content/{cid}").json() == {"deleted": 1}
    left = writer.get("/m/raw_lookup", params={"signal_type": "video_md5", "signal": md5,
                                               "banks": "TWO_SIGNAL_BANK"}).json()
    assert left == {"matches": []}


# -- matching (test_match_api.py, test_e2e_workflow.py) ----------------------------------------------------


def test_banks_add_hash_index(writer: Hma) -> None:
    writer.create_bank("NEW_BANK")
    first = writer.add_url("NEW_BANK", PHOTO_1.name)
    writer.create_bank("NEW_BANK_2")
    second = writer.add_url("NEW_BANK_2", PHOTO_2.name)
    for photo, cid in ((PHOTO_1, first), (PHOTO_2, second)):
        query = {"signal_type": "pdq", "signal": PDQ[photo.name], "banks": "NEW_BANK,NEW_BANK_2"}
        r = eventually(lambda q=query: (x := writer.get("/m/raw_lookup", params=q)).json()["matches"] and x)
        assert r.status_code == 200 and r.json() == {"matches": [cid]}


@pytest.fixture(scope="module")
def three_banks(writer: Hma) -> list[int]:
    """BANK_A, BANK_B and BANK_C each hold the same PDQ (test_match_api's multi-bank fixture)."""
    ids = []
    for name in ("BANK_A", "BANK_B", "BANK_C"):
        writer.create_bank(name)
        ids.append(writer.post(f"/c/bank/{name}/signal", json={"pdq": SPECIMEN_1}).json()["id"])
    assert eventually(lambda: len(writer.get("/m/raw_lookup", params={
        "signal_type": "pdq", "signal": SPECIMEN_1, "banks": "BANK_A,BANK_B,BANK_C"}).json()["matches"]) == 3)
    return ids


def test_raw_lookup_with_bank_filter(writer: Hma, three_banks: list[int]) -> None:
    query = {"signal": SPECIMEN_1, "signal_type": "pdq"}
    assert len(writer.get("/m/raw_lookup", params=query).json()["matches"]) == 3
    for banks, count in (("BANK_A", 1), ("BANK_A,BANK_B", 2), ("NON_EXISTENT_BANK", 0)):
        r = writer.get("/m/raw_lookup", params={**query, "banks": banks})
        assert r.status_code == 200 and len(r.json()["matches"]) == count, banks
    r = writer.get("/m/raw_lookup", params={**query, "include_distance": "true", "banks": "BANK_A,BANK_B"})
    assert r.json() == {"matches": [{"bank_content_id": three_banks[0], "distance": "0"},
                                    {"bank_content_id": three_banks[1], "distance": "0"}]}
    # the lean path (fastpath.py) and the FastAPI route (which takes "yes", a spelling the lean path leaves
    # to it) answer alike
    routed = writer.get("/m/raw_lookup",
                        params={**query, "include_distance": "yes", "banks": "BANK_A,BANK_B"})
    assert routed.json() == r.json()
    # the specimen 9 bits away is within PDQ's threshold: its distance, as HMA writes it (a string)
    near = writer.get("/m/raw_lookup", params={"signal": SPECIMEN_2, "signal_type": "pdq",
                                               "include_distance": "true", "banks": "BANK_C"})
    assert near.json() == {"matches": [{"bank_content_id": three_banks[2], "distance": "9"}]}


def test_lookup_with_bank_filter(writer: Hma, three_banks: list[int]) -> None:
    query = {"signal": SPECIMEN_1, "signal_type": "pdq"}
    r = writer.get("/m/lookup", params=query)
    assert r.status_code == 200
    assert {k: v for k, v in r.json().items() if k.startswith("BANK_")} == {
        name: [{"bank_content_id": cid, "distance": "0"}]
        for name, cid in zip(("BANK_A", "BANK_B", "BANK_C"), three_banks, strict=True)}
    assert set(writer.get("/m/lookup", params={**query, "banks": "BANK_A"}).json()) == {"BANK_A"}
    two = writer.get("/m/lookup", params={**query, "banks": "BANK_A,BANK_C"}).json()
    assert set(two) == {"BANK_A", "BANK_C"}
    assert writer.get("/m/lookup", params={**query, "banks": "NON_EXISTENT_BANK"}).json() == {}
    # no match at all: {} (test_e2e_workflow)
    assert writer.get("/m/lookup", params={"signal_type": "pdq", "signal": "5" * 64}).json() == {}
    r = writer.get("/m/lookup", params={"signal_type": "pdq"})
    assert r.status_code == 400
    assert only_message(r) == "Either url or both signal and signal_type are required"
    r = writer.get("/m/lookup", params={"signal_type": "no_such_type", "signal": "abc"})
    assert r.status_code == 400 and only_message(r) == "No such SignalType 'no_such_type'"


def test_lookup_by_url_and_upload(writer: Hma) -> None:
    writer.create_bank("LOOKUP_BANK")
    cid = writer.add_url("LOOKUP_BANK", PHOTO_3.name)
    expect = {"LOOKUP_BANK": [{"bank_content_id": cid, "distance": "0"}]}

    def by_url() -> Any:
        body = writer.get("/m/lookup", params={"url": f"{writer.images}/{PHOTO_3.name}",
                                               "banks": "LOOKUP_BANK"}).json()
        return body if body.get("pdq") else None

    assert eventually(by_url) == {"pdq": expect}
    selected = writer.get("/m/lookup", params={"url": f"{writer.images}/{PHOTO_3.name}", "signal_type": "pdq",
                                               "banks": "LOOKUP_BANK"})
    assert selected.json() == expect
    files = {"photo": (PHOTO_3.name, PHOTO_3.read_bytes(), "image/jpeg")}
    r = writer.post("/m/lookup", params={"banks": "LOOKUP_BANK"}, files=files)
    assert r.status_code == 200 and r.json() == {"pdq": expect}
    # "It's not really a video, but MD5 is simple": a photo sent as a video is looked up by its MD5
    video = writer.post("/m/lookup", files={"video": (PHOTO_3.name, PHOTO_3.read_bytes(), "video/mp4")})
    assert video.status_code == 200 and set(video.json()) == {"video_md5"}


def test_index_status(writer: Hma, three_banks: list[int]) -> None:
    r = writer.get("/m/index/status", params={"signal_type": "pdq"})
    assert r.status_code == 200 and set(r.json()) == {"pdq"}
    status = r.json()["pdq"]
    assert status["present"] is True and status["size"] >= 3 and status["built_to"] > 0
    everything = writer.get("/m/index/status").json()
    assert {"pdq", "video_md5"} <= set(everything)
    assert writer.get("/m/index/status", params={"signal_type": "nope"}).status_code == 400


def test_compare_hashes(writer: Hma) -> None:
    r = writer.post("/m/compare", json={"pdq": [SPECIMEN_1, SPECIMEN_2]})
    assert r.status_code == 200 and r.json() == {"pdq": [True, {"distance": 9}]}
    for bad in (["banana"], {"pdq": "banana"}, {"pdq": []}, {"pdq": ["banana", "banana"]},
                {"pdq": [SPECIMEN_1, SPECIMEN_2, SPECIMEN_1]}):
        r = writer.post("/m/compare", json=bad)
        assert r.status_code == 400, bad
        only_message(r)


# -- hashing (test_hashing.py, test_api.py) ----------------------------------------------------------------


def test_hash_url_and_upload(writer: Hma) -> None:
    r = writer.get("/h/hash", params={"url": f"{writer.images}/{PHOTO_1.name}"})
    assert r.status_code == 200 and r.json() == {"pdq": PDQ[PHOTO_1.name]}
    data = PHOTO_1.read_bytes()
    assert writer.post("/h/hash", files={"photo": ("p.jpg", data, "image/jpeg")}).json() == {
        "pdq": PDQ[PHOTO_1.name]}
    assert writer.post("/h/hash", files={"video": ("p.jpg", data, "video/mp4")}).json() == {
        "video_md5": hashlib.md5(data).hexdigest()}
    bad_field = writer.post("/h/hash", files={"file": ("p.jpg", data, "image/jpeg")})
    assert bad_field.status_code == 400 and only_message(bad_field) == "no such content_type: 'file'"
    two = writer.post("/h/hash", files=[("photo", ("a.jpg", data, "image/jpeg")),
                                        ("photo", ("b.jpg", data, "image/jpeg"))])
    assert two.status_code == 400 and only_message(two) == "Only one file allowed per request"
    none = writer.post("/h/hash", data={"x": "y"})
    assert none.status_code == 400


def test_hash_url_goes_through_the_ssrf_guard(writer: Hma) -> None:
    for url in (f"{writer.images}/redirect", "http://10.0.0.1/x", "ftp://127.0.0.1/x", "file:///etc/passwd"):
        r = writer.get("/h/hash", params={"url": url})
        assert r.status_code == 400, (url, r.text)
        only_message(r)
    redirect = writer.get("/h/hash", params={"url": f"{writer.images}/redirect"})
    assert "169.254.169.254" in only_message(redirect)
    added = writer.post("/c/bank/NEW_BANK/content", params={"url": "http://10.0.0.1/x"})
    assert added.status_code == 400


def test_signal_and_content_types(writer: Hma) -> None:
    assert writer.get("/c/signal_type").json() == [
        {"name": "pdq", "enabled_ratio": 1.0}, {"name": "video_md5", "enabled_ratio": 1.0},
        {"name": "vpdq", "enabled_ratio": 1.0}]
    assert writer.get("/c/content_type").json() == [{"name": "photo", "enabled": True},
                                                    {"name": "video", "enabled": True}]


def test_status(writer: Hma) -> None:
    for path in ("/status", "/status/live"):
        r = writer.get(path)
        assert r.status_code == 200 and r.text == "I-AM-ALIVE"


# -- Haven's security, hot updates, one set of banks -------------------------------------------------------

ENDPOINTS = [
    ("GET", "/m/raw_lookup?signal_type=pdq&signal=" + SPECIMEN_1, "match"),
    ("GET", "/m/lookup?signal_type=pdq&signal=" + SPECIMEN_1, "match"),
    ("POST", "/m/lookup", "match"),
    ("GET", "/m/index/status", "match"),
    ("POST", "/m/compare", "match"),
    ("GET", "/h/hash?url=http://127.0.0.1/x", "match"),
    ("POST", "/h/hash", "match"),
    ("GET", "/status", None),
    ("GET", "/c/banks", "read"),
    ("GET", "/c/bank/BANK_A", "read"),
    ("GET", "/c/bank/BANK_A/content/1", "read"),
    ("GET", "/c/signal_type", "read"),
    ("GET", "/c/content_type", "read"),
    ("POST", "/c/banks", "banks:write"),
    ("PUT", "/c/bank/BANK_A", "banks:write"),
    ("DELETE", "/c/bank/BANK_A", "banks:write"),
    ("POST", "/c/bank/BANK_A/signal", "banks:write"),
    ("POST", "/c/bank/BANK_A/content", "banks:write"),
    ("PUT", "/c/bank/BANK_A/content/1", "banks:write"),
    ("DELETE", "/c/bank/BANK_A/content/1", "banks:write"),
]


def test_keyless_and_wrong_scope_refused(svc: LiveService, three_banks: list[int]) -> None:
    with Hma(svc, None) as keyless, Hma(svc, svc.match) as matcher, Hma(svc, svc.writer) as bank_writer, \
            Hma(svc, "hvn_not_a_key") as forged:
        refused(keyless, matcher, bank_writer, forged)


def refused(keyless: Hma, matcher: Hma, bank_writer: Hma, forged: Hma) -> None:
    for method, path, scope in ENDPOINTS:
        r = keyless.http.request(method, f"/hma{path}", json={})
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["www-authenticate"].startswith("Bearer") and only_message(r)
        wrong = {"match": bank_writer, "banks:write": matcher}.get(scope or "")
        if wrong is not None:
            r = wrong.http.request(method, f"/hma{path}", json={})
            assert r.status_code == 403, (method, path, r.status_code, r.text)
            only_message(r)
    # reading banks is open to matchers and bank writers alike (as /v1/banks)
    for client in (matcher, bank_writer):
        assert client.get("/c/banks").status_code == 200
    assert forged.get("/c/banks").status_code == 401
    assert any(b["name"] == "BANK_A" for b in matcher.get("/c/banks").json())  # nothing was changed


def test_signal_added_is_matched_within_a_second(writer: Hma) -> None:
    writer.create_bank("HOT_BANK")
    pdq = PDQ[PHOTO_2.name]
    query = {"signal_type": "pdq", "signal": pdq, "banks": "HOT_BANK"}
    assert writer.get("/m/raw_lookup", params=query).json() == {"matches": []}
    started = time.monotonic()
    cid = writer.post("/c/bank/HOT_BANK/signal", json={"pdq": pdq}).json()["id"]
    found = eventually(lambda: writer.get("/m/raw_lookup", params=query).json()["matches"], timeout=1.0)
    elapsed = time.monotonic() - started
    assert found == [cid], f"not matched within 1 s ({elapsed:.2f} s)"
    print(f"HMA hot update: signal matched {elapsed * 1000:.0f} ms after it was added")


def test_banks_are_haven_banks(svc: LiveService, writer: Hma) -> None:
    """A bank made through /hma is an ordinary Haven bank, and the reverse."""
    writer.create_bank("SHARED_BANK")
    cid = writer.add_url("SHARED_BANK", PHOTO_1.name)
    with svc.client(svc.admin) as native:
        shared_both_ways(native, writer, cid)


def shared_both_ways(native: httpx.Client, writer: Hma, cid: int) -> None:
    shown = native.get("/v1/banks/SHARED_BANK").json()
    assert shown["name"] == "SHARED_BANK" and shown["entries"]["pdq"]["active"] == 1
    assert native.get(f"/v1/entries/{cid}").json()["value"] == PDQ[PHOTO_1.name]
    query = {"pdq": PDQ[PHOTO_1.name]}
    hit = eventually(lambda: [m for m in native.post("/v1/match/hashes", json=query).json()["matches"]
                              if m["bank"] == "SHARED_BANK"])
    assert hit and hit[0]["entry_id"] == cid
    # the reverse: a native bank (any Haven name) and its entry, through /hma
    assert native.post("/v1/banks", json={"name": "native-bank"}).status_code == 201
    md5 = hashlib.md5(b"haven-hma-native-entry").hexdigest()
    entry = native.post("/v1/banks/native-bank/entries", json={"entries": [{"signal": "md5", "value": md5}]})
    entry_id = entry.json()["ids"][0]
    assert {"name": "native-bank", "matching_enabled_ratio": 1.0} in writer.get("/c/banks").json()
    assert writer.get("/m/lookup", params={"signal_type": "video_md5", "signal": md5}).json() == {
        "native-bank": [{"bank_content_id": entry_id, "distance": "0"}]}
    got = writer.get(f"/c/bank/native-bank/content/{entry_id}", params={"include_signals": "true"}).json()
    assert got["signals"] == {"video_md5": md5}


def test_disable_until_ts_is_honoured_everywhere(svc: LiveService, writer: Hma) -> None:
    """A content disabled until later matches nowhere (the native API included) until then."""
    writer.create_bank("DISABLE_BANK")
    md5 = hashlib.md5(b"haven-hma-disable").hexdigest()
    cid = writer.post("/c/bank/DISABLE_BANK/signal", json={"video_md5": md5}).json()["id"]
    with svc.client(svc.match) as native:
        disabled_everywhere(native, writer, cid, md5)


def disabled_everywhere(native: httpx.Client, writer: Hma, cid: int, md5: str) -> None:
    path, query = f"/c/bank/DISABLE_BANK/content/{cid}", {"signal_type": "video_md5", "signal": md5}

    def seen() -> tuple[bool, bool]:
        hma = bool(writer.get("/m/lookup", params=query).json())
        v1 = native.post("/v1/match/hashes", json={"md5": md5}).json()["matched"]
        return hma, v1

    def disable_until(ts: int) -> None:
        assert writer.put(path, json={"disable_until_ts": ts}).status_code == 200

    assert seen() == (True, True)
    later = int(time.time()) + 3600
    disable_until(later)
    assert seen() == (False, False)
    assert writer.get("/m/raw_lookup", params=query).json() == {"matches": []}
    assert native.get(f"/v1/entries/{cid}").json()["disable_until_ts"] == later
    disable_until(int(time.time()) - 1)  # a time gone by: enabled again
    assert seen() == (True, True)
    disable_until(0)
    assert seen() == (False, False)  # 0: off until changed


def test_enabled_ratio_samples_lookups(writer: Hma) -> None:
    """A bank at ratio 0.5 answers the look-ups whose draw (seeded by ``seed``) is at most 0.5."""
    assert writer.post("/c/banks", json={"name": "HALF_BANK", "enabled_ratio": 0.5}).status_code == 201
    md5 = hashlib.md5(b"haven-hma-half").hexdigest()
    writer.post("/c/bank/HALF_BANK/signal", json={"video_md5": md5})
    seeds = [str(n) for n in range(50)]
    low = next(s for s in seeds if random.Random(s).random() <= 0.5)
    high = next(s for s in seeds if random.Random(s).random() > 0.5)
    query = {"signal_type": "video_md5", "signal": md5}
    assert set(writer.get("/m/lookup", params={**query, "seed": low}).json()) == {"HALF_BANK"}
    assert writer.get("/m/lookup", params={**query, "seed": high}).json() == {}
    assert set(writer.get("/m/lookup", params={**query, "seed": high, "bypass_coinflip": "true"}).json()) == {
        "HALF_BANK"}
    # raw look-ups are not sampled (as HMA's)
    assert len(writer.get("/m/raw_lookup", params=query).json()["matches"]) == 1
    writer.put("/c/bank/HALF_BANK", json={"enabled": False})
    assert writer.get("/m/lookup", params={**query, "bypass_coinflip": "true"}).json() == {}
