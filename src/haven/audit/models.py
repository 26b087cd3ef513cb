"""The audit tables: the hash-chained entries, and a one-row head that serialises appenders."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base


class AuditEntry(Base):
    """One event. ``hash`` covers every other column (see ``haven.audit.chain.entry_hash``)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    # Text, not DateTime: the hash covers the stored characters, which must read back identically on
    # SQLite and PostgreSQL (a DateTime column comes back naive on one and aware on the other).
    at: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(80), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(String(400), index=True)
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The newest entry, in one row that every appender updates first: the row lock (PostgreSQL) or the
    write lock (SQLite) it takes is what keeps two writers from both extending the same head. Verification
    never trusts it; the chain alone is the record."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
