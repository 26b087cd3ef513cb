"""Engine creation and Alembic migrations, for SQLite (embedded default) and PostgreSQL (production).

Each domain keeps its models next to its logic (``haven.banks.models``, ``haven.reporting.models`` …)
on this one ``Base``; its tables come from its own Alembic branch in ``store/migrations/versions``.
``upgrade_database`` applies every branch ("heads"), from an empty database or any earlier version.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def sqlite_time(ts: datetime) -> str:
    """``ts`` as SQLAlchemy writes a DateTime on SQLite (UTC, naive text): what bulk inserts through the
    driver's own executemany must write so the models read it back like their own rows."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Base(DeclarativeBase):
    pass


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout so several processes can share
    it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_T = TypeVar("_T")


def in_transaction(url: str, work: Callable[[Session], _T]) -> _T:
    """``work(session)`` in one transaction on a short-lived engine for ``url`` (a command's one-off pass
    over a table, as ``haven secrets`` does), the engine disposed afterwards."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as s:
            return work(s)
    finally:
        engine.dispose()


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` to the newest schema (idempotent). Shells call it once at start;
    core objects never migrate on their own."""
    from alembic import command
    from sqlalchemy.exc import SQLAlchemyError

    from haven.errors import StorageError

    try:
        command.upgrade(alembic_config(url), revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot migrate the database: {exc.__class__.__name__}: {exc}") from exc


def storage_errors(what: str) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Decorator: SQLAlchemy failures become ``StorageError`` ("<what> database error: …") where they
    enter Haven, so shells map them like any other Haven error."""

    def decorate(fn: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> _T:
            from haven.errors import StorageError

            try:
                return fn(*args, **kwargs)
            except SQLAlchemyError as exc:
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise StorageError(f"{what} database error: {exc.__class__.__name__}: {first}") from exc

        return wrapper

    return decorate
