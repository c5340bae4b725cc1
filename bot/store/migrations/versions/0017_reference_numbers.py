"""reference numbers: each country keeps the numbers of the shipped reference list as last merged,
so a newer reference is compared with the one before it (what changed upstream) and never
overwrites a number an admin changed here (bot/directory/seed.py, merge_reference)

Revision ID: 0017
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("countries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference_numbers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("countries", schema=None) as batch_op:
        batch_op.drop_column("reference_numbers")
