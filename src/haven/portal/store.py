"""The portal's database handle: one engine, short transactions, migrations applied on open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from haven.errors import StorageError
from haven.store.db import make_engine, make_session_factory, upgrade_database


class PortalStore:
    """Opens the Haven database for the portal; every unit of work is ``with store.begin() as db:``."""

    def __init__(self, url: str, *, migrate: bool = True, engine: Engine | None = None) -> None:
        if migrate:
            upgrade_database(url)
        self.url = url
        self.engine = engine or make_engine(url)
        self._sessions = make_session_factory(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error."""
        session: Session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StorageError(f"portal database: {exc.__class__.__name__}: {exc}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()
