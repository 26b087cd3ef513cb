"""The web UI over real HTTP: log in with a key (httponly, samesite=strict cookie), list banks,
match an upload with a blurred preview only, add a hash."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from PIL import Image
from service_live import PHOTOS, live, wait_ready  # noqa: F401

from haven.hashing import hash_file

PHOTO = sorted(PHOTOS.glob("*.jp*g"))[1]


@contextmanager
def login(live, key: str) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live.url, timeout=30) as c:
        r = c.post("/ui/login", data={"api_key": key})
        assert r.status_code == 303 and r.headers["location"] == "/ui"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        yield c


def test_login_page_and_bad_key(live) -> None:  # type: ignore[no-untyped-def]
    r = httpx.get(f"{live.url}/ui")
    assert r.status_code == 200 and 'name="api_key"' in r.text
    r = httpx.post(f"{live.url}/ui/login", data={"api_key": "hvn_wrong"})
    assert r.status_code == 401 and "unknown or revoked" in r.text and "set-cookie" not in r.headers


def test_add_hash_then_match_upload(live) -> None:  # type: ignore[no-untyped-def]
    wait_ready(live.url)
    with live.client(live.writer) as api:
        assert api.post("/v1/banks", json={"name": "ui-bank"}).status_code == 201
    h = hash_file(PHOTO)
    with login(live, live.admin) as c:
        home = c.get("/ui")
        assert "ui-bank" in home.text and "Add a hash" in home.text
        r = c.post("/ui/hashes", data={"bank": "ui-bank", "signal": "pdq", "value": h.hashes["pdq"], "category": "A1"})
        assert r.status_code == 200 and "added to bank" in r.text
        r = c.post("/ui/hashes", data={"bank": "ui-bank", "signal": "pdq", "value": "xyz"})
        assert r.status_code == 422 and "want 64 hex digits" in r.text
        raw = PHOTO.read_bytes()
        for _ in range(40):
            r = c.post("/ui/match", files={"file": ("p.jpg", raw, "image/jpeg")})
            if "no match" not in r.text:
                break
        assert r.status_code == 200 and "ui-bank" in r.text and h.hashes["pdq"] in r.text
        previews = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', r.text)
        assert len(previews) == 1
        thumb = base64.b64decode(previews[0])
        assert raw not in r.text.encode() and len(thumb) < len(raw) / 5
        with Image.open(io.BytesIO(thumb)) as im:
            assert max(im.size) <= 160  # a small, blurred thumbnail, never the image itself
        assert c.post("/ui/logout").status_code == 303


def test_match_only_key_cannot_add(live) -> None:  # type: ignore[no-untyped-def]
    with login(live, live.match) as c:
        assert "Add a hash" not in c.get("/ui").text
        r = c.post("/ui/hashes", data={"bank": "ui-bank", "signal": "md5", "value": "0" * 32})
        assert r.status_code == 403


def test_ui_escapes_untrusted_text(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.writer) as api:
        api.post("/v1/banks", json={"name": "esc", "source": "<script>alert(1)</script>"})
    with login(live, live.match) as c:
        page = c.get("/ui").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
