"""Claiming rows for one worker, atomically, on SQLite and PostgreSQL (job leases, review leases)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, update
from sqlalchemy.orm import Session


def claim(
    s: Session,
    model: Any,
    pick: Select[Any],
    still_free: ColumnElement[bool],
    values: dict[str, Any],
    *,
    postgres: bool,
) -> list[int]:
    """Set ``values`` on the rows ``pick`` selects that are ``still_free``; returns the ids claimed.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` then ``UPDATE`` in the caller's transaction, so two
    claimers never wait on or take the same row. SQLite: one ``UPDATE … WHERE id IN (SELECT …)`` statement,
    atomic under SQLite's single writer (a separate SELECT would not hold the write lock).
    """
    if postgres:
        ids = list(s.execute(pick.with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        s.execute(update(model).where(model.id.in_(ids)).values(**values))
        return ids
    stmt = (
        update(model)
        .where(model.id.in_(pick.scalar_subquery()), still_free)
        .values(**values)
        .returning(model.id)
    )
    return list(s.execute(stmt).scalars())
