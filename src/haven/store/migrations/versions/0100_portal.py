"""Portal branch: the recovery network's members, library, search, case studies, assessments, surveys,
discussions and its moderator record.

Search: PostgreSQL gets a generated ``tsvector`` column with a GIN index on ``portal_search_docs``; SQLite
gets an external-content FTS5 table kept in step by triggers. ``haven.portal.search`` hides the difference.

Revision ID: 0100_portal
Revises: 0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100_portal"
down_revision = "0000_base"
branch_labels = ("portal",)
depends_on = None

# English stemming for English documents, French for French, no stemming for the rest.
PG_TSV = """
ALTER TABLE portal_search_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector(CASE language WHEN 'en' THEN 'english'::regconfig WHEN 'fr' THEN 'french'::regconfig
                        ELSE 'simple'::regconfig END, coalesce(title, '')), 'A') ||
  setweight(to_tsvector(CASE language WHEN 'en' THEN 'english'::regconfig WHEN 'fr' THEN 'french'::regconfig
                        ELSE 'simple'::regconfig END, coalesce(body, '')), 'B')
) STORED
"""
SQLITE_FTS = [
    """CREATE VIRTUAL TABLE portal_search_fts USING fts5(title, body, content='portal_search_docs',
       content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER portal_search_ai AFTER INSERT ON portal_search_docs BEGIN
         INSERT INTO portal_search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END""",
    """CREATE TRIGGER portal_search_ad AFTER DELETE ON portal_search_docs BEGIN
         INSERT INTO portal_search_fts(portal_search_fts, rowid, title, body)
         VALUES ('delete', old.id, old.title, old.body); END""",
    """CREATE TRIGGER portal_search_au AFTER UPDATE ON portal_search_docs BEGIN
         INSERT INTO portal_search_fts(portal_search_fts, rowid, title, body)
         VALUES ('delete', old.id, old.title, old.body);
         INSERT INTO portal_search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END""",
]


def upgrade() -> None:
    op.create_table(
        "portal_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_portal_audit_event"), "portal_audit", ["event"], unique=False)
    op.create_table(
        "portal_members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("profession", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("referee_name", sa.String(length=200), nullable=False),
        sa.Column("referee_email", sa.String(length=320), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("ui_language", sa.String(length=8), nullable=False),
        sa.Column("notify_email", sa.Boolean(), nullable=False),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("user_id"),
    )
    op.create_index(op.f("ix_portal_members_status"), "portal_members", ["status"], unique=False)
    op.create_table(
        "portal_search_docs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("doc_type", sa.String(length=20), nullable=False),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("doc_type", "doc_id"),
    )
    op.create_table(
        "portal_surveys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "portal_assessed_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("instrument_key", sa.String(length=60), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["portal_members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        op.f("ix_portal_assessed_cases_owner_id"), "portal_assessed_cases", ["owner_id"], unique=False
    )
    op.create_table(
        "portal_case_studies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("deid_findings", sa.JSON(), nullable=False),
        sa.Column("review_note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["portal_members.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_portal_case_studies_author_id"), "portal_case_studies", ["author_id"], unique=False
    )
    op.create_index(op.f("ix_portal_case_studies_status"), "portal_case_studies", ["status"], unique=False)
    op.create_table(
        "portal_instruments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["portal_members.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_table(
        "portal_resources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("audience", sa.String(length=40), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["portal_members.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "portal_survey_rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["survey_id"], ["portal_surveys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_portal_survey_rounds_survey_id"), "portal_survey_rounds", ["survey_id"], unique=False
    )
    op.create_table(
        "portal_topics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["portal_members.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "portal_assessments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["portal_assessed_cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["portal_instruments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_portal_assessments_case_id"), "portal_assessments", ["case_id"], unique=False)
    op.create_table(
        "portal_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_study_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["portal_members.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["case_study_id"], ["portal_case_studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_portal_comments_case_study_id"), "portal_comments", ["case_study_id"], unique=False
    )
    op.create_table(
        "portal_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("hidden_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["portal_members.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["topic_id"], ["portal_topics.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_portal_posts_topic_id"), "portal_posts", ["topic_id"], unique=False)
    op.create_table(
        "portal_resource_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("file_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["portal_members.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["resource_id"], ["portal_resources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("resource_id", "version"),
    )
    op.create_index(
        op.f("ix_portal_resource_versions_resource_id"),
        "portal_resource_versions",
        ["resource_id"],
        unique=False,
    )
    op.create_table(
        "portal_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["portal_members.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["topic_id"], ["portal_topics.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("topic_id", "member_id"),
    )
    op.create_index(
        op.f("ix_portal_subscriptions_member_id"), "portal_subscriptions", ["member_id"], unique=False
    )
    op.create_table(
        "portal_survey_responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("profession", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["portal_members.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["round_id"], ["portal_survey_rounds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "member_id"),
    )
    op.create_index(
        op.f("ix_portal_survey_responses_round_id"), "portal_survey_responses", ["round_id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TSV)
        op.execute("CREATE INDEX ix_portal_search_docs_tsv ON portal_search_docs USING gin (tsv)")
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


TABLES = [
    "portal_subscriptions",
    "portal_posts",
    "portal_topics",
    "portal_survey_responses",
    "portal_survey_rounds",
    "portal_surveys",
    "portal_assessments",
    "portal_assessed_cases",
    "portal_instruments",
    "portal_comments",
    "portal_case_studies",
    "portal_search_docs",
    "portal_resource_versions",
    "portal_resources",
    "portal_audit",
    "portal_members",
]


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS portal_search_fts")
    for table in TABLES:
        op.drop_table(table)
