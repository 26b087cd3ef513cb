"""Review console tables: queues and their access, routing rules, decisions, comments, reveals, per-reviewer
exposure and preferences, and the console's settings (one JSON value per key).

The items themselves are the actions domain's ``review_queue`` rows (``haven.actions.models.ReviewItem``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class QueueRow(Base):
    """A queue and who may take items from it: a user holding one of ``roles`` or named in ``users``."""

    __tablename__ = "review_queues"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(String(400), default="")
    roles: Mapped[list[str]] = mapped_column(JSON)
    users: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RouteRow(Base):
    """A routing rule: items whose facts satisfy every condition in ``when`` go to ``queue``; rules are
    tried by ``position`` and the first match wins."""

    __tablename__ = "review_routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    position: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(100))
    when: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class DecisionRow(Base):
    """One decision on one review item (confirm, false_positive, escalate, skip)."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigInteger, index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    content_id: Mapped[str | None] = mapped_column(String(200), index=True)
    queue: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(20), index=True)
    classification: Mapped[str | None] = mapped_column(String(4))
    banks: Mapped[list[str]] = mapped_column(JSON)  # the banks the item matched, for per-bank rates
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)  # report id, entries given feedback …
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CommentRow(Base):
    """An internal comment on an item (never sent anywhere)."""

    __tablename__ = "review_comments"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigInteger, index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RevealRow(Base):
    """A reviewer asked to see an item's original, with a reason. The original is served only to that
    reviewer, while they hold the item's lease."""

    __tablename__ = "review_reveals"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExposureRow(Base):
    """One reviewer's exposure on one UTC day: items handed out, reveals, active seconds in the queue."""

    __tablename__ = "review_exposure"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    username: Mapped[str] = mapped_column(String(128))
    items_seen: Mapped[int] = mapped_column(Integer, default=0)
    reveals: Mapped[int] = mapped_column(Integer, default=0)
    active_seconds: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PrefsRow(Base):
    """A reviewer's own settings (blur strength) and the run since their last break."""

    __tablename__ = "review_prefs"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    blur: Mapped[int | None] = mapped_column(Integer)
    run_items: Mapped[int] = mapped_column(Integer, default=0)
    run_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_break_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConfigRow(Base):
    """The console's settings an admin changes (wellness bounds, daily cap, confirm actions, reporter)."""

    __tablename__ = "review_config"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
