"""pending_intent: what a first message asked for gets its own column

Before, it was kept in ``awaiting`` as the string "then:<intent>". Existing rows are moved.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("pending_intent", sa.String(length=32), nullable=True))
    conversations = sa.table(
        "conversations",
        sa.column("awaiting", sa.String),
        sa.column("pending_intent", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(conversations.c.awaiting).where(conversations.c.awaiting.like("then:%"))
    ).all()
    for (awaiting,) in rows:
        bind.execute(
            conversations.update()
            .where(conversations.c.awaiting == awaiting)
            .values(pending_intent=awaiting.removeprefix("then:"), awaiting=None)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("pending_intent")
