"""SQLAlchemy model of the service's match records (Alembic branch ``api_keys``; the keys themselves live in
``haven.auth.models``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base


class MatchRecordRow(Base):
    __tablename__ = "service_match_records"
    __table_args__ = (Index("ix_service_match_records_key_content", "key_id", "content_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    content_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
