"""bot_processes: every running bot process on the database (host, pid, where its Rasa keeps its
dialogue state, a renewed expiry), so that a second process with a Rasa state of its own is
refused at start instead of answering people from a dialogue it never had

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_processes",
        sa.Column("owner", sa.String(length=40), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("backend_pid", sa.Integer(), nullable=False),
        sa.Column("rasa_state", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )


def downgrade() -> None:
    op.drop_table("bot_processes")
