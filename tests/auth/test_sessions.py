"""Sessions in the database: only the id's hash stored, idle and absolute expiry, logout ends the session on
the server, every session of a user ends on disable, password reset and TOTP reset."""

from __future__ import annotations

import pytest
from auth_helpers import FAST, PASSWORD, FakeClock
from sqlalchemy import select

from haven.auth import Auth
from haven.auth.models import SessionRow
from haven.auth.sessions import hash_token
from haven.errors import LoginRequiredError


def _signed_in(auth: Auth, username: str = "sam") -> str:
    if auth.users.find("staff", username) is None:
        auth.add_user("staff", username, ["reviewer"], password=PASSWORD)
    progress = auth.login.start("staff", username, PASSWORD, client="127.0.0.1")
    assert progress.done
    return progress.token


def test_only_the_hash_of_the_id_is_stored(auth: Auth) -> None:
    token = _signed_in(auth)
    with auth.engine.connect() as conn:
        row = conn.execute(select(SessionRow.__table__)).one()
    assert token not in str(tuple(row)) and row.token_hash == hash_token(token)
    assert len(token) >= 43  # 256 random bits
    actor, session = auth.authenticate(token, "staff")
    assert actor.label == "user:1:sam" and actor.roles == ("reviewer",) and session.active


def test_idle_expiry(auth: Auth, clock: FakeClock) -> None:
    token = _signed_in(auth)
    for _ in range(5):  # used every 25 minutes: stays alive past the 30-minute idle limit
        clock.advance(25 * 60)
        auth.authenticate(token, "staff")
    clock.advance(FAST.session_idle_seconds + 1)
    with pytest.raises(LoginRequiredError):
        auth.authenticate(token, "staff")
    with auth.engine.connect() as conn:
        assert conn.execute(select(SessionRow.end_reason)).scalar_one() == "idle"


def test_absolute_expiry(auth: Auth, clock: FakeClock) -> None:
    token = _signed_in(auth)
    elapsed = 0.0
    while elapsed < FAST.session_absolute_seconds - 20 * 60:
        clock.advance(20 * 60)
        elapsed += 20 * 60
        auth.authenticate(token, "staff")
    clock.advance(20 * 60)  # past 12 hours, though used every 20 minutes
    with pytest.raises(LoginRequiredError):
        auth.authenticate(token, "staff")
    with auth.engine.connect() as conn:
        assert conn.execute(select(SessionRow.end_reason)).scalar_one() == "expired"


def test_logout_ends_the_session_on_the_server(auth: Auth, events) -> None:  # type: ignore[no-untyped-def]
    token = _signed_in(auth)
    other = _signed_in(auth)  # a second browser of the same user stays signed in
    assert auth.logout(token, client="127.0.0.1")
    with pytest.raises(LoginRequiredError):
        auth.authenticate(token, "staff")  # the old id is worthless, whoever replays it
    auth.authenticate(other, "staff")
    assert not auth.logout(token)  # already ended
    assert [e.kind for e in events].count("logout") == 1


@pytest.mark.parametrize("change", ["disable_user", "reset_password", "reset_totp"])
def test_account_changes_end_every_session(auth: Auth, change: str) -> None:
    tokens = [_signed_in(auth) for _ in range(3)]
    _signed_in(auth, "bystander")
    getattr(auth, change)("staff", "sam", actor="user:9:admin")
    for t in tokens:
        with pytest.raises(LoginRequiredError):
            auth.authenticate(t, "staff")
    assert len(auth.sessions.live(auth.users.get("staff", "bystander").id)) == 1


def test_disabled_user_cannot_sign_in(auth: Auth) -> None:
    from haven.errors import AuthError

    _signed_in(auth)
    auth.disable_user("staff", "sam")
    with pytest.raises(AuthError, match="disabled"):
        auth.login.start("staff", "sam", PASSWORD)
    auth.enable_user("staff", "sam")
    assert auth.login.start("staff", "sam", PASSWORD).done


def test_a_session_belongs_to_its_realm(auth: Auth) -> None:
    """A portal member and a staff reviewer are separate populations: a portal session opens no staff page."""
    auth.add_user("portal", "sam", ["member"], password=PASSWORD + " portal")
    token = auth.login.start("portal", "sam", PASSWORD + " portal").token
    auth.authenticate(token, "portal")
    with pytest.raises(LoginRequiredError):
        auth.authenticate(token, "staff")
    staff_token = _signed_in(auth)  # the same name in staff is another account with another password
    assert auth.authenticate(staff_token, "staff")[0].id != auth.authenticate(token, "portal")[0].id


def test_unknown_and_missing_ids(auth: Auth) -> None:
    for bad in (None, "", "x" * 43):
        with pytest.raises(LoginRequiredError):
            auth.authenticate(bad, "staff")


def test_pending_session_is_not_a_sign_in(auth: Auth) -> None:
    auth.add_user("staff", "lee", ["lead"], password=PASSWORD)  # a lead must enrol TOTP first
    progress = auth.login.start("staff", "lee", PASSWORD)
    assert progress.step == "enrol" and not progress.done
    with pytest.raises(LoginRequiredError):
        auth.authenticate(progress.token, "staff")


def test_old_sessions_are_purged(db_url: str) -> None:
    clock = FakeClock()
    auth = Auth(db_url, policy=FAST, clock=clock)
    try:
        token = _signed_in(auth)
        auth.logout(token)
        clock.advance(31 * 24 * 3600)
        _signed_in(auth)
        with auth.engine.connect() as conn:
            assert len(conn.execute(select(SessionRow.id)).all()) == 1
    finally:
        auth.close()


def test_deleted_user_is_gone_with_its_sessions(auth: Auth, events) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from haven.auth.models import SessionRow, UserRow
    from haven.errors import NotFoundError

    user, _ = auth.add_user("portal", "leaver@example.org", ["member"], password=PASSWORD, actor="test")
    token = auth.login.start("portal", "leaver@example.org", PASSWORD).token
    auth.delete_user("portal", "leaver@example.org", actor="test")
    with pytest.raises(LoginRequiredError):
        auth.authenticate(token, "portal")
    with pytest.raises(NotFoundError):
        auth.users.get("portal", "leaver@example.org")
    with auth.engine.connect() as conn:
        assert conn.execute(select(UserRow.id).where(UserRow.id == user.id)).first() is None
        assert conn.execute(select(SessionRow.id).where(SessionRow.user_id == user.id)).first() is None
    assert events[-1].kind == "user_deleted" and events[-1].username is None
