"""Reports branch: reports, their files, NCMEC attempts and uploads, audit events, encrypted credentials.

Revision ID: 0002_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_reports"
down_revision = "0000_base"
branch_labels = ("reports",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("environment", sa.String(20), nullable=True),
        sa.Column("case_json", sa.Text, nullable=False),
        sa.Column("report_xml", sa.Text, nullable=False),
        sa.Column("ncmec_report_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("preservation_starts_at", TS, nullable=True),
        sa.Column("preservation_ends_at", TS, nullable=True),
        sa.Column("retracted_at", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
    )
    op.create_index("ix_reports_state", "reports", ["state"])
    op.create_index("ix_reports_updated_at", "reports", ["updated_at"])

    op.create_table(
        "report_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.UniqueConstraint("report_id", "idx"),
    )
    op.create_index("ix_report_files_report_id", "report_files", ["report_id"])
    op.create_index("ix_report_files_md5", "report_files", ["md5"])
    op.create_index("ix_report_files_sha256", "report_files", ["sha256"])

    op.create_table(
        "report_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("ncmec_report_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("report_id", "seq"),
    )
    op.create_index("ix_report_attempts_report_id", "report_attempts", ["report_id"])
    op.create_index("ix_report_attempts_state", "report_attempts", ["state"])
    op.create_index("ix_report_attempts_ncmec_report_id", "report_attempts", ["ncmec_report_id"])

    op.create_table(
        "report_uploads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("report_attempts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("file_idx", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("ncmec_file_id", sa.String(200), nullable=True),
        sa.Column("server_md5", sa.String(32), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("attempt_id", "file_idx"),
    )
    op.create_index("ix_report_uploads_attempt_id", "report_uploads", ["attempt_id"])

    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_report_events_report_id", "report_events", ["report_id"])

    op.create_table(
        "report_credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(20), nullable=False, unique=True),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in ("report_credentials", "report_events", "report_uploads", "report_attempts",
                 "report_files", "reports"):
        op.drop_table(name)
