"""Tables for reports, their NCMEC attempts and uploads, an audit trail, and encrypted API credentials.

A Haven *report* is what a reviewer decided to file. Each *attempt* is one NCMEC report opened with
``/submit`` for it; a report has at most one finished attempt, ever. *Uploads* are the files sent within
an attempt. Every intent is written before its remote call and every confirmed result right after it,
which is what lets a crashed run resume (see ``haven.reporting.machine``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from haven.store.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; Haven stores UTC, so attach the zone back."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    source: Mapped[str] = mapped_column(String(20))  # "case" or "match"
    environment: Mapped[str | None] = mapped_column(String(20))  # set on first submit; never changes after
    case_json: Mapped[str] = mapped_column(Text)
    report_xml: Mapped[str] = mapped_column(Text)
    ncmec_report_id: Mapped[int | None] = mapped_column(BigInteger)  # of the finished attempt
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    preservation_starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    preservation_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    files: Mapped[list[ReportFile]] = relationship(back_populates="report", order_by="ReportFile.idx")
    attempts: Mapped[list[Attempt]] = relationship(back_populates="report", order_by="Attempt.seq")


class ReportFile(Base):
    __tablename__ = "report_files"
    __table_args__ = (UniqueConstraint("report_id", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    sha1: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))

    report: Mapped[Report] = relationship(back_populates="files")


class Attempt(Base):
    __tablename__ = "report_attempts"
    __table_args__ = (UniqueConstraint("report_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), index=True)
    ncmec_report_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    report: Mapped[Report] = relationship(back_populates="attempts")
    uploads: Mapped[list[Upload]] = relationship(back_populates="attempt", order_by="Upload.file_idx")


class Upload(Base):
    __tablename__ = "report_uploads"
    __table_args__ = (UniqueConstraint("attempt_id", "file_idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("report_attempts.id", ondelete="CASCADE"), index=True)
    file_idx: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))  # uploading → uploaded → described
    ncmec_file_id: Mapped[str | None] = mapped_column(String(200))
    server_md5: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    attempt: Mapped[Attempt] = relationship(back_populates="uploads")


class Event(Base):
    """Append-only audit trail of every step taken for a report."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)


class Credential(Base):
    """NCMEC API credentials for one environment; only Fernet ciphertext is stored."""

    __tablename__ = "report_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(20), unique=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
