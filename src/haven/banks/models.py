"""Bank tables (SQLAlchemy 2 models on the shared ``Base``); created by migration ``0001_banks``.

- ``banks``: one hash list (name, source, enabled, per-signal thresholds, who created/changed it).
- ``bank_entries``: one hash value of one signal type, with its category, provenance and feedback.
- ``bank_imports``: one import of one file, with its checkpoint (records done) for resuming.
- ``bank_changes``: the change log (monotonic ``seq``) that keeps every matcher's in-memory indexes in step.
- ``bank_store_info``: key/value facts about the database (its random ``store_id``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for 10 M+ rows.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class BankRow(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    thresholds: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON {signal: int}
    # The share (0-1) of look-ups that may use the bank, to roll a list out (HMA's matching_enabled_ratio).
    enabled_ratio: Mapped[float] = mapped_column(Float, nullable=False, default=1.0, server_default="1.0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class EntryRow(Base):
    __tablename__ = "bank_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False)
    signal: Mapped[str] = mapped_column(String(32), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    # True for signals looked up by equal value (LookupKind.EXACT): the rows the digest index covers.
    exact: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    quality: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(64))
    category_scheme: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[int | None] = mapped_column(Integer)
    series: Mapped[str | None] = mapped_column(Text)
    victim_identified: Mapped[bool | None] = mapped_column(Boolean)
    item: Mapped[str | None] = mapped_column(String(200))  # groups the signals of one media (VICS, HMA)
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[str | None] = mapped_column(Text)  # JSON: source-format fields kept for lossless export
    feedback: Mapped[str | None] = mapped_column(String(32))
    # No match until this Unix time (HMA's disable_until_ts: 0 = off until changed, 1 or NULL = on).
    disable_until_ts: Mapped[int | None] = mapped_column(BigInteger)
    feedback_by: Mapped[str | None] = mapped_column(String(200))
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("bank_imports.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_bank_entries_bank", "bank_id", "id"),
        Index("ix_bank_entries_item", "item"),  # a content's entries (haven.banks.content)
        # Exact look-ups go through this index; distance and frame signals are searched in memory
        # instead, so leaving them out keeps their bulk imports fast (and their long values out of a B-tree).
        Index(
            "ix_bank_entries_digest",
            "signal",
            "value",
            sqlite_where=text("exact"),
            postgresql_where=text("exact"),
        ),
        # Never reuse a deleted entry's id: ids appear in match results, reports and the change log.
        {"sqlite_autoincrement": True},
    )


class ImportRow(Base):
    __tablename__ = "bank_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # running | done
    records_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_added: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    warnings: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_bank_imports_file", "bank_id", "sha256"),)


class ChangeRow(Base):
    __tablename__ = "bank_changes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    op: Mapped[str] = mapped_column(String(16), nullable=False)  # sync | bank
    bank_id: Mapped[int] = mapped_column(Integer, nullable=False)
    lo: Mapped[int | None] = mapped_column(BigInteger)
    hi: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(200))


class StoreInfoRow(Base):
    __tablename__ = "bank_store_info"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
