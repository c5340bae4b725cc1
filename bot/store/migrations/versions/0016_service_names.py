"""service names: the name an organisation uses in each of the assistant's languages (the
Canadian hotline is "Ligne d'urgence canadienne contre la traite des personnes" in French), so a
card shows the name the person can find and say back

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and empty for existing entries: each keeps showing its one name until an admin
    # or an import adds the others.
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("names", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("names")
