"""The portal's database handle: one engine (or the identity module's, shared), short transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from haven.errors import NotFoundError, StorageError
from haven.store.db import make_engine, make_session_factory

T = TypeVar("T")


def fetch(db: Session, model: type[T], row_id: int, what: str) -> T:
    """The row ``row_id`` of ``model``; ``NotFoundError`` ("no <what> <id>") when there is none."""
    row = db.get(model, row_id)
    if row is None:
        raise NotFoundError(f"no {what} {row_id}")
    return row


class PortalStore:
    """Opens the portal tables of the database at ``url``, which a shell has brought to the current schema
    (``haven.store.db.upgrade_database``); every unit of work is ``with store.begin() as db:``."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
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
