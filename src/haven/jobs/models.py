"""Job tables: the embedded broker's messages, the dead-letter list (every backend), periodic slots."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


class JobMessage(Base):
    """A message of the database broker. A worker leases it (``lease_owner``/``lease_until``) and deletes it
    when done; a lease left to expire (the worker died) makes it visible again."""

    __tablename__ = "job_messages"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[int] = mapped_column(BigInteger)  # epoch milliseconds
    available_at: Mapped[int] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[int | None] = mapped_column(BigInteger)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)


class DeadLetter(Base):
    """A job that failed every try (or named no known job): what it was, and its last error."""

    __tablename__ = "job_dead_letters"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    queue: Mapped[str] = mapped_column(String(100))
    job: Mapped[str] = mapped_column(String(200), index=True)
    args: Mapped[str] = mapped_column(Text)  # JSON [args, kwargs]
    tries: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[int] = mapped_column(BigInteger)
    retried_at: Mapped[int | None] = mapped_column(BigInteger)


class ScheduleSlot(Base):
    """One run of a periodic job: the unique (name, slot) lets many workers share one schedule."""

    __tablename__ = "job_schedule"
    __table_args__ = (UniqueConstraint("name", "slot"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    slot: Mapped[int] = mapped_column(BigInteger)
    enqueued_at: Mapped[int] = mapped_column(BigInteger)
