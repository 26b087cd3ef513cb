"""Banks: banks, bank_entries, bank_imports, bank_changes, bank_store_info.

Revision ID: 0001_banks
Revises: 0000_base
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0001_banks"
down_revision = "0000_base"
branch_labels = ("banks",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text),
        sa.Column("source", sa.String(200)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("thresholds", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(200)),
    )
    op.create_table(
        "bank_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("records_done", sa.BigInteger, nullable=False),
        sa.Column("rows_added", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("warnings", sa.BigInteger, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("actor", sa.String(200)),
    )
    op.create_index("ix_bank_imports_file", "bank_imports", ["bank_id", "sha256"])
    op.create_table(
        "bank_entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signal", sa.String(16), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("quality", sa.Integer),
        sa.Column("category", sa.String(64)),
        sa.Column("category_scheme", sa.String(64)),
        sa.Column("severity", sa.Integer),
        sa.Column("series", sa.Text),
        sa.Column("victim_identified", sa.Boolean),
        sa.Column("item", sa.String(200)),
        sa.Column("note", sa.Text),
        sa.Column("extra", sa.Text),
        sa.Column("feedback", sa.String(32)),
        sa.Column("feedback_by", sa.String(200)),
        sa.Column("feedback_at", TS),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("bank_imports.id", ondelete="SET NULL")),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200)),
        sqlite_autoincrement=True,  # ids are never reused (they appear in match results and reports)
    )
    op.create_index("ix_bank_entries_bank", "bank_entries", ["bank_id", "id"])
    op.create_index("ix_bank_entries_digest", "bank_entries", ["signal", "value"],
                    sqlite_where=sa.text("signal != 'pdq'"), postgresql_where=sa.text("signal != 'pdq'"))
    op.create_table(
        "bank_changes",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("bank_id", sa.Integer, nullable=False),
        sa.Column("lo", sa.BigInteger),
        sa.Column("hi", sa.BigInteger),
        sa.Column("detail", sa.Text),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200)),
        sqlite_autoincrement=True,
    )
    info = op.create_table(
        "bank_store_info",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    # A random identity, so a saved PDQ index is never reused against a different database.
    op.bulk_insert(info, [{"key": "store_id", "value": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("bank_store_info")
    op.drop_table("bank_changes")
    op.drop_index("ix_bank_entries_digest", table_name="bank_entries")
    op.drop_index("ix_bank_entries_bank", table_name="bank_entries")
    op.drop_table("bank_entries")
    op.drop_index("ix_bank_imports_file", table_name="bank_imports")
    op.drop_table("bank_imports")
    op.drop_table("banks")
