"""people: a conversation knows the person is under 18 and which filters they asked for; a
service says separately whether it may involve the police and whether it may share information
with immigration (one flag for two different things before), and whether it is for women or men
only

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("minor", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("filters", sa.JSON(), nullable=True))
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("may_involve_police", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("may_share_with_immigration", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("gender_only", sa.String(length=8), nullable=True))
    # The old flag said "police or immigration": a yes may have meant either, so it becomes a yes
    # on both until an admin separates them (warning too much is the safer mistake); a no was a
    # no to both; unknown stays unknown.
    op.execute(
        "UPDATE services SET may_involve_police = may_involve_authorities, "
        "may_share_with_immigration = may_involve_authorities"
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("may_involve_authorities")


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("may_involve_authorities", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE services SET may_involve_authorities = CASE "
        "WHEN may_involve_police OR may_share_with_immigration THEN TRUE "
        "WHEN may_involve_police = FALSE AND may_share_with_immigration = FALSE THEN FALSE "
        "ELSE NULL END"
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("gender_only")
        batch_op.drop_column("may_share_with_immigration")
        batch_op.drop_column("may_involve_police")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("filters")
        batch_op.drop_column("minor")
