"""Bank entries of any registered signal: an ``exact`` flag for the digest index, long values.

The digest index used to cover every row whose signal was not PDQ. With signals as plugins (and
video hashes whose values run to kilobytes, too long for a B-tree row), the index covers exactly
the rows of exact-lookup signals, marked by ``exact``. Values become unbounded text; signal names
may be 32 characters.

Revision ID: 0004_bank_entry_lookup
Revises: 0001_banks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_bank_entry_lookup"
down_revision = "0001_banks"
branch_labels = None
depends_on = None

# The exact-lookup signals that existed when this migration was written (migrations may name them).
_EXACT_THEN = ("md5", "sha1", "sha256")


def upgrade() -> None:
    op.add_column("bank_entries", sa.Column("exact", sa.Boolean, nullable=False, server_default=sa.false()))
    entries = sa.table("bank_entries", sa.column("exact", sa.Boolean), sa.column("signal", sa.String))
    op.execute(entries.update().where(entries.c.signal.in_(_EXACT_THEN)).values(exact=True))
    op.drop_index("ix_bank_entries_digest", table_name="bank_entries")
    op.create_index("ix_bank_entries_digest", "bank_entries", ["signal", "value"],
                    sqlite_where=sa.text("exact"), postgresql_where=sa.text("exact"))
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not enforce VARCHAR lengths
        op.alter_column("bank_entries", "value", type_=sa.Text, existing_nullable=False)
        op.alter_column("bank_entries", "signal", type_=sa.String(32), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("bank_entries", "signal", type_=sa.String(16), existing_nullable=False)
        op.alter_column("bank_entries", "value", type_=sa.String(128), existing_nullable=False)
    op.drop_index("ix_bank_entries_digest", table_name="bank_entries")
    op.create_index("ix_bank_entries_digest", "bank_entries", ["signal", "value"],
                    sqlite_where=sa.text("signal != 'pdq'"), postgresql_where=sa.text("signal != 'pdq'"))
    with op.batch_alter_table("bank_entries") as batch:
        batch.drop_column("exact")
