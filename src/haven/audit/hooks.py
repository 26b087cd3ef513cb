"""Feeding other modules' events into the audit log.

``security_events(audit)`` is a subscriber for the identity module's hub
(``auth.events.subscribe(security_events(audit))``): every sign-in, failure, lockout, logout, key and
account change becomes an audit entry. It reads the event's fields by name, so this module needs no import
of ``haven.auth``. A failure to record propagates: an identity change that cannot be audited fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haven.audit.log import AuditLog


def security_events(audit: AuditLog) -> Callable[[Any], None]:
    """A subscriber that records each ``SecurityEvent`` as ``auth.<kind>``."""

    def record(event: Any) -> None:
        user_id, username = getattr(event, "user_id", None), getattr(event, "username", None)
        target = f"user:{user_id}" if user_id is not None else (f"username:{username}" if username else None)
        actor = getattr(event, "actor", None) or (
            f"user:{user_id}:{username}" if user_id is not None else "anonymous"
        )
        detail = {
            "realm": getattr(event, "realm", None),
            "client": getattr(event, "client", None),
            "username": username,
            **dict(getattr(event, "detail", None) or {}),
        }
        audit.record(f"auth.{event.kind}", actor, target, {k: v for k, v in detail.items() if v is not None})

    return record
