"""``AuditLog``: append events to the hash chain, read them back, verify the chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, func, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from haven.audit.anchors import Anchor
from haven.audit.chain import GENESIS, Problem, Row, canonical_json, diagnose, entry_hash
from haven.audit.models import AuditEntry, AuditHead
from haven.errors import UsageError
from haven.store.db import make_session_factory, storage_errors

#: How many times an append is retried when another writer raced it (SQLite's busy snapshot).
APPEND_ATTEMPTS = 8
_BATCH = 2000


_db_errors = storage_errors("audit log")


def utc_text(when: datetime) -> str:
    """The stored form of a time: UTC, microseconds, ``Z``."""
    if when.tzinfo is None:
        raise UsageError("audit times must carry a time zone")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Entry:
    """An audit entry as the API returns it."""

    seq: int
    at: str
    event: str
    actor: str
    target: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "event": self.event,
            "actor": self.actor,
            "target": self.target,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyResult:
    """What ``AuditLog.verify`` found: ``ok``, entries checked, the head, and the first problem."""

    ok: bool
    entries: int
    head: Anchor | None
    problem: Problem | None
    anchors_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "anchors_checked": self.anchors_checked,
            "head": self.head.to_dict() if self.head else None,
            "problem": self.problem.to_dict() if self.problem else None,
        }


def _row(e: AuditEntry) -> Row:
    return Row(e.seq, e.at, e.event, e.actor, e.target, e.detail, e.prev_hash, e.hash)


class AuditLog:
    """The append-only audit log in Haven's database.

    ``record`` is safe from any number of threads and processes at once: each append first updates the
    one-row head (taking its row lock on PostgreSQL, the database write lock on SQLite), so appends are
    serialised and the chain never forks; ``seq`` is the primary key as a second guard.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- writing ---------------------------------------------------------------------------------------
    def record(
        self,
        event: str,
        actor: str,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
        *,
        session: Session | None = None,
    ) -> Entry:
        """Append one event and return it. ``actor`` is who did it (``user:ana``, ``key:3``, ``system``),
        ``target`` what it was done to (``vault:12``, ``rule:4``), ``detail`` any JSON-able facts.

        With ``session`` the entry joins that transaction (committed or rolled back with the caller's
        change, holding the head lock until then); otherwise it commits on its own.
        """
        if not event or not actor:
            raise UsageError("an audit event needs an event name and an actor")
        detail_text = canonical_json(dict(detail or {}))
        if session is not None:
            return self._append(session, event, actor, target, detail_text)
        return self._record_own(event, actor, target, detail_text)

    @_db_errors
    def _record_own(self, event: str, actor: str, target: str | None, detail_text: str) -> Entry:
        for attempt in range(APPEND_ATTEMPTS):
            try:
                with self.sessions() as s:
                    entry = self._append(s, event, actor, target, detail_text)
                    s.commit()
                    return entry
            except (OperationalError, SAIntegrityError):
                # Another writer won the race for this position (SQLite reports a stale snapshot as
                # "database is locked"); nothing was written, so take the new head and try again.
                if attempt == APPEND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _append(self, s: Session, event: str, actor: str, target: str | None, detail_text: str) -> Entry:
        # Lock first, read second: the UPDATE takes the head row's lock before anything is read.
        result = s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
        locked = cast(CursorResult[Any], result).rowcount
        if not locked:
            s.add(AuditHead(id=1, seq=0, hash=GENESIS))
            s.flush()  # a concurrent first writer fails here on the primary key and retries
        head = s.get(AuditHead, 1, populate_existing=True)
        assert head is not None
        seq, prev = head.seq + 1, head.hash
        at = utc_text(self._clock())
        digest = entry_hash(seq, at, event, actor, target, detail_text, prev)
        s.add(
            AuditEntry(
                seq=seq,
                at=at,
                event=event,
                actor=actor,
                target=target,
                detail=detail_text,
                prev_hash=prev,
                hash=digest,
            )
        )
        head.seq, head.hash = seq, digest
        s.flush()
        return Entry(seq, at, event, actor, target, _loads(detail_text), prev, digest)

    # -- reading ---------------------------------------------------------------------------------------
    @_db_errors
    def entries(
        self,
        *,
        event: str | None = None,
        target: str | None = None,
        actor: str | None = None,
        since_seq: int = 0,
        limit: int | None = None,
        newest_first: bool = False,
        event_prefix: str | None = None,
        session: Session | None = None,
    ) -> list[Entry]:
        """Entries matching every filter given, oldest first (or newest first). ``event_prefix`` keeps one
        surface's events (``portal.``); with ``session`` they are read in that transaction (its own
        uncommitted entries included)."""
        q = select(AuditEntry).where(AuditEntry.seq > since_seq)
        if event:
            q = q.where(AuditEntry.event == event)
        if event_prefix:
            q = q.where(AuditEntry.event.startswith(event_prefix, autoescape=True))
        if target:
            q = q.where(AuditEntry.target == target)
        if actor:
            q = q.where(AuditEntry.actor == actor)
        q = q.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq)
        if limit:
            q = q.limit(limit)

        def read(s: Session) -> list[Entry]:
            return [Entry(e.seq, e.at, e.event, e.actor, e.target, _loads(e.detail), e.prev_hash, e.hash)
                    for e in s.scalars(q)]

        if session is not None:
            return read(session)
        with self.sessions() as s:
            return read(s)

    @_db_errors
    def head(self) -> Anchor | None:
        """The newest entry's position and hash (what an anchor records), or None for an empty log."""
        with self.sessions() as s:
            e = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
            return Anchor(e.seq, e.hash, e.at) if e else None

    # -- verifying -------------------------------------------------------------------------------------
    @_db_errors
    def verify(self, anchors: Sequence[Anchor] = ()) -> VerifyResult:
        """Walk the whole chain in order and check every hash and link, then every anchor given."""
        expected_seq, prev, count, last = 1, GENESIS, 0, None
        with self.sessions() as s:
            for row in self._walk(s):
                if row.seq != expected_seq or row.prev_hash != prev or row.computed() != row.hash:
                    problem = diagnose(row, expected_seq, prev, self._position_of(s, row.prev_hash))
                    return VerifyResult(False, count, last, problem)
                count += 1
                expected_seq, prev = row.seq + 1, row.hash
                last = Anchor(row.seq, row.hash, row.at)
            checked = 0
            for anchor in sorted(anchors, key=lambda a: a.seq):
                broken = self._check_anchor(s, anchor, last)
                if broken is not None:
                    return VerifyResult(False, count, last, broken, checked)
                checked += 1
        return VerifyResult(True, count, last, None, checked)

    def _walk(self, s: Session) -> Iterator[Row]:
        after = 0
        while True:
            batch = s.scalars(
                select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(_BATCH)
            ).all()
            if not batch:
                return
            for e in batch:
                yield _row(e)
            after = batch[-1].seq
            s.expunge_all()

    @staticmethod
    def _position_of(s: Session, digest: str) -> int | None:
        if digest == GENESIS:
            return 0
        return s.scalar(select(AuditEntry.seq).where(AuditEntry.hash == digest))

    @staticmethod
    def _check_anchor(s: Session, anchor: Anchor, last: Anchor | None) -> Problem | None:
        if last is None or last.seq < anchor.seq:
            have = last.seq if last else 0
            return Problem(
                "truncated",
                have + 1,
                f"the log ends at entry {have}, but an anchor taken at {anchor.at or '?'} recorded "
                f"entry {anchor.seq}: entries {have + 1}-{anchor.seq} (at least) were deleted",
            )
        stored = s.scalar(select(AuditEntry.hash).where(AuditEntry.seq == anchor.seq))
        if stored != anchor.hash:
            return Problem(
                "edited",
                anchor.seq,
                f"entry {anchor.seq} differs from the anchor taken at "
                f"{anchor.at or '?'}: the log was rewritten up to or past it",
            )
        return None

    @_db_errors
    def count(self) -> int:
        with self.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _loads(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}
