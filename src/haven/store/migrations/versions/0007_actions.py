"""Actions branch: rule sets, rules, action runs, staged uploads, the review queue.

Revision ID: 0007_actions
Revises: 0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_actions"
down_revision = "0000_base"
branch_labels = ("actions",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rule_sets",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("mode", sa.String(10), nullable=False),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("ruleset", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("when", sa.JSON, nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "action_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("content_key", sa.String(200), nullable=False),
        sa.Column("content_id", sa.String(200), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("rule_id", sa.Integer, nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("staged_uid", sa.String(32), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("content_key", "rule_id", "action_key"),
    )
    op.create_index("ix_action_runs_content_id", "action_runs", ["content_id"])
    op.create_index("ix_action_runs_rule_id", "action_runs", ["rule_id"])
    op.create_index("ix_action_runs_status", "action_runs", ["status"])
    op.create_table(
        "action_staged",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "review_queue",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("source_key", sa.String(200), nullable=True, unique=True),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("severity", sa.Integer, nullable=True),
        sa.Column("known", sa.Boolean, nullable=False),
        sa.Column("content_id", sa.String(200), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("vault_item_id", sa.BigInteger, nullable=True),
        sa.Column("rule_id", sa.Integer, nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("enqueued_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision", sa.String(40), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_review_queue_next", "review_queue", ["queue", "state", "priority", "enqueued_at"])
    op.create_index("ix_review_queue_content_id", "review_queue", ["content_id"])
    op.create_index("ix_review_queue_sha256", "review_queue", ["sha256"])


def downgrade() -> None:
    for ix in ("ix_review_queue_sha256", "ix_review_queue_content_id", "ix_review_queue_next"):
        op.drop_index(ix, table_name="review_queue")
    op.drop_table("review_queue")
    op.drop_table("action_staged")
    for ix in ("ix_action_runs_status", "ix_action_runs_rule_id", "ix_action_runs_content_id"):
        op.drop_index(ix, table_name="action_runs")
    op.drop_table("action_runs")
    op.drop_table("rules")
    op.drop_table("rule_sets")
