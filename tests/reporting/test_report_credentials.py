"""Credentials are encrypted at rest: only ciphertext in the database, the key kept apart with mode 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from report_helpers import PASSWORD, USER
from sqlalchemy import text

from haven.config import Settings
from haven.errors import AuthError, UsageError
from haven.reporting.credentials import KEY_ENV, Credentials, CredentialStore, load_key
from haven.reporting.service import ReportService
from haven.reporting.settings import ReportingSettings


def _service(url: str, data_dir: Path) -> ReportService:
    return ReportService(url, settings=Settings(data_dir=data_dir),
                         reporting=ReportingSettings(environment="mock", url="http://127.0.0.1:9/ispws"))


def test_database_holds_only_ciphertext(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    svc = _service(db_url, tmp_path / "data")
    svc.save_credentials(USER, PASSWORD)
    with svc.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM report_credentials")).all()
    assert len(rows) == 1
    dump = repr(rows).encode()
    assert PASSWORD.encode() not in dump and USER.encode() not in dump
    if db_url.startswith("sqlite"):
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("haven.db*"))
        assert raw and PASSWORD.encode() not in raw and USER.encode() not in raw
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    client = svc.client("mock")  # decrypts with the same key
    assert client._http.auth is not None
    client.close()
    with svc.sessions() as s:
        assert CredentialStore(load_key(tmp_path / "data")).load(s, "mock") == Credentials(USER, PASSWORD)
        with pytest.raises(AuthError, match="cannot be decrypted"):
            CredentialStore(Fernet.generate_key()).load(s, "mock")
        with pytest.raises(AuthError, match="no NCMEC credentials"):
            CredentialStore(load_key(tmp_path / "data")).load(s, "production")
    svc.close()


def test_key_from_environment_and_key_file_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv(KEY_ENV, key.decode())
    assert load_key(tmp_path) == key and not (tmp_path / "secret.key").exists()
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(UsageError):
        load_key(tmp_path)
    monkeypatch.delenv(KEY_ENV)
    first = load_key(tmp_path)
    assert load_key(tmp_path) == first  # stable across calls
    (tmp_path / "secret.key").chmod(0o644)
    with pytest.raises(UsageError, match="readable by others"):
        load_key(tmp_path)


def test_repr_hides_the_password() -> None:
    assert PASSWORD not in repr(Credentials(USER, PASSWORD))
