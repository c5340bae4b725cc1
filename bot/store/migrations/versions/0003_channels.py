"""channels: outbox and platform message ids outlive an erased contact

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:00:00.000000

After DELETE the contact row is gone, yet its confirmation must still be sent and, on Telegram, the
chat's recent messages deleted: both tables lose their foreign key to ``contacts`` (see
bot/store/channel_models.py). SQLite cannot drop a constraint in place, so it rebuilds the table
(batch mode); the key there has no name, hence the naming convention that gives it one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("outbox_messages", "platform_messages")
CONVENTION = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        keys = [
            fk
            for fk in sa.inspect(bind).get_foreign_keys(table)
            if fk["referred_table"] == "contacts"
        ]
        if not keys:
            continue
        if bind.dialect.name == "sqlite":
            with op.batch_alter_table(table, naming_convention=CONVENTION) as batch_op:
                batch_op.drop_constraint(f"fk_{table}_contact_id_contacts", type_="foreignkey")
        else:
            op.drop_constraint(str(keys[0]["name"]), table, type_="foreignkey")


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        op.execute(
            sa.text(f"DELETE FROM {table} WHERE contact_id NOT IN (SELECT id FROM contacts)")
        )
        with op.batch_alter_table(table, naming_convention=CONVENTION) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_contact_id_contacts"
                if bind.dialect.name == "sqlite"
                else f"{table}_contact_id_fkey",
                "contacts",
                ["contact_id"],
                ["id"],
                ondelete="CASCADE",
            )
