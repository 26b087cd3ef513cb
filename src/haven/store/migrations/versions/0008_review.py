"""Review branch: queues and access, routing rules, decisions, comments, reveals, exposure, preferences and
the console's settings. Creates the ``default`` queue (any staff role) and ``escalations`` (leads, admins).

Revision ID: 0008_review
Revises: 0000_base
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008_review"
down_revision = "0000_base"
branch_labels = ("review",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    queues = op.create_table(
        "review_queues",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("description", sa.String(400), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("users", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "review_routes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("when", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "review_decisions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=True, index=True),
        sa.Column("content_id", sa.String(200), nullable=True, index=True),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False, index=True),
        sa.Column("classification", sa.String(4), nullable=True),
        sa.Column("banks", sa.JSON, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("at", TS, nullable=False, index=True),
    )
    op.create_table(
        "review_comments",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=True, index=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "review_reveals",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "review_exposure",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("items_seen", sa.Integer, nullable=False),
        sa.Column("reveals", sa.Integer, nullable=False),
        sa.Column("active_seconds", sa.Integer, nullable=False),
        sa.Column("last_activity_at", TS, nullable=True),
    )
    op.create_table(
        "review_prefs",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("blur", sa.Integer, nullable=True),
        sa.Column("run_items", sa.Integer, nullable=False),
        sa.Column("run_started_at", TS, nullable=True),
        sa.Column("last_break_at", TS, nullable=True),
    )
    op.create_table(
        "review_config",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        queues,
        [
            {"name": "default", "description": "everything no routing rule sends elsewhere",
             "roles": ["reviewer", "lead", "admin"], "users": [], "created_at": now},
            {"name": "escalations", "description": "items a reviewer escalated to a lead",
             "roles": ["lead", "admin"], "users": [], "created_at": now},
        ],
    )


def downgrade() -> None:
    for table in ("review_config", "review_prefs", "review_exposure", "review_reveals", "review_comments",
                  "review_decisions", "review_routes", "review_queues"):
        op.drop_table(table)
