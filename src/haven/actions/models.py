"""Action tables: rule sets, rules, action runs (one per content × rule × action), and the review queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class RuleSetRow(Base):
    """A named, ordered group of rules and how it fires: ``first`` (the first matching rule only) or
    ``all`` (every matching rule)."""

    __tablename__ = "rule_sets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))


class RuleRow(Base):
    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    ruleset: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    when: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    actions: Mapped[list] = mapped_column(JSON)  # type: ignore[type-arg]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ActionRun(Base):
    """One action of one rule for one piece of content: the unique key is what makes a retried upload or a
    re-run never double a webhook, a quarantine or a report."""

    __tablename__ = "action_runs"
    __table_args__ = (UniqueConstraint("content_key", "rule_id", "action_key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    content_key: Mapped[str] = mapped_column(
        String(200)
    )  # sha256 of the content, else the client's content id
    content_id: Mapped[str | None] = mapped_column(String(200), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[int] = mapped_column(Integer, index=True)
    rule_name: Mapped[str] = mapped_column(String(200))
    action_key: Mapped[str] = mapped_column(String(40))  # "<index>:<type>"
    action: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    event: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]  # hashes, matches, upload context
    staged_uid: Mapped[str | None] = mapped_column(String(32))  # the upload's bytes, in action_staged
    status: Mapped[str] = mapped_column(String(12), index=True)  # pending | done | failed | dead
    tries: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict | None] = mapped_column(JSON)  # type: ignore[type-arg]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StagedContent(Base):
    """An upload's bytes, sealed by the master key ring, between the upload (same transaction as its action
    runs and jobs) and the job that preserves them in the vault, which then deletes the row."""

    __tablename__ = "action_staged"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewItem(Base):
    """Content waiting for a person. Reviewers lease items (``lease_owner``/``lease_until``) so no two hold
    the same one; the highest priority, then the oldest, is handed out first."""

    __tablename__ = "review_queue"
    __table_args__ = (Index("ix_review_queue_next", "queue", "state", "priority", "enqueued_at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    queue: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(12))  # pending | done
    priority: Mapped[int] = mapped_column(Integer, default=0)
    severity: Mapped[int | None] = mapped_column(Integer)
    known: Mapped[bool] = mapped_column(Boolean, default=True)  # matched a bank (False: escalated by hand)
    content_id: Mapped[str | None] = mapped_column(String(200), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    vault_item_id: Mapped[int | None] = mapped_column(BigInteger)
    rule_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(String(40))
    decided_by: Mapped[str | None] = mapped_column(String(200))
