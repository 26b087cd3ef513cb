"""The sign-in steps: one-time password → own password → TOTP enrolment → signed in; TOTP on later sign-ins;
every step under a new session id; the security events each step publishes."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from auth_helpers import FAST, PASSWORD, FakeClock, code_at, kinds, user_secret

from haven.auth import Auth, SecurityEvents
from haven.auth.login import next_step
from haven.errors import AuthError, LoginRequiredError, UsageError

NEW = "a much better passphrase"


def _pending_secret(auth: Auth, progress) -> bytes:  # type: ignore[no-untyped-def]
    blob = auth.sessions.pending_totp(progress.session.id)
    return auth.users.open_totp(blob, b"haven:auth:totp:session:%d" % progress.session.id)


def test_first_admin_sign_in(auth: Auth, clock: FakeClock, events) -> None:  # type: ignore[no-untyped-def]
    user, once = auth.add_user("staff", "Admin", ["admin"], actor="serve --dev-key")
    assert once and user.username == "admin" and user.must_change_password and user.needs_totp
    p1 = auth.login.start("staff", "ADMIN", once, client="127.0.0.1")
    assert p1.step == "password"
    with pytest.raises(UsageError, match="differ"):
        auth.login.change_password(p1.token, NEW, NEW + "x")
    with pytest.raises(UsageError, match="at least 15"):
        auth.login.change_password(p1.token, "short", "short")
    p2 = auth.login.change_password(p1.token, NEW, NEW, client="127.0.0.1")
    assert p2.step == "enrol" and p2.token != p1.token
    with pytest.raises(LoginRequiredError):
        auth.login.pending(p1.token, "password")  # the old id died with the step
    shown = auth.login.enrolment(p2.token)
    assert shown.uri.startswith("otpauth://totp/Haven:admin%20%28staff%29?")
    assert shown.qr_svg.startswith("data:image/svg+xml")
    assert auth.login.enrolment(p2.token).secret == shown.secret  # reloading the page shows the same secret
    secret = _pending_secret(auth, p2)
    with pytest.raises(AuthError, match="does not match"):
        auth.login.confirm_enrolment(p2.token, code_at(secret, clock.now - timedelta(minutes=5)))
    p3 = auth.login.confirm_enrolment(p2.token, code_at(secret, clock.now), client="127.0.0.1")
    assert p3.done and p3.token not in (p1.token, p2.token)
    actor, _ = auth.authenticate(p3.token, "staff")
    assert actor.has_role("admin") and not actor.has_role("lead")
    assert user_secret(auth, user.id) == secret
    assert kinds(events) == ["user_created", "password_changed", "login_failed", "totp_enrolled", "login_ok"]
    assert events[0].actor == "serve --dev-key" and events[-1].client == "127.0.0.1"
    assert events[-1].at == clock.now and events[-1].actor == f"user:{user.id}:admin"

    # The next sign-in: password, then a code. The code used for enrolment is spent.
    p4 = auth.login.start("staff", "admin", NEW)
    assert p4.step == "totp"
    with pytest.raises(AuthError, match="already used"):
        auth.login.verify_totp(p4.token, code_at(secret, clock.now))
    clock.advance(30)
    p5 = auth.login.verify_totp(p4.token, code_at(secret, clock.now))
    assert p5.done
    with pytest.raises(AuthError, match="wrong username or password"):
        auth.login.start("staff", "admin", once)  # the one-time password is gone


def test_reviewer_signs_in_with_a_password_only(auth: Auth) -> None:
    auth.add_user("staff", "rev", ["reviewer"], password=PASSWORD)
    assert auth.login.start("staff", "rev", PASSWORD).done


def test_pending_sign_in_expires(auth: Auth, clock: FakeClock) -> None:
    auth.add_user("staff", "lead1", ["lead"], password=PASSWORD)
    p = auth.login.start("staff", "lead1", PASSWORD)
    clock.advance(FAST.login_pending_seconds + 1)
    with pytest.raises(LoginRequiredError):
        auth.login.enrolment(p.token)


def test_reset_totp_means_enrol_again(auth: Auth, clock: FakeClock) -> None:
    auth.add_user("staff", "lead2", ["lead"], password=PASSWORD)
    p = auth.login.start("staff", "lead2", PASSWORD)
    auth.login.enrolment(p.token)
    assert auth.login.confirm_enrolment(p.token, code_at(_pending_secret(auth, p), clock.now)).done
    assert auth.login.start("staff", "lead2", PASSWORD).step == "totp"
    auth.reset_totp("staff", "lead2", actor="user:1:admin")
    assert auth.login.start("staff", "lead2", PASSWORD).step == "enrol"


def test_wrong_username_and_wrong_password_read_the_same(auth: Auth) -> None:
    auth.add_user("staff", "rev", ["reviewer"], password=PASSWORD)
    with pytest.raises(AuthError) as a:
        auth.login.start("staff", "rev", "wrong password here")
    with pytest.raises(AuthError) as b:
        auth.login.start("staff", "no-such-user", "wrong password here")
    with pytest.raises(AuthError) as c:
        auth.login.start("staff", "bad name!", "wrong password here")
    assert a.value.message == b.value.message == c.value.message == "wrong username or password"


@pytest.mark.parametrize(("user", "expected"), [
    ({"totp_enrolled": False, "must_change_password": False, "needs_totp": False}, ["active"]),
    ({"totp_enrolled": True, "must_change_password": True, "needs_totp": True},
     ["totp", "password", "active"]),
    ({"totp_enrolled": False, "must_change_password": True, "needs_totp": True},
     ["password", "enrol", "active"]),
    ({"totp_enrolled": True, "must_change_password": False, "needs_totp": False}, ["totp", "active"]),
])
def test_step_order(user: dict[str, bool], expected: list[str]) -> None:
    class U:
        pass

    u = U()
    u.__dict__.update(user)
    steps, step = [], None
    while step != "active":
        step = next_step(u, after=step)  # type: ignore[arg-type]
        steps.append(step)
    assert steps == expected


def test_events_default_to_logging(caplog: pytest.LogCaptureFixture) -> None:
    hub = SecurityEvents()
    seen = []
    undo = hub.subscribe(seen.append)
    with caplog.at_level(logging.INFO, logger="haven.auth.events"):
        hub.emit("login_failed", realm="staff", username="x", client="127.0.0.1",
                 detail={"reason": "password"})
    assert "login_failed realm=staff user=x" in caplog.text and len(seen) == 1
    undo()
    hub.emit("logout", realm="staff")
    assert len(seen) == 1
    with pytest.raises(ValueError):
        hub.emit("made_up_kind")


def test_a_failing_subscriber_fails_the_action(db_url: str) -> None:
    """An audit log that cannot record must be able to stop the action it would have recorded."""
    hub = SecurityEvents(log_events=False)

    def broken(_event: object) -> None:
        raise RuntimeError("audit store down")

    hub.subscribe(broken)
    auth = Auth(db_url, policy=FAST, events=hub, clock=FakeClock())
    try:
        with pytest.raises(RuntimeError, match="audit store down"):
            auth.add_user("staff", "x1", ["reviewer"], password=PASSWORD)
    finally:
        auth.close()
