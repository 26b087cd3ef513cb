"""Banks: ``enabled_ratio`` (the share of look-ups a bank answers, HMA's ``matching_enabled_ratio``);
entries: ``disable_until_ts`` (no match until that Unix time; HMA's magic values 0 = off, 1 = on), and an
index on ``item`` (a content's entries are found by it: ``haven.banks.content``).

Revision ID: 0008_bank_sampling
Revises: 0004_bank_entry_lookup
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_bank_sampling"
down_revision = "0004_bank_entry_lookup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("banks", sa.Column("enabled_ratio", sa.Float, nullable=False, server_default="1.0"))
    op.add_column("bank_entries", sa.Column("disable_until_ts", sa.BigInteger, nullable=True))
    op.create_index("ix_bank_entries_item", "bank_entries", ["item"])


def downgrade() -> None:
    op.drop_index("ix_bank_entries_item", table_name="bank_entries")
    with op.batch_alter_table("bank_entries") as batch:
        batch.drop_column("disable_until_ts")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("enabled_ratio")
