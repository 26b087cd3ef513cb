"""``haven users``: add, list (--json), disable, enable, reset-password, reset-totp, and their exit codes, run
in-process through the same ``main()`` (and exit-code mapping) the ``haven`` script runs."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from haven.auth import Auth, AuthPolicy
from haven.secrets import create_key_file


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    from haven.cli.main import main

    monkeypatch.setenv("HAVEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HAVEN_DATABASE_URL", "")
    key_file = tmp_path / "config" / "master.key"
    create_key_file(key_file)
    monkeypatch.setenv("HAVEN_MASTER_KEY_FILE", str(key_file))

    def _run(*args: str, stdin: str = "") -> Ran:
        monkeypatch.setattr(sys, "argv", ["haven", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return _run


def _auth(tmp_path: Path) -> Auth:
    return Auth(f"sqlite:///{tmp_path / 'data' / 'haven.db'}", policy=AuthPolicy())


def test_users_lifecycle(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run("users", "add", "Alice", "--role", "lead", "--role", "reviewer", "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["username"] == "alice" and made["roles"] == ["reviewer", "lead"] and made["realm"] == "staff"
    assert made["must_change_password"] and made["totp_required"] and len(made["one_time_password"]) == 23
    auth = _auth(tmp_path)
    try:
        assert auth.login.start("staff", "alice", made["one_time_password"]).step == "password"
    finally:
        auth.close()

    r = run("users", "add", "bob", "--role", "member", "--realm", "portal", "--password-stdin",
            stdin="a long enough passphrase\n")
    assert r.returncode == 0 and "one-time" not in r.stdout
    listed = [json.loads(line) for line in run("users", "list", "--json").stdout.splitlines()]
    assert [(u["realm"], u["username"]) for u in listed] == [("staff", "alice"), ("portal", "bob")]
    assert all("password" not in k or k == "must_change_password" for u in listed for k in u)
    assert [u["username"] for u in map(json.loads, run("users", "list", "--realm", "portal", "--json")
                                      .stdout.splitlines())] == ["bob"]
    table = run("users", "list").stdout
    assert "alice" in table and "required, not set up" in table

    assert run("users", "disable", "alice").returncode == 0
    assert json.loads(run("users", "list", "--json").stdout.splitlines()[0])["disabled"] is True
    assert run("users", "enable", "alice").returncode == 0
    r = run("users", "reset-password", "alice", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["one_time_password"] != made["one_time_password"]
    r = run("users", "reset-totp", "alice")
    assert r.returncode == 0 and "no TOTP secret" in r.stdout


@pytest.mark.parametrize(("args", "code"), [
    (("users", "disable", "nobody"), 2),                                   # unknown user
    (("users", "reset-password", "nobody"), 2),
    (("users", "add", "x", "--role", "superuser"), 2),                   # unknown role
    (("users", "add", "x", "--role", "member"), 2),                      # a portal role in the staff realm
    (("users", "add", "x", "--role", "admin", "--realm", "nowhere"), 2),  # unknown realm
    (("users", "add", "bad name", "--role", "admin"), 2),
    (("users", "list", "--realm", "nowhere"), 2),
])
def test_usage_errors_exit_2(run, args: tuple[str, ...], code: int) -> None:  # type: ignore[no-untyped-def]
    r = run(*args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "error:" in r.stderr


def test_duplicate_user_exits_3(run) -> None:  # type: ignore[no-untyped-def]
    assert run("users", "add", "carol", "--role", "reviewer").returncode == 0
    r = run("users", "add", "CAROL", "--role", "admin")
    assert r.returncode == 3 and "already exists" in r.stderr


def test_short_password_on_stdin_exits_2(run) -> None:  # type: ignore[no-untyped-def]
    r = run("users", "add", "dave", "--role", "reviewer", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least 15" in r.stderr
