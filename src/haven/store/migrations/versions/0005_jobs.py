"""Jobs branch: the database broker's messages, the dead-letter list, periodic-job slots.

Revision ID: 0005_jobs
Revises: 0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_jobs"
down_revision = "0000_base"
branch_labels = ("jobs",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_messages",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("enqueued_at", sa.BigInteger, nullable=False),
        sa.Column("available_at", sa.BigInteger, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("deliveries", sa.Integer, nullable=False),
    )
    op.create_index("ix_job_messages_queue_available", "job_messages", ["queue", "available_at"])
    op.create_table(
        "job_dead_letters",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False, unique=True),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("failed_at", sa.BigInteger, nullable=False),
        sa.Column("retried_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_job_dead_letters_job", "job_dead_letters", ["job"])
    op.create_table(
        "job_schedule",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slot", sa.BigInteger, nullable=False),
        sa.Column("enqueued_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("name", "slot"),
    )


def downgrade() -> None:
    op.drop_table("job_schedule")
    op.drop_index("ix_job_dead_letters_job", table_name="job_dead_letters")
    op.drop_table("job_dead_letters")
    op.drop_index("ix_job_messages_queue_available", table_name="job_messages")
    op.drop_table("job_messages")
