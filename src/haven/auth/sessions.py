"""Browser sessions in the database: a random id in the cookie, only its SHA-256 stored, idle and absolute
expiry, ended on the server at logout (and for every session of a user on disable or reset).

A session is *pending* while a sign-in step is still owed (``stage`` ``totp``, ``password`` or ``enrol``)
and *active* once every factor is done. Each stage change issues a new id and a new CSRF token, so an id
seen before sign-in (session fixation) or before a step is worth nothing after it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, or_, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from haven.auth.clock import Clock, as_utc, utcnow
from haven.auth.models import SessionRow
from haven.auth.policy import AuthPolicy

ACTIVE = "active"
# Ended or expired sessions are kept this long (who was signed in when), then deleted.
KEEP_ENDED = timedelta(days=30)


def hash_token(token: str) -> str:
    """SHA-256 hex of a session id: 256 random bits need no slow hash (as for API keys)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """A session without its id (the id exists only in the cookie)."""

    id: int
    user_id: int
    realm: str
    stage: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client: str | None
    user_agent: str | None

    @property
    def active(self) -> bool:
        return self.stage == ACTIVE


def _to_session(row: SessionRow) -> Session:
    now = utcnow()
    return Session(id=row.id, user_id=row.user_id, realm=row.realm, stage=row.stage,
                   csrf_token=row.csrf_token, created_at=as_utc(row.created_at) or now,
                   last_seen_at=as_utc(row.last_seen_at) or now,
                   expires_at=as_utc(row.expires_at) or now, client=row.client, user_agent=row.user_agent)


class SessionStore:
    """Create, look up, advance and end sessions."""

    def __init__(self, session: sessionmaker[OrmSession], policy: AuthPolicy, *,
                 clock: Clock = utcnow) -> None:
        self._session = session
        self.policy = policy
        self._clock = clock

    def _expiry(self, stage: str, now: datetime) -> datetime:
        p = self.policy
        seconds = p.session_absolute_seconds if stage == ACTIVE else p.login_pending_seconds
        return now + timedelta(seconds=seconds)

    def create(self, user_id: int, realm: str, stage: str, *, client: str | None = None,
               user_agent: str | None = None) -> tuple[Session, str]:
        """A new session; returns it and its id (the cookie value, never stored)."""
        now = self._clock()
        token = new_token()
        row = SessionRow(token_hash=hash_token(token), user_id=user_id, realm=realm, stage=stage,
                         csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now,
                         expires_at=self._expiry(stage, now), ended_at=None, end_reason=None,
                         client=(client or "")[:64] or None, user_agent=(user_agent or "")[:200] or None,
                         totp_pending=None)
        with self._session.begin() as s:
            s.add(row)
            s.flush()
            session = _to_session(row)
        self._purge(now)
        return session, token

    def get(self, token: str | None) -> Session | None:
        """The live session for a cookie value, or None if unknown, ended, idle too long or past its end.
        An expired session is ended on the way (``end_reason`` ``expired`` / ``idle``)."""
        if not token:
            return None
        now = self._clock()
        with self._session() as s:
            row = s.scalars(select(SessionRow).where(SessionRow.token_hash == hash_token(token))).first()
            if row is None or row.ended_at is not None:
                return None
            session = _to_session(row)
        idle = (now - session.last_seen_at).total_seconds()
        if now >= session.expires_at:
            self._end_ids([session.id], "expired")
            return None
        if session.active and idle > self.policy.session_idle_seconds:
            self._end_ids([session.id], "idle")
            return None
        if idle >= self.policy.session_touch_seconds:
            with self._session.begin() as s:
                s.execute(update(SessionRow).where(SessionRow.id == session.id).values(last_seen_at=now))
        return session

    def advance(self, session_id: int, stage: str) -> tuple[Session, str]:
        """Move a session to ``stage`` under a new id and CSRF token; becoming active starts its absolute
        lifetime. Returns the session and its new id."""
        now = self._clock()
        token = new_token()
        with self._session.begin() as s:
            row = s.get(SessionRow, session_id, with_for_update=True)
            if row is None or row.ended_at is not None:
                raise LookupError("session ended")
            row.token_hash, row.csrf_token, row.stage = hash_token(token), secrets.token_urlsafe(32), stage
            row.last_seen_at = now
            if stage == ACTIVE:
                row.expires_at, row.totp_pending = self._expiry(stage, now), None
            return _to_session(row), token

    def set_pending_totp(self, session_id: int, blob: bytes | None) -> None:
        with self._session.begin() as s:
            s.execute(update(SessionRow).where(SessionRow.id == session_id).values(totp_pending=blob))

    def pending_totp(self, session_id: int) -> bytes | None:
        with self._session() as s:
            row = s.get(SessionRow, session_id)
            return bytes(row.totp_pending) if row is not None and row.totp_pending is not None else None

    def end(self, token: str | None, reason: str = "logout") -> Session | None:
        """End the session of a cookie value on the server; returns it, or None if there was none live."""
        if not token:
            return None
        with self._session() as s:
            row = s.scalars(select(SessionRow).where(SessionRow.token_hash == hash_token(token))).first()
            if row is None or row.ended_at is not None:
                return None
            session = _to_session(row)
        self._end_ids([session.id], reason)
        return session

    def end_all(self, user_id: int, reason: str) -> int:
        """End every live session of a user (disable, password or TOTP reset); returns how many."""
        with self._session.begin() as s:
            done = cast(CursorResult[Any], s.execute(update(SessionRow)
                             .where(SessionRow.user_id == user_id, SessionRow.ended_at.is_(None))
                             .values(ended_at=self._clock(), end_reason=reason, totp_pending=None)))
            return int(done.rowcount or 0)

    def live(self, user_id: int) -> list[Session]:
        """The user's sessions that are not ended and not past their absolute end."""
        now = self._clock()
        with self._session() as s:
            rows = s.scalars(select(SessionRow)
                             .where(SessionRow.user_id == user_id, SessionRow.ended_at.is_(None),
                                    SessionRow.expires_at > now).order_by(SessionRow.id))
            return [_to_session(r) for r in rows]

    def _end_ids(self, ids: list[int], reason: str) -> None:
        with self._session.begin() as s:
            s.execute(update(SessionRow).where(SessionRow.id.in_(ids), SessionRow.ended_at.is_(None))
                      .values(ended_at=self._clock(), end_reason=reason, totp_pending=None))

    def _purge(self, now: datetime) -> None:
        old = now - KEEP_ENDED
        with self._session.begin() as s:
            ended_long_ago = and_(SessionRow.ended_at.is_not(None), SessionRow.ended_at < old)
            s.execute(delete(SessionRow).where(or_(ended_long_ago, SessionRow.expires_at < old)))
