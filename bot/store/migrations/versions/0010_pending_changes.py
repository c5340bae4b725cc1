"""pending_changes: changes to what a crisis reply shows, and to who is an admin, wait for a
second admin

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("target", sa.String(length=254), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("author", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("approver", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pending_changes_kind", "pending_changes", ["kind"])
    op.create_index("ix_pending_changes_status", "pending_changes", ["status"])


def downgrade() -> None:
    op.drop_index("ix_pending_changes_status", table_name="pending_changes")
    op.drop_index("ix_pending_changes_kind", table_name="pending_changes")
    op.drop_table("pending_changes")
