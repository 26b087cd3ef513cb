"""The record of moderator actions.

``record`` is the one call the portal makes; it writes a ``portal_audit`` row today. When the hash-chained
``haven.audit`` log lands, ``record`` is the single place to point at it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.portal.actors import Actor
from haven.portal.models import AuditRow


def record(
    db: Session, event: str, actor: Actor | str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Write one audit entry in the caller's transaction (so it stands or falls with the action)."""
    label = actor.label if isinstance(actor, Actor) else actor
    db.add(AuditRow(event=event, actor=label, target=target, detail=detail or {}))


def entries(db: Session, *, target: str | None = None, limit: int = 200) -> list[AuditRow]:
    """The newest entries first, optionally for one target."""
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if target is not None:
        query = query.where(AuditRow.target == target)
    return list(db.scalars(query))
