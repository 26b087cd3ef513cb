"""The API against a real uvicorn server on a free loopback port: auth, scopes, rate limits, uploads,
matching, content-id look-up, errors, metrics, OpenAPI."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from service_live import PHOTOS, eventually, live, service_settings, start_service, wait_ready

from haven.hashing import hash_file

PHOTO = sorted(PHOTOS.glob("*.jp*g"))[0]


def upload(path: Path = PHOTO, data: bytes | None = None, name: str = "photo.jpg") -> dict[str, tuple]:
    return {"file": (name, data if data is not None else path.read_bytes(), "image/jpeg")}


def test_health_needs_no_key(live) -> None:  # type: ignore[no-untyped-def]
    with live.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        wait_ready(live.url)
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready" and ready["checks"] == {"database": "ok", "index": "ok"}
        assert ready["saturated"] == [] and set(ready["load"]) >= {"url_fetch", "body_bytes"}


@pytest.mark.parametrize("method,path", [("get", "/v1/banks"), ("post", "/v1/match/hashes"),
                                         ("get", "/metrics"), ("get", "/v1/matches/abc"),
                                         ("post", "/v1/hash"), ("delete", "/v1/entries/1")])
def test_missing_key_is_401(live, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    with live.client() as c:
        r = c.request(method, path)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_and_malformed_keys_are_401(live) -> None:  # type: ignore[no-untyped-def]
    for headers in ({"Authorization": "Bearer hvn_not-a-real-key"}, {"Authorization": "Basic abc"},
                    {"Authorization": f"bearer{live.admin}"}, {"Authorization": "Bearer x"}):
        r = httpx.get(f"{live.url}/v1/banks", headers=headers)
        assert r.status_code == 401, (headers, r.text)


def test_wrong_scope_is_403(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.match) as c:
        r = c.post("/v1/banks", json={"name": "nope"})
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    with live.client(live.writer) as c:
        r = c.post("/v1/match/hashes", json={"md5": "0" * 32})
        assert r.status_code == 403
        assert c.post("/v1/banks", json={"name": "ok-bank"}).status_code == 201
    with live.client(live.admin) as c:  # admin holds every scope
        assert c.get("/v1/banks").status_code == 200


def test_revoked_key_is_refused_within_a_second(live) -> None:  # type: ignore[no-untyped-def]
    key, secret = live.keys.create("temp", ["match"])
    with live.client(secret) as c:
        assert c.get("/v1/banks").status_code == 200
        live.keys.revoke(key.id)  # another process (the CLI) revoking: only the database changes
        deadline = time.monotonic() + 2.0
        while c.get("/v1/banks").status_code == 200:
            assert time.monotonic() < deadline, "revoked key still accepted after 2 s"
            time.sleep(0.05)
        r = c.get("/v1/banks")
    assert r.status_code == 401


def test_rate_limit_429_with_retry_after(live) -> None:  # type: ignore[no-untyped-def]
    _, secret = live.keys.create("slow", ["match"], rate_limit=2)
    with live.client(secret) as c:
        codes = [c.get("/v1/banks").status_code for _ in range(8)]
        assert codes[:4] == [200] * 4  # burst = 2 × rate
        assert 429 in codes[4:]
        r = c.get("/v1/banks")
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        time.sleep(0.6)  # a token refills at 2/s
        assert c.get("/v1/banks").status_code == 200
    with live.client(live.match) as c:  # other keys are unaffected
        assert c.get("/v1/banks").status_code == 200


def test_hash_upload_matches_cli(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.match) as c:
        r = c.post("/v1/hash", files=upload())
    assert r.status_code == 200, r.text
    body = r.json()
    expected = hash_file(PHOTO).to_dict()
    for k in ("pdq", "quality", "md5", "sha1", "sha256", "width", "height", "size"):
        assert body[k] == expected[k]


def test_malformed_uploads(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.match) as c:
        r = c.post("/v1/hash", files=upload(data=b"this is not an image at all" * 10, name="x.jpg"))
        assert r.status_code == 422 and r.json()["code"] in ("not_image", "corrupt"), r.text
        truncated = PHOTO.read_bytes()[:2000]
        r = c.post("/v1/match", files=upload(data=truncated))
        assert r.status_code == 422 and "Traceback" not in r.text
        r = c.post("/v1/hash", files=upload(data=b""))
        assert r.status_code == 422 and r.json()["code"] == "empty"
        r = c.post("/v1/hash", data={"nofile": "1"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"
        r = c.post(
            "/v1/hash", content=b"--x\r\ngarbage", headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert r.status_code in (400, 422) and set(r.json()) >= {"code", "message"}
        r = c.post("/v1/match/hashes", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"


@pytest.fixture
def small_limits(tmp_path: Path):  # type: ignore[no-untyped-def]
    server, svc = start_service(
        service_settings(tmp_path, max_upload_bytes=200_000, max_upload_pixels=1_000_000, upload_timeout=1.0)
    )
    with server:
        yield svc
    svc.close()


def test_oversize_upload_is_413(small_limits) -> None:  # type: ignore[no-untyped-def]
    big = b"\xff\xd8" + b"0" * 400_000
    with small_limits.client(small_limits.match) as c:
        r = c.post("/v1/hash", files=upload(data=big))
        assert r.status_code == 413 and r.json()["code"] == "too_large"

        def chunks():  # no Content-Length: the streamed body is counted
            for _ in range(40):
                yield b"0" * 10_000

        r = c.post("/v1/hash", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert r.status_code == 413


def test_pixel_bomb_is_413(small_limits) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buf, "PNG")  # 16 MP in ~16 KB: over the 1 MP limit
    with small_limits.client(small_limits.match) as c:
        r = c.post("/v1/hash", files=upload(data=buf.getvalue(), name="bomb.png"))
    assert r.status_code == 413, r.text
    assert r.json()["code"] in ("decompression_bomb", "too_large")


def test_slow_upload_is_408(small_limits) -> None:  # type: ignore[no-untyped-def]
    def trickle():
        for _ in range(30):
            yield b"0" * 10
            time.sleep(0.1)

    with small_limits.client(small_limits.match) as c:
        started = time.monotonic()
        r = c.post("/v1/hash", content=trickle(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 408 and r.json()["code"] == "upload_timeout"
    assert time.monotonic() - started < 3.5


def _bank_with_photo(live, name: str = "test-bank") -> dict:  # type: ignore[no-untyped-def]
    h = hash_file(PHOTO)
    with live.client(live.writer) as c:
        assert c.post("/v1/banks", json={"name": name, "source": "tests"}).status_code == 201
        r = c.post(
            f"/v1/banks/{name}/entries",
            json={
                "entries": [
                    {"signal": "pdq", "value": h.hashes["pdq"], "category": "A1"},
                    {"signal": "md5", "value": h.hashes["md5"], "category": "A1"},
                ]
            },
        )
        assert r.status_code == 201, r.text
        return {"ids": r.json()["ids"], "hash": h}


def test_match_upload_hashes_batch_and_lookup(live) -> None:  # type: ignore[no-untyped-def]
    wait_ready(live.url)
    made = _bank_with_photo(live)
    h = made["hash"]
    with live.client(live.match) as c:
        # MD5 is looked up in the database (fresh at once); PDQ arrives with the worker's next index
        # refresh (every 0.25 s), so wait for both signals rather than for the first match.
        def both_signals():  # type: ignore[no-untyped-def]
            x = c.post("/v1/match", files=upload())
            return len({m["signal"] for m in x.json()["matches"]}) == 2 and x

        r = eventually(both_signals)
        assert r, "upload did not match on both signals within 2 s"
        body = r.json()
        assert body["content_id"] == h.hashes["sha256"] and body["pdq"] == h.hashes["pdq"]
        signals = sorted(m["signal"] for m in body["matches"])
        assert signals == ["md5", "pdq"]
        m = next(m for m in body["matches"] if m["signal"] == "pdq")
        assert m["distance"] == 0 and m["bank"] == "test-bank" and m["category"] == "A1"

        # The same fields and match objects as `haven match --json` (which prints path, hashes, matches).
        from haven.banks import BankStore
        from haven.matching import Matcher

        store = BankStore(live.settings.database_url)
        try:
            cli_matches = [
                m.to_dict() for m in Matcher(store, auto_refresh=None, load_saved=False).match_result(h)
            ]
        finally:
            store.close()
        assert body["matches"] == cli_matches
        assert {"path", "pdq", "quality", "md5", "matches"} <= set(body)

        r = c.post("/v1/match/hashes", json={"pdq": h.hashes["pdq"], "content_id": "case-42"})
        assert r.status_code == 200 and r.json()["matched"] and r.json()["content_id"] == "case-42"
        near = format(int(h.hashes["pdq"], 16) ^ 0b1011, "064x")  # 3 bits away
        assert c.post("/v1/match/hashes", json={"pdq": near}).json()["matches"][0]["distance"] == 3
        assert c.post("/v1/match/hashes", json={"pdq": near, "threshold": 2}).json()["matched"] is False
        r = c.post(
            "/v1/match/hashes/batch",
            json={"items": [{"md5": h.hashes["md5"]}, {"sha256": "a" * 64}, {"pdq": near}]},
        )
        assert [x["matched"] for x in r.json()["results"]] == [True, False, True]
        # The lean path for single PDQ queries answers exactly as the FastAPI route does.
        lean = c.post("/v1/match/hashes", json={"pdq": near})
        assert lean.json() == r.json()["results"][2] and lean.headers["content-type"] == "application/json"
        no_key = httpx.post(f"{live.url}/v1/match/hashes", json={"pdq": near})
        assert no_key.status_code == 401 and no_key.headers["www-authenticate"].startswith("Bearer")
        wrong_scope = httpx.post(
            f"{live.url}/v1/match/hashes",
            json={"pdq": near},
            headers={"Authorization": f"Bearer {live.writer}"},
        )
        assert wrong_scope.status_code == 403
        assert c.post("/v1/match/hashes", json={"pdq": near, "extra": 1}).json()["code"] == "invalid_request"
        assert c.post("/v1/match/hashes", json={}).status_code == 400
        assert c.post("/v1/match/hashes", json={"pdq": "zz"}).status_code == 422

        rec = c.get(f"/v1/matches/{h.hashes['sha256']}")
        assert rec.status_code == 200 and rec.json()["result"]["matched"] and rec.json()["kind"] == "upload"
        assert c.get("/v1/matches/case-42").json()["kind"] == "hashes"
        assert c.get("/v1/matches/never-seen").status_code == 404


def test_bank_management(live) -> None:  # type: ignore[no-untyped-def]
    made = _bank_with_photo(live, "mgmt")
    pdq_id = made["ids"][0]
    with live.client(live.writer) as c:
        assert c.post("/v1/banks", json={"name": "mgmt"}).status_code == 409
        assert c.post("/v1/banks", json={"name": "bad name!"}).status_code == 422
        bank = c.get("/v1/banks/mgmt").json()
        assert bank["name"] == "mgmt" and bank["entries"]["pdq"]["total"] == 1
        assert c.get(f"/v1/entries/{pdq_id}").json()["value"] == made["hash"].hashes["pdq"]
    with live.client(live.match) as m:
        assert eventually(
            lambda: any(
                x["bank"] == "mgmt"
                for x in m.post("/v1/match/hashes", json={"pdq": made["hash"].hashes["pdq"]}).json()[
                    "matches"
                ]
            )
        )
    with live.client(live.writer) as c:
        assert c.patch("/v1/banks/mgmt", json={"enabled": False}).json()["enabled"] is False
    with live.client(live.match) as c:

        def mgmt_hits() -> list:  # type: ignore[type-arg]
            r = c.post("/v1/match/hashes", json={"pdq": made["hash"].hashes["pdq"]})
            return [m for m in r.json()["matches"] if m["bank"] == "mgmt"]

        assert eventually(lambda: not mgmt_hits()), "disabled bank still matched after 2 s"
    with live.client(live.writer) as c:
        c.patch("/v1/banks/mgmt", json={"enabled": True})
        assert c.delete(f"/v1/entries/{pdq_id}").status_code == 204
        assert c.get(f"/v1/entries/{pdq_id}").status_code == 404
        assert c.delete("/v1/entries/999999").status_code == 404
        csv = "signal,value,category\nmd5,%s,B\n" % ("ab" * 16)
        r = c.post(
            "/v1/banks/mgmt/import",
            files={"file": ("list.csv", csv.encode(), "text/csv")},
            data={"format": "csv"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["rows_added"] == 1
        assert c.delete("/v1/banks/mgmt").status_code == 204
        assert c.get("/v1/banks/mgmt").status_code == 404


def test_errors_are_json_never_tracebacks(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.admin) as c:
        for r in (
            c.get("/nope"),
            c.put("/v1/banks"),
            c.get("/v1/entries/notanint"),
            c.post("/v1/banks", content=b"\x00\xff", headers={"Content-Type": "application/json"}),
        ):
            assert r.status_code < 500
            assert set(r.json()) >= {"code", "message"}, r.text
            assert "Traceback" not in r.text


def test_metrics_and_openapi(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.match) as c:
        c.get("/v1/banks")
        text = c.get("/metrics").text
        assert 'haven_http_requests_total{method="GET",route="/v1/banks",status="200"}' in text
        spec = c.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert spec["paths"]["/v1/match/hashes"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert httpx.get(f"{live.url}/docs").status_code == 200


@pytest.fixture
def url_service(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A service whose SSRF guard lets 127.0.0.1 through (the test-only allow-list setting)."""
    server, svc = start_service(service_settings(tmp_path, fetch_allow="127.0.0.1/32", fetch_timeout=5.0))
    with server:
        yield svc
    svc.close()


def test_match_by_url(url_service) -> None:  # type: ignore[no-untyped-def]
    import http.server
    import threading

    data = PHOTO.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/photo.jpg":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        wait_ready(url_service.url)
        _bank_with_photo(url_service, "url-bank")
        with url_service.client(url_service.match) as c:
            r = eventually(
                lambda: (
                    (x := c.post("/v1/match/url", json={"url": f"{base}/photo.jpg"})).json().get("matched")
                    and x
                )
            )
            assert r, "URL match did not match within 2 s"
            body = r.json()
            assert body["url"] == f"{base}/photo.jpg" and body["sha256"] == hash_file(PHOTO).hashes["sha256"]
            refused = c.post("/v1/match/url", json={"url": f"{base}/redirect"})
            assert refused.status_code == 400 and refused.json()["code"] == "unsafe_url"
            assert "169.254.169.254" in refused.json()["message"]
            assert c.post("/v1/match/url", json={"url": "http://10.0.0.1/x"}).status_code == 400
            assert c.post("/v1/match/url", json={"url": "ftp://127.0.0.1/x"}).status_code == 400
    finally:
        srv.shutdown()
        srv.server_close()


def test_service_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The same service on PostgreSQL: keys, a bank, a hot-updated match, a recorded result."""
    server, svc = start_service(service_settings(tmp_path, postgres_url))
    with server:
        wait_ready(svc.url)
        made = _bank_with_photo(svc, "pg-bank")
        with svc.client(svc.match) as c:
            r = eventually(
                lambda: (
                    (
                        x := c.post(
                            "/v1/match/hashes", json={"pdq": made["hash"].hashes["pdq"], "content_id": "pg-1"}
                        )
                    ).json()["matched"]
                    and x
                )
            )
            assert r, "no match on PostgreSQL within 2 s"
            assert c.get("/v1/matches/pg-1").json()["result"]["matches"][0]["bank"] == "pg-bank"
            assert c.post("/v1/banks", json={"name": "x", "source": "a\u0000b"}).status_code in (403, 422)
        with svc.client(svc.writer) as c:
            assert c.post("/v1/banks", json={"name": "y", "source": "a\u0000b"}).status_code == 422
    svc.close()


def test_match_upload_upscaled_finds_a_drifted_thumbnail(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``upscaled=true`` (form field, and in a URL query's body schema): a thumbnail whose own PDQ
    drifted past the threshold matches by its upscaled PDQ, and the match says so."""
    from haven_testdata import drifted_thumbnail

    wait_ready(live.url)
    original, thumb = drifted_thumbnail(PHOTOS, tmp_path)
    with live.client(live.writer) as c:
        assert c.post("/v1/banks", json={"name": "thumbs", "source": "tests"}).status_code == 201
        r = c.post("/v1/banks/thumbs/entries", json={"entries": [{"signal": "pdq", "value": original}]})
        assert r.status_code == 201, r.text
    with live.client(live.match) as c:

        def upscaled_match():  # type: ignore[no-untyped-def]
            x = c.post("/v1/match", files=upload(thumb, name="thumb.jpg"), data={"upscaled": "true"})
            return x.status_code == 200 and x.json()["matched"] and x

        r = eventually(upscaled_match)
        assert r, "the thumbnail did not match through its upscaled PDQ within 2 s"
        (m,) = r.json()["matches"]
        assert m["bank"] == "thumbs" and m["distance"] <= 31 and m["upscaled_to"] in (256, 384, 512, 768)
        plain = c.post("/v1/match", files=upload(thumb, name="thumb.jpg"))
        assert plain.status_code == 200 and plain.json()["matches"] == []
    props = httpx.get(f"{live.url}/openapi.json").json()["components"]["schemas"]["UrlQuery"]["properties"]
    assert props["upscaled"]["type"] == "boolean"
