"""The web UI's sign-in defences against a live ``haven serve`` app on loopback, over real HTTP: cross-origin
posts (another port of the same host), posts without the CSRF token, login CSRF, logout ending the session on
the server, lockout, TOTP replay, and disabled accounts losing their live sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from service_live import PASSWORD, UiClient, live
from sqlalchemy import func, select

from haven.auth.totp import TotpParams
from haven.banks.models import EntryRow

# MD5s of b"abc" and b"a": each test adds its own (a bank holds a value once; an empty file's digest is
# refused as weak).
MD5 = "900150983cd24fb0d6963f7d28e17f72"
MD5_OTHER = "0cc175b9c0f1b6a831c399e269772661"


def _entries(live) -> int:  # type: ignore[no-untyped-def]
    with live.auth.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(EntryRow)).scalar_one())


@contextmanager
def _lead(live, name: str) -> Iterator[UiClient]:  # type: ignore[no-untyped-def]
    secret = live.user(name, "lead", totp=True)
    with live.ui() as c:
        assert c.sign_in(name, totp=secret).headers["location"] == "/ui"
        yield c


def _bank(live) -> None:  # type: ignore[no-untyped-def]
    with live.client(live.writer) as api:
        api.post("/v1/banks", json={"name": "csrf-bank"})


def test_cross_origin_form_post_is_refused(live) -> None:  # type: ignore[no-untyped-def]
    _bank(live)
    port = int(live.url.rsplit(":", 1)[1])
    with _lead(live, "lead-xo") as c:
        token = c.token(c.get("/ui").text)
        form = {"bank": "csrf-bank", "signal": "md5", "value": MD5, "csrf_token": token}
        before = _entries(live)
        for origin in (f"http://127.0.0.1:{port + 1}", f"http://localhost:{port}", "null"):
            r = c.post("/ui/hashes", data=form, headers={"Origin": origin})
            assert r.status_code == 403 and "another origin" in r.text, origin
        other = {"Origin": "", "Referer": f"http://127.0.0.1:{port + 1}/a"}
        r = c.post("/ui/hashes", data=form, headers=other)
        assert r.status_code == 403
        with httpx.Client(base_url=live.url, cookies=c.cookies) as no_origin:
            r = no_origin.post("/ui/hashes", data=form)  # neither Origin nor Referer
        assert r.status_code == 403 and "must carry an Origin" in r.text
        assert _entries(live) == before, "a refused post changed nothing"
        # the same form from the page's own origin goes through
        r = c.post("/ui/hashes", data=form)
        assert r.status_code == 200 and "added to bank" in r.text and _entries(live) == before + 1


def test_post_without_the_csrf_token_is_refused(live) -> None:  # type: ignore[no-untyped-def]
    _bank(live)
    with _lead(live, "lead-other") as other:
        foreign_token = other.token(other.get("/ui").text)
    with _lead(live, "lead-tok") as c:
        form = {"bank": "csrf-bank", "signal": "md5", "value": MD5_OTHER}
        before = _entries(live)
        for extra in ({}, {"csrf_token": ""}, {"csrf_token": "x" * 43}, {"csrf_token": foreign_token}):
            r = c.post("/ui/hashes", data={**form, **extra})
            assert r.status_code == 403 and "security token" in r.text, extra
        raw = b"\xff\xd8\xff"  # the multipart upload form is guarded the same way
        assert c.post("/ui/match", files={"file": ("x.jpg", raw, "image/jpeg")}).status_code == 403
        assert c.post("/ui/logout").status_code == 403  # logout is a state change too
        assert _entries(live) == before
        token = c.token(c.get("/ui").text)
        r = c.post("/ui/hashes", data=form, headers={"X-CSRF-Token": token})  # the header form of the token
        assert r.status_code == 200 and _entries(live) == before + 1


def test_login_csrf_is_refused(live) -> None:  # type: ignore[no-untyped-def]
    """Another site cannot sign a victim in to the attacker's account."""
    live.user("attacker", "reviewer")
    port = int(live.url.rsplit(":", 1)[1])
    creds = {"username": "attacker", "password": PASSWORD}
    with live.ui() as victim:
        r = victim.post("/ui/login", data=creds)  # no pre-session token at all
        assert r.status_code == 403 and "haven_staff" not in victim.cookies
        with live.ui() as attacker:  # a token from the attacker's own visit, without the victim's cookie
            stolen = attacker.token(attacker.get("/ui/login").text)
        r = victim.post("/ui/login", data={**creds, "csrf_token": stolen})
        assert r.status_code == 403 and "haven_staff" not in victim.cookies
        token = victim.token(victim.get("/ui/login").text)  # even with the victim's own token and cookie,
        r = victim.post("/ui/login", data={**creds, "csrf_token": token},  # a post from another port fails
                        headers={"Origin": f"http://127.0.0.1:{port + 1}"})
        assert r.status_code == 403 and "haven_staff" not in victim.cookies
        r = victim.post("/ui/login", data={**creds, "csrf_token": token})
        assert r.status_code == 303 and "haven_staff" in victim.cookies
        assert "haven_staff_login" not in victim.cookies  # the pre-session token is spent


def test_logout_ends_the_session_on_the_server(live) -> None:  # type: ignore[no-untyped-def]
    live.user("leaver", "reviewer")
    with live.ui() as c:
        c.sign_in("leaver")
        old_cookie = c.cookies["haven_staff"]
        old_token = c.token(c.get("/ui").text)
        assert c.submit("/ui", "/ui/logout", {}).headers["location"] == "/ui/login"
    # Replaying the old cookie (say, copied before logout) gets the login page, not the UI.
    with UiClient(live.url, cookies={"haven_staff": old_cookie}) as replay:
        r = replay.get("/ui")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        page = replay.get("/ui", follow_redirects=True)
        assert 'name="password"' in page.text and "Add a hash" not in page.text
        r = replay.post("/ui/hashes", data={"bank": "csrf-bank", "signal": "md5", "value": MD5,
                                            "csrf_token": old_token})
        assert r.status_code == 403  # the old token died with the session


def test_lockout_after_repeated_failures(live) -> None:  # type: ignore[no-untyped-def]
    live.user("guessed", "reviewer")
    limit = live.settings.auth.user_max_failures
    with live.ui() as c:
        for _ in range(limit):
            wrong = {"username": "guessed", "password": "wrong guess number x"}
            r = c.submit("/ui/login", "/ui/login", wrong)
            assert r.status_code == 401 and "wrong username or password" in r.text
        r = c.submit("/ui/login", "/ui/login", {"username": "guessed", "password": PASSWORD})
        assert r.status_code == 429 and "too many failed sign-ins" in r.text
        assert 0 < int(r.headers["retry-after"]) <= live.settings.auth.user_lock_seconds
        assert "haven_staff" not in c.cookies
    live.user("bystander", "reviewer")  # another account from the same address still signs in
    with live.ui() as c:
        assert c.sign_in("bystander").headers["location"] == "/ui"
    live.auth.enable_user("staff", "guessed", actor="test")  # an admin lifts the lock
    with live.ui() as c:
        assert c.sign_in("guessed").headers["location"] == "/ui"


def test_totp_code_cannot_be_used_twice(live) -> None:  # type: ignore[no-untyped-def]
    secret = live.user("replayer", "admin", totp=True)
    code = TotpParams().code(secret, time.time() + 30)
    outcomes = []
    for _ in range(2):
        with live.ui() as c:
            r = c.submit("/ui/login", "/ui/login", {"username": "replayer", "password": PASSWORD})
            assert r.headers["location"] == "/ui/login/totp"
            outcomes.append(c.submit("/ui/login/totp", "/ui/login/totp", {"code": code}))
    assert outcomes[0].status_code == 303 and outcomes[0].headers["location"] == "/ui"
    assert outcomes[1].status_code == 401 and "already used" in outcomes[1].text


def test_half_signed_in_is_not_signed_in(live) -> None:  # type: ignore[no-untyped-def]
    live.user("new-lead", "lead")  # a lead without TOTP must enrol before anything else
    with live.ui() as c:
        r = c.sign_in("new-lead")
        assert r.headers["location"] == "/ui/login/enrol"
        assert c.get("/ui").headers["location"] == "/ui/login"
        page = c.get("/ui/login/enrol")
        assert page.status_code == 200 and "otpauth://totp/Haven:new-lead" in page.text
        assert 'src="data:image/svg+xml' in page.text


def test_disabling_a_user_ends_their_live_session(live) -> None:  # type: ignore[no-untyped-def]
    live.user("to-disable", "reviewer")
    with live.ui() as c:
        c.sign_in("to-disable")
        assert c.get("/ui").status_code == 200
        live.auth.disable_user("staff", "to-disable", actor="test")
        assert c.get("/ui").headers["location"] == "/ui/login"
        r = c.submit("/ui/login", "/ui/login", {"username": "to-disable", "password": PASSWORD})
        assert r.status_code == 401 and "disabled" in r.text
