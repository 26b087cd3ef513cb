"""The TOTP secrets ``haven.auth`` keeps, registered with the master key ring (``haven.secrets``) so that
``haven secrets rotate`` re-seals them and ``retire`` waits until none is sealed under the old key: the
enrolled secret of each user (bound to the user's id) and a secret still being enrolled (bound to the
sign-in session's id)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.auth.models import SessionRow, UserRow
from haven.auth.users import pending_totp_context, totp_context
from haven.config import Settings
from haven.secrets import KeyRing, SealedData, register_sealed
from haven.store.db import in_transaction


def _blobs(s: Session) -> list[tuple[Any, str, bytes]]:
    """(row, attribute, context) of every sealed TOTP secret."""
    found: list[tuple[Any, str, bytes]] = []
    for user in s.scalars(select(UserRow).where(UserRow.totp_secret.is_not(None))):
        found.append((user, "totp_secret", totp_context(user.id)))
    for session in s.scalars(select(SessionRow).where(SessionRow.totp_pending.is_not(None))):
        found.append((session, "totp_pending", pending_totp_context(session.id)))
    return found


def _usage(ring: KeyRing, settings: Settings) -> dict[str, int]:
    def work(s: Session) -> dict[str, int]:
        return dict(Counter(ring.sealed_with(getattr(row, attr)) for row, attr, _ in _blobs(s)))

    counts: dict[str, int] = in_transaction(settings.resolved_database_url, work)
    return counts


def _reseal(ring: KeyRing, settings: Settings) -> int:
    def work(s: Session) -> int:
        changed = 0
        for row, attr, context in _blobs(s):
            before = bytes(getattr(row, attr))
            after = ring.reseal(before, context=context)
            if after != before:
                setattr(row, attr, after)
                changed += 1
        return changed

    return int(in_transaction(settings.resolved_database_url, work))


register_sealed(SealedData(name="totp-secrets", usage=_usage, reseal=_reseal))
