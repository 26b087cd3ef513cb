"""Shared fixtures: paths to ../shared, and database URLs for SQLite and PostgreSQL.

Any test taking ``db_url`` runs twice: on a fresh SQLite file and on a fresh PostgreSQL database
(created per test on HAVEN_TEST_POSTGRES_URL, default the local server's ``test`` database).
PostgreSQL tests are skipped, loudly, only when no server answers.

``db_url``, ``sqlite_url`` and ``postgres_url`` are migrated to the current schema, as a shell would
have done (``upgrade_database``), by copying a template migrated once per session; the ``empty_*``
fixtures give databases with no schema at all, for the migration tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from haven_testdata import FORMATS_REF, NCMEC_REF, PDQ_REF, PHOTOS, REPO, SHARED  # re-exported

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


# A copy of the template would share its store id, which says "the same database" (a saved index
# would be trusted across them): every copy gets its own, as a freshly migrated database has.
_NEW_STORE_ID = "UPDATE bank_store_info SET value = ? WHERE key = 'store_id'"


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    """A SQLite database with no schema."""
    return f"sqlite:///{tmp_path / 'haven.db'}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from haven.store.db import upgrade_database

    path = tmp_path_factory.mktemp("template") / "haven.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A fresh SQLite database at the current schema."""
    import sqlite3

    shutil.copyfile(_sqlite_template, tmp_path / "haven.db")
    with sqlite3.connect(tmp_path / "haven.db") as conn:
        conn.execute(_NEW_STORE_ID, (uuid.uuid4().hex,))
    conn.close()
    return f"sqlite:///{tmp_path / 'haven.db'}"


def _pg_create(template: str | None = None) -> str:
    if not postgres_available():
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_URL}: {_pg_state.get('why')} — POSTGRES TESTS SKIPPED"
        )
    import psycopg

    name = f"haven_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def _pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(name: str) -> str:
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database with no schema, dropped afterwards."""
    name = _pg_create()
    try:
        yield _pg_url(name)
    finally:
        _pg_drop(name)


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    from haven.store.db import upgrade_database

    name = _pg_create()
    try:
        upgrade_database(_pg_url(name))
        yield name
    finally:
        _pg_drop(name)


@pytest.fixture
def postgres_url(_postgres_template: str) -> Iterator[str]:
    """A brand-new PostgreSQL database at the current schema (a copy of the session's template)."""
    import psycopg

    name = _pg_create(template=_postgres_template)
    with psycopg.connect(_libpq(_pg_url(name)), autocommit=True) as conn:
        conn.execute(_NEW_STORE_ID.replace("?", "%s"), (uuid.uuid4().hex,))
    try:
        yield _pg_url(name)
    finally:
        _pg_drop(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test on SQLite and on PostgreSQL (migrated)."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``db_url`` shared by one test module (for a module's one live server): a fresh migrated SQLite file,
    then a fresh migrated PostgreSQL database."""
    if request.param == "sqlite":
        import sqlite3

        path = tmp_path_factory.mktemp("module-db") / "haven.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        with sqlite3.connect(path) as conn:
            conn.execute(_NEW_STORE_ID, (uuid.uuid4().hex,))
        conn.close()
        yield f"sqlite:///{path}"
        return
    import psycopg

    name = _pg_create(template=request.getfixturevalue("_postgres_template"))
    with psycopg.connect(_libpq(_pg_url(name)), autocommit=True) as pg:
        pg.execute(_NEW_STORE_ID.replace("?", "%s"), (uuid.uuid4().hex,))
    try:
        yield _pg_url(name)
    finally:
        _pg_drop(name)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    """Run the test on an empty SQLite and an empty PostgreSQL database (for migration tests)."""
    return str(request.getfixturevalue(f"empty_{request.param}_url"))


@pytest.fixture(scope="session", autouse=True)
def _private_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point XDG_CONFIG_HOME at a temporary folder for the whole run, so that nothing a test starts (a dev
    `haven serve` creating its master key, say) reads or writes the real user's configuration."""
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    yield
    if old is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = old
