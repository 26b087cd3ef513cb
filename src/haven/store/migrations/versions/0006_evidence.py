"""Evidence branch: the vault's items and its export signing keys.

Revision ID: 0006_evidence
Revises: 0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_evidence"
down_revision = "0000_base"
branch_labels = ("evidence",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_items",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("source_key", sa.String(200), nullable=True, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("report_id", sa.Integer, nullable=True),
        sa.Column("reported_at", TS, nullable=True),
        sa.Column("retain_until", TS, nullable=False),
        sa.Column("hold", sa.Boolean, nullable=False),
        sa.Column("hold_reason", sa.Text, nullable=True),
        sa.Column("hold_by", sa.String(200), nullable=True),
        sa.Column("hold_since", TS, nullable=True),
        sa.Column("hold_remaining_s", sa.BigInteger, nullable=True),
        sa.Column("extensions", sa.Integer, nullable=False),
        sa.Column("content_blob", sa.String(64), nullable=True),
        sa.Column("context_blob", sa.String(64), nullable=True),
        sa.Column("context_version", sa.Integer, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("meta_mac", sa.String(64), nullable=True),
        sa.Column("purged_at", TS, nullable=True),
    )
    op.create_index("ix_vault_items_state", "vault_items", ["state"])
    op.create_index("ix_vault_items_sha256", "vault_items", ["sha256"])
    op.create_index("ix_vault_items_retain_until", "vault_items", ["retain_until"])
    op.create_table(
        "vault_signing_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("retired_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("vault_signing_keys")
    for ix in ("ix_vault_items_retain_until", "ix_vault_items_sha256", "ix_vault_items_state"):
        op.drop_index(ix, table_name="vault_items")
    op.drop_table("vault_items")
