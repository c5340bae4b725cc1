"""console: handoff state, held replies, invitation expiry, TOTP replay guard

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_state",
        sa.Column("handoff_id", sa.String(length=32), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(), nullable=True),
        sa.Column("fallback_at", sa.DateTime(), nullable=True),
        sa.Column("code_word_failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoff_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("handoff_id"),
    )
    op.create_table(
        "held_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("held_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_held_replies_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_held_replies_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invite_expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("invite_expires_at")
    with op.batch_alter_table("held_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_held_replies_created_at"))
        batch_op.drop_index(batch_op.f("ix_held_replies_contact_id"))
    op.drop_table("held_replies")
    op.drop_table("handoff_state")
