"""Login throttling and lockout: per account (whether or not it exists) and per client address."""

from __future__ import annotations

import pytest
from auth_helpers import FAST, PASSWORD, FakeClock, kinds

from haven.auth import Auth
from haven.errors import AuthError, RateLimitedError


def _fail(auth: Auth, username: str, n: int, client: str = "10.1.1.1") -> None:
    for _ in range(n):
        with pytest.raises(AuthError):
            auth.login.start("staff", username, "not the password at all", client=client)


def test_account_locks_after_five_failures(auth: Auth, clock: FakeClock, events) -> None:  # type: ignore[no-untyped-def]
    auth.add_user("staff", "kim", ["reviewer"], password=PASSWORD)
    _fail(auth, "kim", FAST.user_max_failures)
    assert kinds(events).count("login_failed") == 5 and kinds(events).count("lockout") == 1
    with pytest.raises(RateLimitedError, match="this account") as info:
        auth.login.start("staff", "kim", PASSWORD, client="10.9.9.9")  # the right password, another address
    assert 0 < (info.value.retry_after or 0) <= FAST.user_lock_seconds
    clock.advance(FAST.user_lock_seconds - 1)
    with pytest.raises(RateLimitedError):
        auth.login.start("staff", "kim", PASSWORD)
    clock.advance(2)
    assert auth.login.start("staff", "kim", PASSWORD).done


def test_failures_outside_the_window_do_not_add_up(auth: Auth, clock: FakeClock) -> None:
    auth.add_user("staff", "kim", ["reviewer"], password=PASSWORD)
    for _ in range(3):
        _fail(auth, "kim", FAST.user_max_failures - 1)
        clock.advance(FAST.user_window_seconds + 1)
    assert auth.login.start("staff", "kim", PASSWORD).done


def test_success_clears_the_count(auth: Auth) -> None:
    auth.add_user("staff", "kim", ["reviewer"], password=PASSWORD)
    _fail(auth, "kim", FAST.user_max_failures - 1)
    assert auth.login.start("staff", "kim", PASSWORD).done
    _fail(auth, "kim", FAST.user_max_failures - 1)
    assert auth.login.start("staff", "kim", PASSWORD).done


def test_unknown_usernames_lock_the_same_way(auth: Auth) -> None:
    """A lock says nothing about which usernames exist."""
    _fail(auth, "nobody-here", FAST.user_max_failures)
    with pytest.raises(RateLimitedError, match="this account"):
        auth.login.start("staff", "nobody-here", "whatever password", client="10.2.2.2")


def test_address_throttle(auth: Auth) -> None:
    auth.add_user("staff", "kim", ["reviewer"], password=PASSWORD)
    for i in range(FAST.address_max_failures):  # one address spraying many names, 1 try each
        _fail(auth, f"user{i}", 1, client="10.3.3.3")
    with pytest.raises(RateLimitedError, match="this address"):
        auth.login.start("staff", "kim", PASSWORD, client="10.3.3.3")
    assert auth.login.start("staff", "kim", PASSWORD, client="10.4.4.4").done


def test_admin_reset_lifts_the_lock(auth: Auth) -> None:
    auth.add_user("staff", "kim", ["reviewer"], password=PASSWORD)
    _fail(auth, "kim", FAST.user_max_failures)
    _, once = auth.reset_password("staff", "kim", actor="user:1:admin")
    assert auth.login.start("staff", "kim", once, client="10.5.5.5").step == "password"


def test_totp_failures_count_towards_the_lock(db_url: str) -> None:
    from auth_helpers import code_at, user_secret

    from haven.secrets import KeyRing, new_key

    clock = FakeClock()
    ring = KeyRing([new_key()])
    auth = Auth(db_url, policy=FAST, key_ring=lambda: ring, clock=clock)
    try:
        auth.add_user("staff", "ada", ["admin"], password=PASSWORD)
        p = auth.login.start("staff", "ada", PASSWORD)
        auth.login.enrolment(p.token)
        from haven.auth.totp import TotpParams
        from haven.auth.users import totp_context

        pending = auth.sessions.pending_totp(p.session.id)
        secret = auth.users.open_totp(pending, b"haven:auth:totp:session:%d" % p.session.id)  # type: ignore[arg-type]
        auth.login.confirm_enrolment(p.token, TotpParams().code(secret, clock.now.timestamp()))
        assert user_secret(auth, auth.users.get("staff", "ada").id) == secret
        for _ in range(FAST.user_max_failures):
            clock.advance(31)
            p = auth.login.start("staff", "ada", PASSWORD)
            with pytest.raises(AuthError):
                wrong = "000000" if code_at(secret, clock.now) != "000000" else "111111"
                auth.login.verify_totp(p.token, wrong)
        with pytest.raises(RateLimitedError):
            auth.login.start("staff", "ada", PASSWORD)
    finally:
        auth.close()
