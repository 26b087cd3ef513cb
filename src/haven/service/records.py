"""The record of past match requests, so a caller can look a result up later by content id.

Records belong to the API key that made them: a content id is the caller's own name (or the SHA-256 of
its upload), so another key asking for it gets 404, as if it did not exist, and a record another key
writes under the same id never replaces this key's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, insert, select

from haven.errors import NotFoundError
from haven.service.models import MatchRecordRow
from haven.store.db import make_session_factory

_INSERT = insert(cast(Table, MatchRecordRow.__table__))


class RecordStore:
    """Append and fetch match records (content id = SHA-256 of an upload, or the caller's own id)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._session = make_session_factory(engine)

    def save(self, content_id: str, kind: str, result: dict[str, Any], *, key_id: int) -> None:
        """Store one result for ``key_id``."""
        with self._engine.begin() as conn:
            self.save_in(conn, content_id, kind, result, key_id=key_id)

    @staticmethod
    def save_in(conn: Connection, content_id: str, kind: str, result: dict[str, Any], *, key_id: int) -> None:
        """``save`` as part of the caller's transaction (a matched upload's rules and its record commit
        together)."""
        conn.execute(
            _INSERT,
            [
                {
                    "content_id": content_id,
                    "kind": kind,
                    "key_id": key_id,
                    "created_at": datetime.now(UTC),
                    "result": result,
                }
            ],
        )

    def latest(self, content_id: str, *, key_id: int) -> dict[str, Any]:
        """The newest record ``key_id`` made for ``content_id``; raises ``NotFoundError``."""
        with self._session() as s:
            row = s.scalars(select(MatchRecordRow)
                            .where(MatchRecordRow.key_id == key_id, MatchRecordRow.content_id == content_id)
                            .order_by(MatchRecordRow.id.desc()).limit(1)).first()
            if row is None:
                raise NotFoundError(f"no match recorded for content id {content_id!r}")
            at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            return {"content_id": row.content_id, "kind": row.kind, "recorded_at": at.isoformat(),
                    "result": row.result}
