"""Root of every domain's migration branch (no tables).

Each domain (banks, reports, api keys …) starts its own branch from here with a branch label,
so they evolve independently; ``upgrade_database`` applies all heads.

Revision ID: 0000_base
"""

revision = "0000_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
