"""``haven secrets rotate`` re-seals every kind of sealed data Haven registers (NCMEC credentials and the
staff's TOTP secrets), and ``retire`` waits until nothing is sealed under the old key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from haven.auth.core import Auth
from haven.auth.models import UserRow
from haven.auth.users import totp_context
from haven.banks import BankStore
from haven.config import Settings
from haven.errors import HavenError
from haven.exchanges import ExchangeStore
from haven.reporting.credentials import Credentials, CredentialStore
from haven.secrets import KeyRing, sealed_data
from haven.store.db import make_engine, make_session_factory, upgrade_database


def _secrets(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("HAVEN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HAVEN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HAVEN_MASTER_KEY_FILE", str(settings.master_key_file))
    monkeypatch.delenv("HAVEN_MASTER_KEY", raising=False)
    from haven.cli.main import app, exit_code_for

    r = CliRunner().invoke(app, ["secrets", *args])
    if isinstance(r.exception, HavenError):
        return exit_code_for(r.exception), r.stdout + r.exception.message
    return r.exit_code, r.stdout


def test_every_registered_kind_is_resealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {d.name for d in sealed_data()} >= {"ncmec-credentials", "totp-secrets"}
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'haven.db'}",
                        master_key_file=tmp_path / "config" / "master.key")
    upgrade_database(settings.resolved_database_url)
    assert _secrets(monkeypatch, settings, "init")[0] == 0
    first = KeyRing.load(settings)
    auth = Auth(settings.resolved_database_url, key_ring=lambda: KeyRing.load(settings))
    user, _ = auth.add_user("staff", "lead1", ["lead"])
    auth.users.set_totp(user.id, b"s" * 20, 0)
    auth.close()
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        CredentialStore(first).save(s, "test", Credentials("u", "p"))
    banks = BankStore(settings.resolved_database_url)
    ExchangeStore(banks, first).add("nc", "ncmec", "nc", options={"url": "https://example.org"},
                                    credentials={"username": "u", "password": "p"})

    code, out = _secrets(monkeypatch, settings, "rotate", "--json")
    assert code == 0, out
    rotated = json.loads(out.splitlines()[0])
    assert rotated["resealed"] == {"exchange-credentials": 1, "ncmec-credentials": 1, "totp-secrets": 1,
                                   "vault-and-actions": 0}
    opened = ExchangeStore(banks, KeyRing.load(settings)).credentials("nc")
    assert opened == {"username": "u", "password": "p"}
    banks.close()
    ring = KeyRing.load(settings)
    with sessions() as s:
        blob = s.scalar(select(UserRow.totp_secret).where(UserRow.id == user.id))
        assert ring.sealed_with(blob) == ring.current_id != first.current_id
        assert ring.open(blob, context=totp_context(user.id)) == b"s" * 20
    code, out = _secrets(monkeypatch, settings, "retire", first.current_id)
    assert code == 0, out
    status = json.loads(_secrets(monkeypatch, settings, "status", "--json")[1].splitlines()[0])
    current = ring.current_id
    assert status["usage"] == {"exchange-credentials": {current: 1}, "ncmec-credentials": {current: 1},
                               "totp-secrets": {current: 1}, "vault-and-actions": {}}
    engine.dispose()
