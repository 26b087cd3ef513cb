"""The record of moderator actions: entries of Haven's hash-chained audit log (``haven.audit``), named
``portal.<action>`` so the portal's own pages list its actions and no other surface's.

``record`` is the one call the portal makes, in the caller's transaction, so an action and its record
stand or fall together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from haven.audit import AuditLog
from haven.audit.log import Entry
from haven.portal.actors import Actor

PREFIX = "portal."


def _log(db: Session) -> AuditLog:
    bind = db.get_bind()
    return AuditLog(bind if isinstance(bind, Engine) else bind.engine)


def record(
    db: Session, event: str, actor: Actor | str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Append ``portal.<event>`` to the audit log in the caller's transaction."""
    label = actor.label if isinstance(actor, Actor) else actor
    _log(db).record(PREFIX + event, label, target, detail or {}, session=db)


def entries(db: Session, *, target: str | None = None, limit: int = 200) -> list[Entry]:
    """The portal's entries, newest first, optionally for one target."""
    return _log(db).entries(target=target, event_prefix=PREFIX, limit=limit, newest_first=True, session=db)
