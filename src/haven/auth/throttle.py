"""Login throttling and lockout, counted in the database so every worker and process sees the same counts.

Two kinds of key: ``user:<realm>:<username>`` (the account, whether or not it exists) and
``addr:<client address>``. A key that collects ``max_failures`` failures within ``window`` seconds is
blocked for ``lock`` seconds; a successful sign-in clears its account key. The defaults and their reasons
are in ``AuthPolicy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from haven.auth.clock import Clock, as_utc, utcnow
from haven.auth.models import ThrottleRow
from haven.auth.policy import AuthPolicy
from haven.errors import RateLimitedError


def user_key(realm: str, username: str) -> str:
    return f"user:{realm}:{username.strip().lower()}"


def address_key(client: str | None) -> str:
    return f"addr:{client or 'unknown'}"


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window: float
    lock: float


@dataclass(frozen=True)
class Lock:
    key: str
    until: datetime


class LoginThrottle:
    """Failure counters with time locks, per key."""

    def __init__(self, session: sessionmaker[OrmSession], policy: AuthPolicy, *,
                 clock: Clock = utcnow) -> None:
        self._session = session
        self._clock = clock
        self.user_limit = Limit(policy.user_max_failures, policy.user_window_seconds,
                                policy.user_lock_seconds)
        self.address_limit = Limit(policy.address_max_failures, policy.address_window_seconds,
                                   policy.address_lock_seconds)

    def limit_for(self, key: str) -> Limit:
        return self.address_limit if key.startswith("addr:") else self.user_limit

    def check(self, *keys: str) -> None:
        """Raise ``RateLimitedError`` (with ``retry_after``) if any key is locked now."""
        now = self._clock()
        with self._session() as s:
            for key in keys:
                row = s.get(ThrottleRow, key)
                until = as_utc(row.blocked_until) if row is not None else None
                if until is not None and until > now:
                    wait = (until - now).total_seconds()
                    who = "this address" if key.startswith("addr:") else "this account"
                    raise RateLimitedError(f"too many failed sign-ins from {who}; try again in "
                                           f"{max(1, math.ceil(wait / 60))} minute(s)", retry_after=wait)

    def failure(self, *keys: str) -> list[Lock]:
        """Count one failure against each key; returns the locks this failure started."""
        started = []
        for key in keys:
            lock = self._fail_one(key)
            if lock is not None:
                started.append(lock)
        self._purge()
        return started

    def _fail_one(self, key: str) -> Lock | None:
        limit = self.limit_for(key)
        for _ in range(3):  # two workers may insert the same new key at once: the loser retries as an update
            now = self._clock()
            try:
                with self._session.begin() as s:
                    row = s.get(ThrottleRow, key, with_for_update=True)
                    if row is None:
                        row = ThrottleRow(key=key, failures=0, window_started_at=now, blocked_until=None)
                        s.add(row)
                    elif (now - (as_utc(row.window_started_at) or now)).total_seconds() > limit.window:
                        row.failures, row.window_started_at = 0, now
                    row.failures += 1
                    if row.failures >= limit.max_failures:
                        row.blocked_until = now + timedelta(seconds=limit.lock)
                        row.failures, row.window_started_at = 0, now
                        return Lock(key, row.blocked_until)
                    return None
            except IntegrityError:
                continue
        return None

    def reset(self, *keys: str) -> None:
        """Forget the failures and any lock of ``keys`` (a successful sign-in, an admin unlock)."""
        with self._session.begin() as s:
            s.execute(delete(ThrottleRow).where(ThrottleRow.key.in_(keys)))

    def _purge(self) -> None:
        # Rows whose window and lock are both over carry no information; keep the table small.
        now = self._clock()
        horizon = now - timedelta(seconds=max(self.user_limit.window, self.address_limit.window))
        with self._session.begin() as s:
            s.execute(delete(ThrottleRow).where(and_(
                ThrottleRow.window_started_at < horizon,
                or_(ThrottleRow.blocked_until.is_(None), ThrottleRow.blocked_until < now))))
