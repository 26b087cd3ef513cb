"""Exchange tables (SQLAlchemy 2 models on the shared ``Base``); created by migration ``0020_exchanges``.

- ``exchanges``: one configured exchange (type, bank, schedule, options, sealed credentials) with its
  checkpoint: the cursor a fetch resumes from, committed with each page's entries.
- ``exchange_items``: one upstream (record, signal) and the bank entry it keeps, with its provenance
  (upstream id, member, classification, status, upstream time and feedback); tombstones stay as rows.
- ``exchange_feedback``: the outbox of opinions to send upstream, with tries and the recorded result.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")


class ExchangeRow(Base):
    __tablename__ = "exchanges"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    interval_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    options: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed with the master key ring
    checkpoint: Mapped[str | None] = mapped_column(Text)  # JSON, the type's own cursor
    pages: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    applied: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    fetch_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fetch_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    feedback_seq: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200))


class ExchangeItemRow(Base):
    __tablename__ = "exchange_items"
    __table_args__ = (
        UniqueConstraint("exchange_id", "upstream_id", "signal", name="uq_exchange_items_upstream"),
        Index("ix_exchange_items_entry", "entry_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), nullable=False)
    upstream_id: Mapped[str] = mapped_column(String(200), nullable=False)
    signal: Mapped[str] = mapped_column(String(32), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    entry_id: Mapped[int | None] = mapped_column(BigId)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    member: Mapped[str | None] = mapped_column(String(200))
    classification: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(32))
    upstream_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    upstream_feedback: Mapped[str | None] = mapped_column(Text)  # JSON
    extra: Mapped[str | None] = mapped_column(Text)  # JSON: what a feedback call needs (descriptor id …)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ExchangeFeedbackRow(Base):
    __tablename__ = "exchange_feedback"
    __table_args__ = (
        UniqueConstraint("item_id", "change_seq", name="uq_exchange_feedback_change"),
        Index("ix_exchange_feedback_status", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), nullable=False)
    item_id: Mapped[int] = mapped_column(ForeignKey("exchange_items.id", ondelete="CASCADE"), nullable=False)
    change_seq: Mapped[int] = mapped_column(BigId, nullable=False)
    opinion: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending | sent | failed | unsupported
    tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    result: Mapped[str | None] = mapped_column(Text)  # the upstream's answer, or the last error
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
