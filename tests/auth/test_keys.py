"""API keys on SQLite and PostgreSQL: shown once, stored hashed, scoped, revocable; the CLI around them."""

from __future__ import annotations

import json
import sys

import pytest
from sqlalchemy import select

from haven.auth.keys import KEY_PREFIX, KeyStore, hash_secret
from haven.auth.models import ApiKeyRow
from haven.errors import AuthError, NotFoundError, PermissionDeniedError, UsageError


def test_create_authenticate_revoke(db_url: str) -> None:
    store = KeyStore(db_url)
    try:
        key, secret = store.create("bot", ["match", "banks:write"])
        assert secret.startswith(KEY_PREFIX) and len(secret) >= 40
        assert key.prefix == secret[:12] and key.scopes == ("match", "banks:write")
        with store.engine.connect() as conn:
            row = conn.execute(select(ApiKeyRow.__table__)).one()
        assert secret not in str(tuple(row)), "the secret must not be stored"
        assert row.key_hash == hash_secret(secret)

        got = store.authenticate(secret)
        assert got.id == key.id and got.allows("match") and not got.allows("admin")
        with pytest.raises(PermissionDeniedError):
            got.require("admin")
        for bad in (None, "", secret + "x", "hvn_" + "A" * 43):
            with pytest.raises(AuthError):
                store.authenticate(bad)

        revoked = store.revoke(key.id)
        assert revoked.revoked_at is not None
        with pytest.raises(AuthError):
            store.authenticate(secret)  # this process's cache is cleared on revoke
        assert store.revoke(key.id).revoked_at == revoked.revoked_at  # idempotent
        with pytest.raises(NotFoundError):
            store.revoke(9999)
        assert [k.id for k in store.list()] == [key.id] and store.count_active() == 0
    finally:
        store.close()


def test_admin_holds_every_scope(sqlite_url: str) -> None:
    store = KeyStore(sqlite_url)
    key, secret = store.create("root", ["admin"])
    assert all(key.allows(s) for s in ("match", "banks:write", "review", "report"))
    store.close()


@pytest.mark.parametrize("scopes", [[], ["nope"], ["match", "root"]])
def test_bad_scopes(sqlite_url: str, scopes: list[str]) -> None:
    store = KeyStore(sqlite_url)
    with pytest.raises(UsageError):
        store.create("x", scopes)
    store.close()


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_cli_keys(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """In-process, through the same ``main()`` (and exit-code mapping) the ``haven`` script runs."""
    from haven.cli.main import main

    monkeypatch.setenv("HAVEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HAVEN_DATABASE_URL", "")

    def run(*args: str) -> Ran:
        monkeypatch.setattr(sys, "argv", ["haven", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    r = run("keys", "create", "ci-bot", "--scope", "match", "--scope", "banks:write", "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert set(made) >= {"key", "id", "scopes"} and made["scopes"] == ["match", "banks:write"]
    listed = [json.loads(line) for line in run("keys", "list", "--json").stdout.splitlines()]
    assert [k["id"] for k in listed] == [made["id"]] and "key" not in listed[0]
    assert made["key"] not in run("keys", "list").stdout
    assert run("keys", "revoke", str(made["id"])).returncode == 0
    store = KeyStore(f"sqlite:///{tmp_path / 'haven.db'}")
    with pytest.raises(AuthError):
        store.authenticate(made["key"])
    store.close()
    assert run("keys", "revoke", "999").returncode == 2
    assert run("keys", "create", "x", "--scope", "bogus").returncode == 2
