"""security: the second step's own failure counter, server-made TOTP secrets, recovery codes,
idle sessions

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("totp_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("totp_failed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("totp_pending_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("recovery_hashes", sa.JSON(), nullable=True))
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("recovery_hashes")
        batch_op.drop_column("totp_pending_enc")
        batch_op.drop_column("totp_failed_at")
        batch_op.drop_column("totp_failures")
