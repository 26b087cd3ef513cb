"""Argon2id password hashing: verify, refuse, policy, and re-hash at sign-in when the parameters change."""

from __future__ import annotations

import pytest
from auth_helpers import FAST, PASSWORD, FakeClock
from sqlalchemy import select

from haven.auth import Auth, AuthPolicy
from haven.auth.models import UserRow
from haven.auth.passwords import PasswordHasher, one_time_password
from haven.errors import UsageError


def test_hash_and_verify() -> None:
    h = PasswordHasher(FAST)
    stored = h.hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=8192,t=1,p=1$") and PASSWORD not in stored
    assert h.verify(stored, PASSWORD)
    assert not h.verify(stored, PASSWORD + " ")
    assert not h.verify(stored, "")
    assert not h.verify("not-a-hash", PASSWORD)
    assert not h.verify(None, PASSWORD)  # unknown user: the decoy hash, still False
    assert h.hash(PASSWORD) != stored  # salted


def test_default_parameters_are_rfc9106_low_memory() -> None:
    stored = PasswordHasher().hash("x" * 20)
    assert "$m=65536,t=3,p=4$" in stored


def test_policy() -> None:
    h = PasswordHasher(FAST)
    h.check_policy("fifteen chars!!")
    for bad, why in [("short", "at least 15"), ("x" * 257, "at most 256")]:
        with pytest.raises(UsageError, match=why):
            h.check_policy(bad)
    with pytest.raises(UsageError, match="username"):
        h.check_policy("Alice.Longname.Here", username="alice.longname.here")


def test_needs_rehash_when_parameters_change() -> None:
    old = PasswordHasher(FAST).hash(PASSWORD)
    stronger = PasswordHasher(AuthPolicy(argon2_time_cost=2, argon2_memory_kib=8 * 1024,
                                         argon2_parallelism=1))
    assert stronger.needs_rehash(old) and not PasswordHasher(FAST).needs_rehash(old)
    assert stronger.verify(old, PASSWORD)  # old hashes still verify


def test_one_time_passwords_are_long_and_distinct() -> None:
    made = {one_time_password() for _ in range(200)}
    assert len(made) == 200
    assert all(len(p) == 23 and p.count("-") == 3 for p in made)


def test_rehash_on_login(db_url: str) -> None:
    """A hash made with older parameters is replaced by one with the current ones at the next sign-in."""
    old = Auth(db_url, policy=FAST, clock=FakeClock())
    user, _ = old.add_user("staff", "rita", ["reviewer"], password=PASSWORD)
    old.close()
    newer = AuthPolicy(argon2_time_cost=2, argon2_memory_kib=16 * 1024, argon2_parallelism=1)
    auth = Auth(db_url, policy=newer)
    try:
        def stored() -> str:
            with auth.engine.connect() as conn:
                q = select(UserRow.password_hash).where(UserRow.id == user.id)
                return str(conn.execute(q).scalar_one())

        assert "$m=8192,t=1,p=1$" in stored()
        assert auth.users.verify_password("staff", "rita", "wrong password here") is None
        assert "$m=8192,t=1,p=1$" in stored()  # a failed attempt changes nothing
        assert auth.users.verify_password("staff", "RITA", PASSWORD) is not None
        assert "$m=16384,t=2,p=1$" in stored()
        assert auth.users.verify_password("staff", "rita", PASSWORD) is not None
    finally:
        auth.close()
