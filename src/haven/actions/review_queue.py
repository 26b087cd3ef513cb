"""``ReviewQueue``: content waiting for a person, handed out under leases.

Fed by the ``review`` action (and, later, by manual escalation). ``lease_next`` gives a reviewer the most
urgent pending item of the queues they may see — highest ``priority`` first (unknown content before known,
then severity), then the oldest — and no two reviewers ever hold the same item: the claim is one atomic
``UPDATE`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and an abandoned lease simply expires.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from haven.actions.models import ReviewItem
from haven.errors import ConflictError, NotFoundError
from haven.store.claim import claim
from haven.store.db import make_session_factory

#: Added to an unknown item's priority so it comes before any known one (issue 15: unknown before known).
UNKNOWN_BOOST = 1000


def _aware(v: datetime | None) -> datetime | None:
    return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


@dataclass(frozen=True)
class ReviewTask:
    id: int
    queue: str
    state: str
    priority: int
    severity: int | None
    known: bool
    content_id: str | None
    sha256: str | None
    vault_item_id: int | None
    rule_id: int | None
    payload: dict[str, Any]
    enqueued_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    decision: str | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("enqueued_at", "lease_until"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d


def _task(r: ReviewItem) -> ReviewTask:
    return ReviewTask(
        r.id,
        r.queue,
        r.state,
        r.priority,
        r.severity,
        r.known,
        r.content_id,
        r.sha256,
        r.vault_item_id,
        r.rule_id,
        dict(r.payload),
        _aware(r.enqueued_at) or datetime.now(UTC),
        r.lease_owner,
        _aware(r.lease_until),
        r.decision,
    )


class ReviewQueue:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.now = clock or (lambda: datetime.now(UTC))
        self._postgres = engine.dialect.name == "postgresql"

    def add(
        self,
        *,
        queue: str = "default",
        priority: int = 0,
        severity: int | None = None,
        known: bool = True,
        content_id: str | None = None,
        sha256: str | None = None,
        vault_item_id: int | None = None,
        rule_id: int | None = None,
        payload: dict[str, Any] | None = None,
        source_key: str | None = None,
    ) -> int:
        """Queue an item; with ``source_key`` a second add of the same key returns the first item's id."""
        effective = priority + (0 if known else UNKNOWN_BOOST)
        with self.sessions() as s:
            try:
                row = ReviewItem(
                    queue=queue,
                    state="pending",
                    priority=effective,
                    severity=severity,
                    known=known,
                    content_id=content_id,
                    sha256=sha256,
                    vault_item_id=vault_item_id,
                    rule_id=rule_id,
                    payload=payload or {},
                    enqueued_at=self.now(),
                    source_key=source_key,
                )
                s.add(row)
                s.commit()
                return row.id
            except SAIntegrityError:
                s.rollback()
                existing = s.scalars(select(ReviewItem.id).where(ReviewItem.source_key == source_key)).first()
                if existing is None:
                    raise
                return int(existing)

    def lease_next(
        self,
        owner: str,
        *,
        queues: Sequence[str] = ("default",),
        lease: timedelta = timedelta(minutes=5),
        exclude: Sequence[int] = (),
    ) -> ReviewTask | None:
        """Claim the most urgent free item of ``queues`` for ``owner`` until the lease ends (never one of
        ``exclude``: the items this reviewer skipped)."""
        now = self.now()
        free = and_(
            ReviewItem.queue.in_(list(queues)),
            ReviewItem.state == "pending",
            or_(ReviewItem.lease_until.is_(None), ReviewItem.lease_until < now),
        )
        if exclude:
            free = and_(free, ReviewItem.id.not_in(list(exclude)))
        pick = (
            select(ReviewItem.id)
            .where(free)
            .order_by(ReviewItem.priority.desc(), ReviewItem.enqueued_at, ReviewItem.id)
            .limit(1)
        )
        with self.sessions() as s:
            claimed = claim(
                s,
                ReviewItem,
                pick,
                free,
                {"lease_owner": owner, "lease_until": now + lease},
                postgres=self._postgres,
            )
            s.commit()
            if not claimed:
                return None
            row = s.get(ReviewItem, claimed[0])
            assert row is not None
            return _task(row)

    def _held(self, s: Any, item_id: int, owner: str) -> ReviewItem:
        row = s.get(ReviewItem, item_id)
        if row is None:
            raise NotFoundError(f"no review item {item_id}")
        until = _aware(row.lease_until)
        if row.lease_owner != owner or until is None or until < self.now():
            raise ConflictError(f"review item {item_id} is not leased by {owner} (or the lease ran out)")
        return row  # type: ignore[no-any-return]

    def renew(self, item_id: int, owner: str, *, lease: timedelta = timedelta(minutes=5)) -> None:
        with self.sessions() as s:
            self._held(s, item_id, owner).lease_until = self.now() + lease
            s.commit()

    def release(self, item_id: int, owner: str) -> None:
        """Give an item back without deciding (skip)."""
        with self.sessions() as s:
            row = self._held(s, item_id, owner)
            row.lease_owner, row.lease_until = None, None
            s.commit()

    def complete(self, item_id: int, owner: str, decision: str) -> None:
        """Record the decision and take the item off the queue (the caller audits the decision)."""
        with self.sessions() as s:
            row = self._held(s, item_id, owner)
            row.state, row.decision, row.decided_by, row.decided_at = "done", decision, owner, self.now()
            row.lease_owner, row.lease_until = None, None
            s.commit()

    def held_by(self, owner: str) -> ReviewTask | None:
        """The pending item ``owner`` holds a live lease on, if any."""
        q = (
            select(ReviewItem)
            .where(ReviewItem.lease_owner == owner, ReviewItem.state == "pending",
                   ReviewItem.lease_until >= self.now())
            .order_by(ReviewItem.id)
            .limit(1)
        )
        with self.sessions() as s:
            row = s.scalars(q).first()
            return _task(row) if row is not None else None

    def move(self, item_id: int, owner: str, queue: str, *, priority: int | None = None) -> None:
        """Send an item held by ``owner`` to another queue (escalation), freeing its lease."""
        with self.sessions() as s:
            row = self._held(s, item_id, owner)
            row.queue, row.lease_owner, row.lease_until = queue, None, None
            if priority is not None:
                row.priority = priority
            s.commit()

    def get(self, item_id: int) -> ReviewTask:
        with self.sessions() as s:
            row = s.get(ReviewItem, item_id)
            if row is None:
                raise NotFoundError(f"no review item {item_id}")
            return _task(row)

    def pending(self, queue: str | None = None) -> int:
        q = select(func.count()).select_from(ReviewItem).where(ReviewItem.state == "pending")
        if queue:
            q = q.where(ReviewItem.queue == queue)
        with self.sessions() as s:
            return int(s.scalar(q) or 0)

    def items(self, *, content_id: str | None = None, sha256: str | None = None) -> list[ReviewTask]:
        q = select(ReviewItem).order_by(ReviewItem.id)
        if content_id:
            q = q.where(ReviewItem.content_id == content_id)
        if sha256:
            q = q.where(ReviewItem.sha256 == sha256)
        with self.sessions() as s:
            return [_task(r) for r in s.scalars(q)]
