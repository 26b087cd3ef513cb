"""Exchanges branch: hash-list exchanges (NCMEC, StopNCII, ThreatExchange, file), their checkpoints, the
upstream provenance of the entries they keep, and the feedback outbox.

Revision ID: 0020_exchanges
Revises: 0000_base (needs 0001_banks)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_exchanges"
down_revision = "0000_base"
branch_labels = ("exchanges",)
depends_on = "0001_banks"

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("interval_seconds", sa.Integer, nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("credentials", sa.LargeBinary, nullable=True),
        sa.Column("checkpoint", sa.Text, nullable=True),
        sa.Column("pages", ID, nullable=False),
        sa.Column("applied", ID, nullable=False),
        sa.Column("fetch_started_at", TS, nullable=True),
        sa.Column("fetch_finished_at", TS, nullable=True),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("feedback_seq", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "exchange_items",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "exchange_id", sa.Integer, sa.ForeignKey("exchanges.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("upstream_id", sa.String(200), nullable=False),
        sa.Column("signal", sa.String(32), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("entry_id", ID, nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("member", sa.String(200), nullable=True),
        sa.Column("classification", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("upstream_at", TS, nullable=True),
        sa.Column("upstream_feedback", sa.Text, nullable=True),
        sa.Column("extra", sa.Text, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("exchange_id", "upstream_id", "signal", name="uq_exchange_items_upstream"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_exchange_items_entry", "exchange_items", ["entry_id"])
    op.create_table(
        "exchange_feedback",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "exchange_id", sa.Integer, sa.ForeignKey("exchanges.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("item_id", ID, sa.ForeignKey("exchange_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("change_seq", ID, nullable=False),
        sa.Column("opinion", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.UniqueConstraint("item_id", "change_seq", name="uq_exchange_feedback_change"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_exchange_feedback_status", "exchange_feedback", ["status", "id"])


def downgrade() -> None:
    op.drop_table("exchange_feedback")
    op.drop_table("exchange_items")
    op.drop_table("exchanges")
