"""Builders for portal tests: applications and approved members with their actors."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from haven.portal import members
from haven.portal.actors import Actor

_n = itertools.count(1)


def application(**overrides: object) -> members.Application:
    i = next(_n)
    fields: dict[str, object] = {
        "name": f"Pat Example {i}",
        "email": f"pat{i}@example.org",
        "organisation": "Family NGO",
        "profession": "social_worker",
        "country": "GB",
        "languages": ("en",),
        "referee_name": "Sam Referee",
        "referee_email": f"ref{i}@example.org",
        "statement": "I support children after online abuse.",
    }
    fields.update(overrides)
    return members.Application(**fields)  # type: ignore[arg-type]


def approved(db: Session, *, roles: tuple[str, ...] = ("member",), **overrides: object) -> Actor:
    m = members.apply(db, application(**overrides))
    m.status = "approved"
    db.flush()
    return Actor(member_id=m.id, roles=roles)
