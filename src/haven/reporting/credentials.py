"""NCMEC API credentials, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from ``HAVEN_SECRET_KEY`` (a Fernet key) or from ``<data dir>/secret.key``, created on
first use with mode 0600. The database holds only ciphertext, so a copied database or backup does not
leak the credentials without the key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.errors import AuthError, UsageError
from haven.reporting.models import Credential, utcnow

KEY_ENV = "HAVEN_SECRET_KEY"
KEY_FILE = "secret.key"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password by accident
        return f"Credentials(username={self.username!r}, password='***')"


def load_key(data_dir: Path) -> bytes:
    """The Fernet key: from the environment, else the key file (created 0600 if absent)."""
    env = os.environ.get(KEY_ENV)
    if env:
        key = env.encode()
        _check_key(key, KEY_ENV)
        return key
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_key(data_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise UsageError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    key = path.read_bytes().strip()
    _check_key(key, str(path))
    return key


def _check_key(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except ValueError:
        raise UsageError(f"{where}: not a Fernet key (32 url-safe base64-encoded bytes)") from None


class CredentialStore:
    """Reads and writes encrypted credentials per environment (``test``, ``production``, ``mock``)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def save(self, session: Session, environment: str, creds: Credentials) -> None:
        token = self._fernet.encrypt(json.dumps({"u": creds.username, "p": creds.password}).encode())
        row = session.scalar(select(Credential).where(Credential.environment == environment))
        if row is None:
            session.add(Credential(environment=environment, ciphertext=token, updated_at=utcnow()))
        else:
            row.ciphertext = token
            row.updated_at = utcnow()

    def load(self, session: Session, environment: str) -> Credentials:
        row = session.scalar(select(Credential).where(Credential.environment == environment))
        if row is None:
            raise AuthError(f"no NCMEC credentials stored for the {environment!r} environment; "
                            f"run: haven report login --env {environment}")
        try:
            data = json.loads(self._fernet.decrypt(bytes(row.ciphertext)))
        except InvalidToken:
            raise AuthError("stored NCMEC credentials cannot be decrypted with this key "
                            f"({KEY_ENV} or the data dir's {KEY_FILE} changed?)") from None
        return Credentials(data["u"], data["p"])
