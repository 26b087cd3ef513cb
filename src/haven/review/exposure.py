"""Per-reviewer exposure: items handed out, reveals and active minutes per UTC day; the daily cap; break
prompts after a run of items. Counted on the server when an item is handed out or revealed, so a reviewer
cannot see more than the cap by reloading or opening tabs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from haven.review.config import ReviewConfig
from haven.review.models import ExposureRow, PrefsRow


def _aware(v: datetime | None) -> datetime | None:
    return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


def day_of(when: datetime) -> str:
    return when.astimezone(UTC).date().isoformat()


@dataclass(frozen=True)
class Exposure:
    user_id: int
    username: str
    day: str
    items_seen: int
    reveals: int
    active_seconds: int

    @property
    def minutes(self) -> int:
        return self.active_seconds // 60


def _insert_missing(s: Session, model: type[Any], values: dict[str, Any]) -> None:
    """Insert a counter row unless it exists: ``ON CONFLICT DO NOTHING``, so two requests creating the first
    row of a day at once both go on (PostgreSQL waits for the other's commit; SQLite has one writer)."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        s.execute(pg_insert(model).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        s.execute(sqlite_insert(model).values(**values).on_conflict_do_nothing())


def _row(s: Session, user_id: int, username: str, now: datetime) -> ExposureRow:
    day = day_of(now)
    row = s.get(ExposureRow, (user_id, day))
    if row is None:
        _insert_missing(
            s,
            ExposureRow,
            {
                "user_id": user_id,
                "day": day,
                "username": username,
                "items_seen": 0,
                "reveals": 0,
                "active_seconds": 0,
                "last_activity_at": None,
            },
        )
        row = s.get(ExposureRow, (user_id, day))
        assert row is not None
    return row


def prefs(s: Session, user_id: int) -> PrefsRow:
    row = s.get(PrefsRow, user_id)
    if row is None:
        _insert_missing(s, PrefsRow, {"user_id": user_id, "blur": None, "run_items": 0})
        row = s.get(PrefsRow, user_id)
        assert row is not None
    return row


def touch(s: Session, user_id: int, username: str, now: datetime, cfg: ReviewConfig) -> ExposureRow:
    """Count the time since the reviewer's last action as active, unless it was an idle gap."""
    row = _row(s, user_id, username, now)
    last = _aware(row.last_activity_at)
    if last is not None:
        gap = (now - last).total_seconds()
        if 0 < gap <= cfg.idle_minutes * 60:
            row.active_seconds += int(gap)
    row.last_activity_at = now
    return row


def today(s: Session, user_id: int, username: str, now: datetime) -> Exposure:
    row = s.get(ExposureRow, (user_id, day_of(now)))
    if row is None:
        return Exposure(user_id, username, day_of(now), 0, 0, 0)
    return Exposure(user_id, row.username, row.day, row.items_seen, row.reveals, row.active_seconds)


def stop_reason(s: Session, user_id: int, username: str, now: datetime, cfg: ReviewConfig) -> str | None:
    """``cap`` when today's items reached the daily cap, ``break`` when a break is due, else None."""
    if cfg.daily_cap and today(s, user_id, username, now).items_seen >= cfg.daily_cap:
        return "cap"
    if cfg.break_after and prefs(s, user_id).run_items >= cfg.break_after:
        return "break"
    return None


def count_item(s: Session, user_id: int, username: str, now: datetime, cfg: ReviewConfig) -> int:
    """Count one item handed out; returns today's count after it. The increments are done by the database
    (``items_seen = items_seen + 1``), so two requests at once never count as one."""
    touch(s, user_id, username, now, cfg)
    key = (ExposureRow.user_id == user_id) & (ExposureRow.day == day_of(now))
    s.execute(update(ExposureRow).where(key).values(items_seen=ExposureRow.items_seen + 1))
    p = prefs(s, user_id)
    if p.run_items == 0:
        p.run_started_at = now
    s.execute(update(PrefsRow).where(PrefsRow.user_id == user_id).values(run_items=PrefsRow.run_items + 1))
    return int(s.scalar(select(ExposureRow.items_seen).where(key)) or 0)


def count_reveal(s: Session, user_id: int, username: str, now: datetime, cfg: ReviewConfig) -> None:
    touch(s, user_id, username, now, cfg).reveals += 1


def take_break(s: Session, user_id: int, now: datetime) -> None:
    p = prefs(s, user_id)
    p.run_items, p.run_started_at, p.last_break_at = 0, None, now


def team(s: Session, now: datetime, days: int = 7) -> list[tuple[Exposure, Exposure]]:
    """Per reviewer: (today, the last ``days`` days together), busiest first — counts only, never content."""
    since = (now.astimezone(UTC).date() - timedelta(days=days - 1)).isoformat()
    rows = s.scalars(select(ExposureRow).where(ExposureRow.day >= since)).all()
    day = day_of(now)
    out: dict[int, list[Exposure]] = {}
    for r in rows:
        t, w = out.get(
            r.user_id,
            [Exposure(r.user_id, r.username, day, 0, 0, 0), Exposure(r.user_id, r.username, since, 0, 0, 0)],
        )
        w = Exposure(
            r.user_id,
            r.username,
            since,
            w.items_seen + r.items_seen,
            w.reveals + r.reveals,
            w.active_seconds + r.active_seconds,
        )
        if r.day == day:
            t = Exposure(r.user_id, r.username, day, r.items_seen, r.reveals, r.active_seconds)
        out[r.user_id] = [t, w]
    return sorted(
        ((t, w) for t, w in out.values()), key=lambda p: (-p[0].items_seen, -p[1].items_seen, p[0].username)
    )


def utc_today(now: datetime) -> date:
    return now.astimezone(UTC).date()
