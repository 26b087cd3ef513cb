"""Running ``haven`` in tests, importable from any test module (see ``haven_testdata`` for why not a
conftest): a fresh data folder and database per test, and the CLI invoked in process with the exit code
``haven.cli.main.main`` would give."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haven.cli.main import app, exit_code_for
from haven.errors import HavenError


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh data folder and SQLite database for the test; the environment, for subprocesses."""
    monkeypatch.setenv("HAVEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{tmp_path / 'haven.db'}")
    monkeypatch.setenv("HAVEN_ACTOR", "tester")
    return dict(os.environ)


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Invoke in process; a HavenError gets the exit code ``haven.cli.main.main`` gives it, its message
    appended to the output."""
    result = CliRunner().invoke(app, list(args), input=stdin)
    if isinstance(result.exception, HavenError):
        return exit_code_for(result.exception), result.output + result.exception.message
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output
