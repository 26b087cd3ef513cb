"""NCMEC API credentials, sealed at rest with the master key ring (``haven.secrets``): AES-256-GCM under a
key kept outside the data folder, each blob bound to its environment's name. The database holds only
sealed blobs, so a copied database, data folder or backup does not give the credentials away.

Before the key ring, credentials were Fernet tokens under a key in ``<data dir>/secret.key`` (or
``HAVEN_SECRET_KEY``) — beside the database. Those are migrated once: ``haven secrets init`` (or the first
use of the credentials) opens them with that legacy key and re-seals them under the ring; then the old key
file can be deleted. The legacy key is never used for anything else.
"""

from __future__ import annotations

import json
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.config import Settings
from haven.errors import AuthError, IntegrityError, UsageError
from haven.reporting.models import Credential, utcnow
from haven.secrets import MAGIC, KeyRing, SealedData, register_sealed
from haven.store.db import make_engine, make_session_factory

LEGACY_KEY_FILE = "secret.key"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password by accident
        return f"Credentials(username={self.username!r}, password='***')"


def _context(environment: str) -> bytes:
    return f"ncmec-credentials:{environment}".encode()


def legacy_key(settings: Settings) -> bytes | None:
    """The pre-key-ring Fernet key, if this deployment has one (``HAVEN_SECRET_KEY`` or
    ``<data dir>/secret.key``); only for migrating what it sealed."""
    if settings.legacy_secret_key:
        key = settings.legacy_secret_key.encode()
        where = "HAVEN_SECRET_KEY"
    else:
        path = legacy_key_file(settings)
        if path is None:
            return None
        if path.stat().st_mode & 0o077:
            raise UsageError(f"{path} is readable by others (mode {stat.S_IMODE(path.stat().st_mode):o}); "
                             f"run: chmod 600 {path}")
        key = path.read_bytes().strip()
        where = str(path)
    try:
        Fernet(key)
    except ValueError:
        raise UsageError(f"{where}: not a Fernet key (32 url-safe base64-encoded bytes)") from None
    return key


def legacy_key_file(settings: Settings) -> Path | None:
    """``<data dir>/secret.key`` if it still exists (it should be deleted once migrated)."""
    path = settings.data_dir / LEGACY_KEY_FILE
    return path if path.is_file() else None


def is_legacy(blob: bytes) -> bool:
    return not bytes(blob).startswith(MAGIC)


class CredentialStore:
    """Reads and writes sealed credentials per environment (``test``, ``production``, ``mock``)."""

    def __init__(self, ring: KeyRing, *, legacy: bytes | None = None) -> None:
        self.ring = ring
        self.legacy = legacy

    def save(self, session: Session, environment: str, creds: Credentials) -> None:
        blob = self.ring.seal(json.dumps({"u": creds.username, "p": creds.password}).encode(),
                              context=_context(environment))
        row = session.scalar(select(Credential).where(Credential.environment == environment))
        if row is None:
            session.add(Credential(environment=environment, ciphertext=blob, updated_at=utcnow()))
        else:
            row.ciphertext = blob
            row.updated_at = utcnow()

    def load(self, session: Session, environment: str) -> Credentials:
        """The credentials of ``environment``; legacy ones are re-sealed on the way (the caller commits)."""
        row = session.scalar(select(Credential).where(Credential.environment == environment))
        if row is None:
            raise AuthError(f"no NCMEC credentials stored for the {environment!r} environment; "
                            f"run: haven report login --env {environment}")
        if is_legacy(row.ciphertext):
            self._migrate(row)
        try:
            data = json.loads(self.ring.open(row.ciphertext, context=_context(environment)))
        except IntegrityError as exc:
            raise AuthError(f"stored NCMEC credentials cannot be opened with this master key ring "
                            f"({self.ring.source}): {exc.message}") from None
        return Credentials(data["u"], data["p"])

    def _migrate(self, row: Credential) -> None:
        if self.legacy is None:
            raise AuthError(f"the {row.environment!r} credentials were stored by an older Haven under "
                            f"<data dir>/{LEGACY_KEY_FILE} (or HAVEN_SECRET_KEY), which is not here; restore "
                            "it and run `haven secrets init`, or log in again: haven report login")
        try:
            plain = Fernet(self.legacy).decrypt(bytes(row.ciphertext))
        except InvalidToken:
            raise AuthError(f"the {row.environment!r} credentials cannot be decrypted with the legacy key "
                            f"({LEGACY_KEY_FILE} or HAVEN_SECRET_KEY changed?)") from None
        row.ciphertext = self.ring.seal(plain, context=_context(row.environment))
        row.updated_at = utcnow()

    def usage(self, session: Session) -> dict[str, int]:
        """Stored blobs by the id of the key that sealed them (``legacy``: not yet under the ring)."""
        counts: Counter[str] = Counter()
        for blob in session.scalars(select(Credential.ciphertext)):
            counts["legacy" if is_legacy(blob) else self.ring.sealed_with(blob)] += 1
        return dict(counts)

    def reseal(self, session: Session) -> int:
        """Seal every stored credential under the ring's current key (migrating legacy ones where the legacy
        key is here); returns how many changed. Legacy ones without their key are left as they are."""
        changed = 0
        for row in session.scalars(select(Credential)):
            before = bytes(row.ciphertext)
            if is_legacy(before):
                if self.legacy is None:
                    continue
                self._migrate(row)
            else:
                row.ciphertext = self.ring.reseal(before, context=_context(row.environment))
                row.updated_at = utcnow()
            changed += bytes(row.ciphertext) != before
        return changed


def _with_store(settings: Settings, ring: KeyRing, work):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine).begin() as session:
            return work(CredentialStore(ring, legacy=legacy_key(settings)), session)
    finally:
        engine.dispose()


register_sealed(SealedData(
    name="ncmec-credentials",
    usage=lambda ring, settings: _with_store(settings, ring, lambda store, s: store.usage(s)),
    reseal=lambda ring, settings: _with_store(settings, ring, lambda store, s: store.reseal(s)),
))
