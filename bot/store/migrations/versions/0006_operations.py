"""operations: teams, operating hours and holidays, extra exit words, extra lexicon entries

Merges the channels (0003), console (0004) and content (0005) branches into one head.

Revision ID: 0006
Revises: 0003, 0004, 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = ("0003", "0004", "0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "staff_id"),
    )
    op.create_index("ix_team_members_staff_id", "team_members", ["staff_id"])
    op.create_table(
        "operating_settings",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "holidays",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "exit_words",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("word", sa.String(length=40), nullable=False),
        sa.Column("folded", sa.String(length=40), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("folded", name="uq_exit_words_folded"),
    )
    op.create_index("ix_exit_words_language", "exit_words", ["language"])
    op.create_table(
        "lexicon_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("phrase", sa.String(length=120), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("language", "kind", "phrase", name="uq_lexicon_entries_phrase"),
    )
    op.create_index("ix_lexicon_entries_language", "lexicon_entries", ["language"])


def downgrade() -> None:
    op.drop_index("ix_lexicon_entries_language", table_name="lexicon_entries")
    op.drop_table("lexicon_entries")
    op.drop_index("ix_exit_words_language", table_name="exit_words")
    op.drop_table("exit_words")
    op.drop_table("holidays")
    op.drop_table("operating_settings")
    op.drop_index("ix_team_members_staff_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
