"""API keys for machines: create, list, revoke, authenticate. Secrets are shown once, stored only as SHA-256.

A key is ``hvn_`` + 43 url-safe characters (256 random bits). Because the secret is high-entropy
and random, a single fast SHA-256 is enough to make the stored hash useless to a thief: there is
no dictionary to try, so a slow password hash (bcrypt/argon2) would add latency and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from haven.auth.clock import as_utc
from haven.auth.models import ApiKeyRow
from haven.errors import AuthError, NotFoundError, PermissionDeniedError, UsageError
from haven.store.db import make_engine, make_session_factory

KEY_PREFIX = "hvn_"
SCOPES = ("match", "banks:write", "admin", "review", "report")
#: How long an authentication result is cached per worker: a revoked key stops working within this.
AUTH_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class ApiKey:
    """An API key without its secret."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit: float | None
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        """True when the key holds ``scope``; ``admin`` holds every scope."""
        return scope in self.scopes or "admin" in self.scopes

    def require(self, *scopes: str) -> None:
        """Raise ``PermissionDeniedError`` unless the key holds one of ``scopes``."""
        if not any(self.allows(s) for s in scopes):
            wanted = " or ".join(repr(s) for s in scopes)
            raise PermissionDeniedError(f"this API key lacks the {wanted} scope")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "rate_limit": self.rate_limit,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a key secret (what the database stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _to_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, prefix=row.prefix, scopes=tuple(row.scopes),
                  rate_limit=row.rate_limit, created_at=as_utc(row.created_at) or datetime.now(UTC),
                  revoked_at=as_utc(row.revoked_at))


def validate_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check scope names; raises ``UsageError`` on an unknown or missing scope."""
    if not scopes:
        raise UsageError(f"give at least one --scope ({', '.join(SCOPES)})")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise UsageError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in scopes)


class KeyStore:
    """API keys in the Haven database, with a short per-process cache for authentication."""

    def __init__(self, url: str) -> None:
        # The database must be at the current schema: shells migrate, core objects never do.
        self.engine = make_engine(url)
        self._session = make_session_factory(self.engine)
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, scopes: list[str] | tuple[str, ...], *,
               rate_limit: float | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret (the only time the secret exists in clear)."""
        if not name.strip():
            raise UsageError("a key needs a name")
        if rate_limit is not None and rate_limit < 0:
            raise UsageError("--rate-limit must be ≥ 0 (0 = unlimited)")
        checked = validate_scopes(scopes)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(name=name.strip(), prefix=secret[:12], key_hash=hash_secret(secret),
                        scopes=list(checked), rate_limit=rate_limit, created_at=datetime.now(UTC),
                        revoked_at=None)
        with self._session.begin() as s:
            s.add(row)
            s.flush()
            key = _to_key(row)
        return key, secret

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._session() as s:
            return [_to_key(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def count_active(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(ApiKeyRow)
                                .where(ApiKeyRow.revoked_at.is_(None))) or 0)

    def revoke(self, key_id: int) -> ApiKey:
        """Revoke a key (idempotent); raises ``NotFoundError`` for an unknown id."""
        with self._session.begin() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"no API key with id {key_id}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            key = _to_key(row)
        with self._lock:
            self._cache.clear()
        return key

    def authenticate(self, secret: str | None) -> ApiKey:
        """The active key for ``secret``; raises ``AuthError`` if missing, unknown or revoked."""
        if not secret:
            raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
        digest = hash_secret(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            key = cached[1]
        else:
            key = self._lookup(digest)
            with self._lock:
                if len(self._cache) > 10_000:  # unknown keys must not grow the cache without bound
                    self._cache.clear()
                self._cache[digest] = (now + AUTH_CACHE_SECONDS, key)
        if key is None:
            raise AuthError("unknown or revoked API key")
        return key

    def _lookup(self, digest: str) -> ApiKey | None:
        with self._session() as s:
            row = s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest)).first()
            # The index lookup finds the row; compare_digest keeps the final check constant-time.
            if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
                return None
            return _to_key(row)

    def close(self) -> None:
        self.engine.dispose()
