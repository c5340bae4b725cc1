"""signin_failures: console sign-in tries per (account address, client address) as keyed
hashes, so the growing delays hold across every bot process and across restarts

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_signin_failures_account", "signin_failures", ["account"])
    op.create_index("ix_signin_failures_last_failed_at", "signin_failures", ["last_failed_at"])


def downgrade() -> None:
    op.drop_index("ix_signin_failures_last_failed_at", table_name="signin_failures")
    op.drop_index("ix_signin_failures_account", table_name="signin_failures")
    op.drop_table("signin_failures")
