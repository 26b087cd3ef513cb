"""The recovery network's tables (all prefixed ``portal_``), on the shared ``Base``.

Personal data lives in ``portal_members`` only (name, e-mail, organisation, referee, statement); every
other table points at a member by id, so erasing a leaving member is: blank that row, delete what they
wrote that is not shared knowledge, and cut the links from what stays (see ``haven.portal.members.leave``).
The login itself (password, TOTP, sessions) belongs to ``haven.auth``; ``user_id`` links to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base

TS = DateTime(timezone=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; the portal stores UTC, so the zone is put back."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Member(Base):
    __tablename__ = "portal_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    organisation: Mapped[str] = mapped_column(String(200))
    profession: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    languages: Mapped[list[str]] = mapped_column(JSON)
    referee_name: Mapped[str] = mapped_column(String(200))
    referee_email: Mapped[str] = mapped_column(String(320))
    statement: Mapped[str] = mapped_column(Text)
    ui_language: Mapped[str] = mapped_column(String(8), default="en")
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(TS)
    left_at: Mapped[datetime | None] = mapped_column(TS)


class AuditRow(Base):
    """Moderator actions, until ``haven.audit`` (hash-chained) takes them over."""

    __tablename__ = "portal_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    event: Mapped[str] = mapped_column(String(60), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    target: Mapped[str] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class Resource(Base):
    __tablename__ = "portal_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8))
    audience: Mapped[str] = mapped_column(String(40))
    tags: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("portal_members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class ResourceVersion(Base):
    __tablename__ = "portal_resource_versions"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("portal_resources.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    body_markdown: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)  # what search sees: the Markdown, or the text taken from the PDF
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    file_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("portal_members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class SearchDoc(Base):
    """One searchable document (a resource's newest version, a published case study).

    On PostgreSQL a generated ``tsvector`` column and a GIN index are added by the migration; on SQLite an
    FTS5 table ``portal_search_fts`` mirrors it. ``haven.portal.search`` keeps both behind one contract.
    """

    __tablename__ = "portal_search_docs"
    __table_args__ = (UniqueConstraint("doc_type", "doc_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_type: Mapped[str] = mapped_column(String(20))
    doc_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    country: Mapped[str] = mapped_column(String(2))


class CaseStudy(Base):
    __tablename__ = "portal_case_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_members.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8))
    sections: Mapped[dict[str, str]] = mapped_column(JSON)
    deid_findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the last check, with justifications
    review_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(TS)
    published_at: Mapped[datetime | None] = mapped_column(TS)


class Comment(Base):
    __tablename__ = "portal_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_study_id: Mapped[int] = mapped_column(
        ForeignKey("portal_case_studies.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("portal_members.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Instrument(Base):
    """One version of an assessment instrument; a published version is never edited, only superseded."""

    __tablename__ = "portal_instruments"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("portal_members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class AssessedCase(Base):
    """A child's case as the portal knows it: a random code, never a name, a date of birth or a place."""

    __tablename__ = "portal_assessed_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("portal_members.id", ondelete="CASCADE"), index=True)
    instrument_key: Mapped[str] = mapped_column(String(60))
    age_band: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Assessment(Base):
    __tablename__ = "portal_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("portal_assessed_cases.id", ondelete="CASCADE"), index=True
    )
    instrument_id: Mapped[int] = mapped_column(ForeignKey("portal_instruments.id"))
    week: Mapped[int] = mapped_column(Integer)  # weeks since the case's first assessment: no calendar dates
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Survey(Base):
    __tablename__ = "portal_surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # practice | training_needs
    title: Mapped[dict[str, str]] = mapped_column(JSON)  # language → text
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class SurveyRound(Base):
    __tablename__ = "portal_survey_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("portal_surveys.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(10))  # open | closed
    opened_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(TS)


class SurveyResponse(Base):
    """Answers keep the respondent's country and profession; the member link is cut on leaving."""

    __tablename__ = "portal_survey_responses"
    __table_args__ = (UniqueConstraint("round_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("portal_survey_rounds.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(ForeignKey("portal_members.id", ondelete="SET NULL"))
    country: Mapped[str] = mapped_column(String(2))
    profession: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Topic(Base):
    __tablename__ = "portal_topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("portal_members.id", ondelete="SET NULL"))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Post(Base):
    __tablename__ = "portal_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("portal_topics.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("portal_members.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Subscription(Base):
    """Who wants an e-mail when a topic gets a post."""

    __tablename__ = "portal_subscriptions"
    __table_args__ = (UniqueConstraint("topic_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("portal_topics.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("portal_members.id", ondelete="CASCADE"), index=True)
