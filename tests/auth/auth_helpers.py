"""Helpers for the identity tests (imported by name; tests/auth is on sys.path through its conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from haven.auth import Auth, AuthPolicy, SecurityEvent
from haven.auth.totp import TotpParams
from haven.auth.users import totp_context

# Real Argon2id, with parameters cheap enough for hundreds of hashes in a test run.
FAST = AuthPolicy(argon2_time_cost=1, argon2_memory_kib=8 * 1024, argon2_parallelism=1)
PASSWORD = "correct horse battery staple"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def kinds(events: list[SecurityEvent]) -> list[str]:
    return [e.kind for e in events]


def user_secret(auth: Auth, user_id: int) -> bytes:
    """A user's TOTP secret, opened as the store does (what the user's authenticator app holds)."""
    from haven.auth.models import UserRow

    with auth.engine.connect() as conn:
        blob = conn.execute(UserRow.__table__.select().where(UserRow.id == user_id)).one().totp_secret
    return auth.users.open_totp(blob, totp_context(user_id))


def code_at(secret: bytes, when: datetime, params: TotpParams | None = None) -> str:
    return (params or TotpParams()).code(secret, when.timestamp())
