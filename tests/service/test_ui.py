"""The web UI over real HTTP: staff sign in with a username and password (a session cookie, never a key),
list banks, match an upload with a blurred preview only, add a hash (leads and admins only)."""

from __future__ import annotations

import base64
import io
import re

import httpx
from PIL import Image
from service_live import PASSWORD, PHOTOS, live, wait_ready
from sqlalchemy import text

from haven.hashing import hash_file

PHOTO = sorted(PHOTOS.glob("*.jp*g"))[1]


def test_login_page_and_bad_password(live) -> None:  # type: ignore[no-untyped-def]
    r = httpx.get(f"{live.url}/ui")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    with live.ui() as c:
        page = c.get("/ui/login")
        assert page.status_code == 200 and 'name="username"' in page.text and 'name="password"' in page.text
        assert "api_key" not in page.text
        assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers[
            "content-security-policy"]
        r = c.submit("/ui/login", "/ui/login", {"username": "nobody", "password": "wrong password here"})
        assert r.status_code == 401 and "wrong username or password" in r.text
        assert "haven_staff=" not in r.headers.get("set-cookie", "")


def test_session_cookie_holds_a_session_id_not_a_key(live) -> None:  # type: ignore[no-untyped-def]
    live.user("cookie-check", "reviewer")
    with live.ui() as c:
        r = c.sign_in("cookie-check")
        assert r.status_code == 303 and r.headers["location"] == "/ui"
        cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("haven_staff=")][0].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "max-age" not in cookie and "hvn_" not in cookie
        sid = c.cookies["haven_staff"]
        assert len(sid) >= 43 and sid not in (live.admin, live.match, live.writer)


def test_add_hash_then_match_upload(live) -> None:  # type: ignore[no-untyped-def]
    wait_ready(live.url)
    with live.client(live.writer) as api:
        assert api.post("/v1/banks", json={"name": "ui-bank"}).status_code == 201
    h = hash_file(PHOTO)
    secret = live.user("lead-ui", "lead", totp=True)
    with live.ui() as c:
        assert c.sign_in("lead-ui", totp=secret).headers["location"] == "/ui"
        home = c.get("/ui")
        assert "ui-bank" in home.text and "Add a hash" in home.text and "lead-ui" in home.text
        entry = {"bank": "ui-bank", "signal": "pdq", "value": h.hashes["pdq"], "category": "A1"}
        r = c.submit("/ui", "/ui/hashes", entry)
        assert r.status_code == 200 and "added to bank" in r.text
        r = c.submit("/ui", "/ui/hashes", {"bank": "ui-bank", "signal": "pdq", "value": "xyz"})
        assert r.status_code == 422 and "want 64 hex digits" in r.text
        with live.auth.engine.connect() as conn:  # the change is attributed to the person, not a key
            actors = {r[0] for r in conn.execute(text("SELECT created_by FROM bank_entries"))}
        assert actors == {f"user:{live.auth.users.get('staff', 'lead-ui').id}:lead-ui"}
        raw = PHOTO.read_bytes()
        token = c.token(c.get("/ui").text)
        for _ in range(40):
            r = c.post("/ui/match", data={"csrf_token": token}, files={"file": ("p.jpg", raw, "image/jpeg")})
            if "no match" not in r.text:
                break
        assert r.status_code == 200 and "ui-bank" in r.text and h.hashes["pdq"] in r.text
        previews = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', r.text)
        assert len(previews) == 1
        thumb = base64.b64decode(previews[0])
        assert raw not in r.text.encode() and len(thumb) < len(raw) / 5
        with Image.open(io.BytesIO(thumb)) as im:
            assert max(im.size) <= 160  # a small, blurred thumbnail, never the image itself
        assert c.submit("/ui", "/ui/logout", {}).status_code == 303


def test_reviewer_cannot_add(live) -> None:  # type: ignore[no-untyped-def]
    live.user("rev-ui", "reviewer")
    with live.ui() as c:
        c.sign_in("rev-ui")
        home = c.get("/ui")
        assert home.status_code == 200 and "Add a hash" not in home.text
        r = c.submit("/ui", "/ui/hashes", {"bank": "ui-bank", "signal": "md5", "value": "0" * 32})
        assert r.status_code == 403 and "needs the role lead or admin" in r.text


def test_ui_escapes_untrusted_text(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.writer) as api:
        api.post("/v1/banks", json={"name": "esc", "source": "<script>alert(1)</script>"})
    live.user("esc-ui", "reviewer")
    with live.ui() as c:
        c.sign_in("esc-ui")
        page = c.get("/ui").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_api_keys_do_not_open_the_ui(live) -> None:  # type: ignore[no-untyped-def]
    """Machines keep their Bearer keys for /v1; the UI admits only people with a session."""
    r = httpx.get(f"{live.url}/ui", headers={"Authorization": f"Bearer {live.admin}"},
                  cookies={"haven_staff": live.admin, "haven_key": live.admin})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
