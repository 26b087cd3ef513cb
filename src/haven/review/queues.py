"""Queues, who may take items from them, and the ordered routing rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.auth.actor import Actor
from haven.auth.realms import STAFF
from haven.errors import ConflictError, NotFoundError, UsageError
from haven.review.models import QueueRow, RouteRow
from haven.review.routing import Facts, check_when, route

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class Queue:
    name: str
    description: str
    roles: tuple[str, ...]
    users: tuple[str, ...]

    def admits(self, actor: Actor) -> bool:
        """Whether ``actor`` may take items from this queue (a role it holds, or named by username)."""
        return actor.is_user and (actor.has_role(*self.roles) or actor.name in self.users)


@dataclass(frozen=True)
class Route:
    id: int
    position: int
    queue: str
    when: dict[str, Any]
    enabled: bool


def _queue(r: QueueRow) -> Queue:
    return Queue(r.name, r.description, tuple(r.roles), tuple(r.users))


def list_queues(s: Session) -> list[Queue]:
    return [_queue(r) for r in s.scalars(select(QueueRow).order_by(QueueRow.name))]


def get_queue(s: Session, name: str) -> Queue:
    row = s.get(QueueRow, name)
    if row is None:
        raise NotFoundError(f"no review queue {name!r}")
    return _queue(row)


def queues_for(s: Session, actor: Actor) -> list[Queue]:
    """The queues ``actor`` may take items from."""
    return [q for q in list_queues(s) if q.admits(actor)]


def save_queue(
    s: Session,
    name: str,
    *,
    roles: Sequence[str],
    users: Sequence[str] = (),
    description: str = "",
    now: datetime,
) -> Queue:
    """Create or change a queue (the caller commits)."""
    if not NAME.match(name):
        raise UsageError(f"queue name {name!r}: lower-case letters, digits, '_', '.', '-' (up to 100)")
    roles = STAFF.check_roles(list(roles)) if roles else ()
    users = tuple(sorted({u.strip().lower() for u in users if u.strip()}))
    if not roles and not users:
        raise UsageError("a queue needs at least one role or user who may work it")
    row = s.get(QueueRow, name)
    if row is None:
        row = QueueRow(name=name, created_at=now)
        s.add(row)
    row.roles, row.users, row.description = list(roles), list(users), description[:400]
    s.flush()
    return _queue(row)


def delete_queue(s: Session, name: str, *, pending: int) -> None:
    if name == "default":
        raise UsageError("the default queue cannot be removed")
    if pending:
        raise ConflictError(f"queue {name!r} still has {pending} pending item(s)")
    row = s.get(QueueRow, name)
    if row is None:
        raise NotFoundError(f"no review queue {name!r}")
    s.delete(row)
    for r in s.scalars(select(RouteRow).where(RouteRow.queue == name)):
        s.delete(r)


def list_routes(s: Session) -> list[Route]:
    rows = s.scalars(select(RouteRow).order_by(RouteRow.position, RouteRow.id))
    return [Route(r.id, r.position, r.queue, dict(r.when), r.enabled) for r in rows]


def add_route(s: Session, queue: str, when: dict[str, Any], *, position: int | None = None) -> Route:
    """Add a rule (at the end unless ``position`` is given; later rules move down)."""
    get_queue(s, queue)
    when = check_when(when)
    routes = list_routes(s)
    pos = len(routes) + 1 if position is None else max(1, min(position, len(routes) + 1))
    for r in s.scalars(select(RouteRow).where(RouteRow.position >= pos)):
        r.position += 1
    row = RouteRow(position=pos, queue=queue, when=when, enabled=True)
    s.add(row)
    s.flush()
    return Route(row.id, row.position, row.queue, dict(row.when), row.enabled)


def delete_route(s: Session, route_id: int) -> None:
    row = s.get(RouteRow, route_id)
    if row is None:
        raise NotFoundError(f"no routing rule {route_id}")
    s.delete(row)
    s.flush()
    for n, r in enumerate(s.scalars(select(RouteRow).order_by(RouteRow.position, RouteRow.id)), 1):
        r.position = n


def route_item(s: Session, facts: Facts) -> str:
    """The queue for an item with ``facts``: the first enabled rule that holds, else ``default``."""
    return route([(r.when, r.queue) for r in list_routes(s) if r.enabled], facts)
