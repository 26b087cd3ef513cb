"""Shared fixtures: paths to ../shared, and database URLs for SQLite and PostgreSQL.

Any test taking ``db_url`` runs twice: on a fresh SQLite file and on a fresh PostgreSQL database
(created per test on HAVEN_TEST_POSTGRES_URL, default the local server's ``test`` database).
PostgreSQL tests are skipped, loudly, only when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from haven_testdata import FORMATS_REF, NCMEC_REF, PDQ_REF, PHOTOS, REPO, SHARED  # noqa: F401 (re-exported)

POSTGRES_URL = os.environ.get("HAVEN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_state: dict[str, object] = {}


def postgres_available() -> bool:
    if "ok" not in _pg_state:
        try:
            import psycopg

            with psycopg.connect(_libpq(POSTGRES_URL), connect_timeout=3):
                pass
            _pg_state["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            _pg_state["ok"] = False
            _pg_state["why"] = repr(exc)
    return bool(_pg_state["ok"])


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def photos() -> Path:
    return PHOTOS


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'haven.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {_pg_state.get('why')} — POSTGRES TESTS SKIPPED")
    import psycopg

    name = f"haven_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
