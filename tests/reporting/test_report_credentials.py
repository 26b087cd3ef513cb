"""Credentials are sealed at rest with the master key ring, whose key lives outside the data folder: only
sealed blobs in the database, a copied data folder opens nothing, rotation re-seals, and credentials stored
by an older Haven (Fernet under <data dir>/secret.key) are migrated once."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from report_helpers import PASSWORD, SECRET_KEY, USER
from sqlalchemy import text
from typer.testing import CliRunner

from haven.config import Settings
from haven.errors import AuthError, UsageError
from haven.reporting.credentials import Credentials, CredentialStore, is_legacy
from haven.reporting.service import ReportService
from haven.reporting.settings import ReportingSettings
from haven.secrets import KeyRing, read_key_file


def _settings(tmp_path: Path, data_dir: Path | None = None, **kw: object) -> Settings:
    return Settings(data_dir=data_dir or tmp_path / "data",  # type: ignore[arg-type]
                    database_url=f"sqlite:///{tmp_path / 'data' / 'haven.db'}",
                    master_key_file=tmp_path / "config" / "haven" / "master.key", **kw)


def _service(url: str, settings: Settings) -> ReportService:
    from haven.store.db import upgrade_database

    upgrade_database(url)  # as the shells do
    return ReportService(url, settings=settings,
                         reporting=ReportingSettings(environment="mock", url="http://127.0.0.1:9/ispws"))


def _blobs(svc: ReportService) -> list[bytes]:
    with svc.engine.connect() as conn:
        return [bytes(r[0]) for r in conn.execute(text("SELECT ciphertext FROM report_credentials"))]


def test_database_holds_only_sealed_blobs(db_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    KeyRing.load(settings, create=True)
    svc = _service(db_url, settings)
    svc.save_credentials(USER, PASSWORD)
    with svc.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM report_credentials")).all()
    assert len(rows) == 1
    dump = repr(rows).encode()
    assert PASSWORD.encode() not in dump and USER.encode() not in dump
    assert _blobs(svc)[0].startswith(b"HVS1")
    if db_url.startswith("sqlite"):
        raw = b"".join(p.read_bytes() for p in Path(db_url[len("sqlite:///"):]).parent.glob("*.db*"))
        assert raw and PASSWORD.encode() not in raw and USER.encode() not in raw
    client = svc.client("mock")  # opens with the same ring
    assert client._http.auth is not None
    client.close()
    with svc.sessions() as s:
        ring = KeyRing.load(settings)
        assert CredentialStore(ring).load(s, "mock") == Credentials(USER, PASSWORD)
        with pytest.raises(AuthError, match="cannot be opened"):
            CredentialStore(KeyRing([b"\x01" * 32])).load(s, "mock")
        with pytest.raises(AuthError, match="no NCMEC credentials"):
            CredentialStore(ring).load(s, "production")
    svc.close()


def test_key_is_outside_the_data_folder_and_a_copy_of_the_folder_opens_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ring = KeyRing.load(settings, create=True)
    key_file = settings.resolved_master_key_file
    assert not key_file.resolve().is_relative_to(settings.data_dir.resolve())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    svc = _service(settings.resolved_database_url, settings)
    svc.save_credentials(USER, PASSWORD)
    svc.close()
    assert not [p for p in settings.data_dir.rglob("*") if p.name.endswith(".key")]  # no key beside the data

    # Someone copies the whole data folder (database and all) to another machine with its own key ring.
    stolen = tmp_path / "elsewhere"
    shutil.copytree(settings.data_dir, stolen / "data")
    theirs = Settings(data_dir=stolen / "data", database_url=f"sqlite:///{stolen / 'data' / 'haven.db'}",
                      master_key_file=stolen / "config" / "master.key")
    KeyRing.load(theirs, create=True)
    copy = _service(theirs.resolved_database_url, theirs)
    with pytest.raises(AuthError, match="does not hold"):
        copy.client("mock")
    copy.close()
    # The original still opens (ring ≠ the copy's).
    assert _service(settings.resolved_database_url, settings).client("mock")._http.auth is not None
    assert ring.current_id != KeyRing.load(theirs).current_id


def test_a_key_file_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    inside = Settings(data_dir=tmp_path / "data", master_key_file=tmp_path / "data" / "master.key")
    with pytest.raises(UsageError, match="inside the data folder"):
        KeyRing.load(inside, create=True)


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("HAVEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'haven.db'}")
    monkeypatch.setenv("HAVEN_MASTER_KEY_FILE", str(tmp_path / "config" / "haven" / "master.key"))
    monkeypatch.delenv("HAVEN_MASTER_KEY", raising=False)
    from haven.cli.main import app, exit_code_for
    from haven.errors import HavenError

    r = CliRunner().invoke(app, ["secrets", *args])
    out = r.stdout + (r.stderr if r.stderr_bytes is not None else "")
    if isinstance(r.exception, HavenError):  # what `haven` itself prints and exits with (cli.main.main)
        return exit_code_for(r.exception), out + r.exception.message
    return r.exit_code, out


def test_rotation_reseals_and_retire_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    code, out = _cli(tmp_path, monkeypatch, "init")
    assert code == 0 and "created master key" in out, out
    settings = _settings(tmp_path)
    svc = _service(settings.resolved_database_url, settings)
    svc.save_credentials(USER, PASSWORD)
    svc.save_credentials("other", "other-password", "production")
    first = KeyRing.load(settings).current_id
    assert {KeyRing.load(settings).sealed_with(b) for b in _blobs(svc)} == {first}

    code, out = _cli(tmp_path, monkeypatch, "rotate", "--json")
    assert code == 0, out
    rotated = json.loads(out.splitlines()[0])
    second = rotated["current"]
    assert second != first and rotated["resealed"]["ncmec-credentials"] == 2
    assert rotated["can_retire"] == [first]
    ring = KeyRing.load(settings)
    assert ring.key_ids == [second, first]
    assert {ring.sealed_with(b) for b in _blobs(svc)} == {second}
    fresh = _service(settings.resolved_database_url, settings)
    assert fresh.client("mock")._http.auth is not None  # still opens, under the new key

    code, out = _cli(tmp_path, monkeypatch, "retire", second)
    assert code == 2 and "still seals 2 ncmec-credentials" in out, out
    code, out = _cli(tmp_path, monkeypatch, "retire", first)
    assert code == 0, out
    assert len(read_key_file(settings.resolved_master_key_file)) == 1
    status = json.loads(_cli(tmp_path, monkeypatch, "status", "--json")[1].splitlines()[0])
    assert status["keys"] == [second] and status["usage"]["ncmec-credentials"] == {second: 2}


def test_legacy_fernet_credentials_are_migrated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older Haven stored a Fernet token, with its key in <data dir>/secret.key."""
    from haven.store.db import upgrade_database

    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'haven.db'}"
    upgrade_database(url)
    legacy_file = data / "secret.key"
    legacy_file.write_text(SECRET_KEY)
    legacy_file.chmod(0o600)
    token = Fernet(SECRET_KEY.encode()).encrypt(json.dumps({"u": USER, "p": PASSWORD}).encode())
    svc = _service(url, _settings(tmp_path))
    with svc.engine.begin() as conn:
        conn.execute(text("INSERT INTO report_credentials (environment, ciphertext, updated_at) "
                          "VALUES ('mock', :c, CURRENT_TIMESTAMP)"), {"c": token})
    assert is_legacy(_blobs(svc)[0])

    code, out = _cli(tmp_path, monkeypatch, "init")
    assert code == 0, out
    flat = out.replace("\n", "")  # the console wraps long paths at its width
    assert "ncmec-credentials: 1 sealed under" in flat and "delete it" in flat and str(legacy_file) in flat
    (blob,) = _blobs(svc)
    assert not is_legacy(blob) and blob.startswith(b"HVS1")
    legacy_file.unlink()  # as the user is told; the ring alone opens the credentials now
    assert _service(url, _settings(tmp_path)).client("mock")._http.auth is not None
    status = json.loads(_cli(tmp_path, monkeypatch, "status", "--json")[1].splitlines()[0])
    assert status["legacy_key_file"] is None and "legacy" not in status["usage"]["ncmec-credentials"]


def test_legacy_credentials_without_their_key_say_what_to_do(tmp_path: Path) -> None:
    from haven.store.db import upgrade_database

    settings = _settings(tmp_path)
    settings.data_dir.mkdir()
    upgrade_database(settings.resolved_database_url)
    KeyRing.load(settings, create=True)
    svc = _service(settings.resolved_database_url, settings)
    token = Fernet(Fernet.generate_key()).encrypt(b'{"u": "x", "p": "y"}')
    with svc.engine.begin() as conn:
        conn.execute(text("INSERT INTO report_credentials (environment, ciphertext, updated_at) "
                          "VALUES ('mock', :c, CURRENT_TIMESTAMP)"), {"c": token})
    with pytest.raises(AuthError, match="secrets init"):
        svc.client("mock")
    # HAVEN_SECRET_KEY is still read, but only as the legacy key of this migration.
    with pytest.raises(AuthError, match="cannot be decrypted with the legacy key"):
        _service(settings.resolved_database_url,
                 _settings(tmp_path, legacy_secret_key=SECRET_KEY)).client("mock")


def test_repr_hides_the_password() -> None:
    assert PASSWORD not in repr(Credentials(USER, PASSWORD))
