"""Match records belong to the API key that made them: look-ups go by (key, content id).

Revision ID: 0005_match_records_by_key
Revises: 0003_api_keys
"""

from __future__ import annotations

from alembic import op

revision = "0005_match_records_by_key"
down_revision = "0003_api_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_service_match_records_content_id", table_name="service_match_records")
    op.create_index("ix_service_match_records_key_content", "service_match_records",
                    ["key_id", "content_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_service_match_records_key_content", table_name="service_match_records")
    op.create_index("ix_service_match_records_content_id", "service_match_records", ["content_id", "id"])
