"""Security events: one small hook through which the identity module tells the rest of Haven what happened.

Every sign-in, failure, lockout, logout and account change is published as a ``SecurityEvent`` to the
subscribers of one ``SecurityEvents`` hub. The default subscriber writes a line to the
``haven.auth.events`` logger; the audit log (issue 14) subscribes with ``events.subscribe(fn)`` and needs
no change here.

Subscribers run synchronously, in the order they subscribed, after the change they describe is
committed. An exception from a subscriber propagates to the caller, so an audit log that must not miss an
event can make the request fail rather than let it pass unrecorded. ``log_event`` never raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from haven.auth.clock import utcnow

log = logging.getLogger("haven.auth.events")

# The kinds published, and what ``detail`` holds for each.
KINDS = {
    "login_ok": "a sign-in completed (all factors)",
    "login_failed": "wrong password or TOTP code; detail.reason",
    "lockout": "an account or address was locked after repeated failures; detail.key, detail.until",
    "logout": "a session was ended by its user",
    "totp_enrolled": "a user confirmed a new TOTP secret",
    "totp_reset": "an admin cleared a user's TOTP secret; detail.sessions_ended",
    "password_changed": "a user set a new password",
    "password_reset": "an admin set a one-time password; detail.sessions_ended",
    "user_created": "detail.roles",
    "user_disabled": "detail.sessions_ended",
    "user_enabled": "",
    "user_deleted": "the account is gone (its name is not kept); detail.sessions_ended",
}


@dataclass(frozen=True)
class SecurityEvent:
    """What happened, to whom, by whom and from where. ``actor`` is who caused it (``user:3:alice``,
    ``cli:root``); ``username``/``user_id`` the account it concerns (``None`` when no account matched)."""

    kind: str
    realm: str | None = None
    username: str | None = None
    user_id: int | None = None
    actor: str | None = None
    client: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d


Subscriber = Callable[[SecurityEvent], None]


def log_event(event: SecurityEvent) -> None:
    """The default subscriber: one structured line per event (failures at WARNING)."""
    level = logging.WARNING if event.kind in ("login_failed", "lockout") else logging.INFO
    log.log(level, "%s realm=%s user=%s actor=%s client=%s %s", event.kind, event.realm, event.username,
            event.actor, event.client, event.detail or "")


class SecurityEvents:
    """The hub: ``subscribe`` a callable, ``emit`` an event to every subscriber."""

    def __init__(self, *, log_events: bool = True, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._subscribers: list[Subscriber] = [log_event] if log_events else []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Add ``fn``; returns a function that removes it again."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe

    def emit(self, kind: str, **fields: Any) -> SecurityEvent:
        """Publish one event of a known ``kind``; returns it."""
        if kind not in KINDS:
            raise ValueError(f"unknown security event kind {kind!r}")
        fields.setdefault("at", self._clock())
        event = SecurityEvent(kind=kind, **fields)
        with self._lock:
            subscribers = list(self._subscribers)
        for fn in subscribers:
            fn(event)
        return event
