"""Vault tables: one row per preserved item (its wrapped data key, blob names, retention state), and the
export signing key (sealed by the master key ring)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from haven.store.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class VaultItem(Base):
    __tablename__ = "vault_items"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # binds the key, blobs and MAC to this item
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)  # idempotency (e.g. action run)
    state: Mapped[str] = mapped_column(String(16), index=True)  # held | purged
    name: Mapped[str] = mapped_column(String(400))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    md5: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    report_id: Mapped[int | None] = mapped_column(Integer)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retain_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_by: Mapped[str | None] = mapped_column(String(200))
    hold_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold_remaining_s: Mapped[int | None] = mapped_column(BigInteger)  # the clock, stopped
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    content_blob: Mapped[str | None] = mapped_column(String(64))
    context_blob: Mapped[str | None] = mapped_column(String(64))
    context_version: Mapped[int] = mapped_column(Integer, default=1)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # destroyed on purge
    key_id: Mapped[str | None] = mapped_column(String(16))  # master key that wrapped it (not secret)
    meta_mac: Mapped[str | None] = mapped_column(String(64))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SigningKey(Base):
    """The Ed25519 key export packages are signed with; the private half sealed by the master key ring."""

    __tablename__ = "vault_signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_key: Mapped[str] = mapped_column(Text)  # PEM
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
