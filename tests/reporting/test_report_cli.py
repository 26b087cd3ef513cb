"""The ``haven report`` shell end to end (in-process): login, status, create, list, show, submit,
reconcile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_helpers import MASTER_KEY, PASSWORD, USER
from typer.testing import CliRunner

from haven.errors import ConflictError
from haven.reporting.mock import MockNcmec


@pytest.fixture
def cli(tmp_path: Path, mock: MockNcmec, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in {"HAVEN_DATA_DIR": str(tmp_path / "data"), "HAVEN_DATABASE_URL": f"sqlite:///{tmp_path}/h.db",
                       "HAVEN_MASTER_KEY": MASTER_KEY, "HAVEN_NCMEC_ENV": "mock", "HAVEN_NCMEC_URL": mock.url,
                       "HAVEN_NCMEC_TIMEOUT": "2", "HAVEN_NCMEC_BACKOFF": "0.01"}.items():
        monkeypatch.setenv(key, value)
    from haven.cli.main import app

    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(app, ["report", *args], **kw)


def test_cli_session(cli, mock: MockNcmec, case_file: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli("status")
    assert r.exit_code == 3 and "no NCMEC credentials" in r.stdout  # not logged in yet
    assert cli("login", "--username", USER, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    r = cli("status", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["remote"]["ok"] is True
    r = cli("create", str(case_file))
    assert r.exit_code == 0 and "created report 1 (draft)" in r.stdout
    assert json.loads(cli("list", "--json").stdout)["state"] == "draft"
    assert "<report>" in cli("show", "1", "--xml").stdout
    r = cli("submit", "--json", "1")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert shown["state"] == "finished" and shown["ncmec_report_id"] == mock.reports()[0]["report_id"]
    assert "finished" in cli("show", "1", "--events").stdout
    assert cli("reconcile").stdout.strip() == "nothing to reconcile"
    r = cli("retract", "1")
    assert isinstance(r.exception, ConflictError)
    assert [x["state"] for x in mock.reports()] == ["finished"]


def test_cli_usage_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from haven.errors import FormatError, UsageError

    assert isinstance(cli("create").exception, UsageError)
    assert isinstance(cli("reconcile", "--max-age", "soon").exception, UsageError)
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"incident": {"time": "2024-01-15T14:30:00Z"}, "reporter": {"email": "a@example.com"}, "filez": []}'
    )
    r = cli("create", str(bad))
    assert isinstance(r.exception, FormatError) and "filez" in r.exception.message
