"""country_numbers: every country's numbers as managed data, each with its kind and source

Before, a country had one ``emergency`` list of {number, label}, filled only from the seed file.
Now ``numbers`` holds every number a reply may show (emergency, police, ambulance, fire,
anti-trafficking, suicide or crisis, child, deaf-accessible), each with a source URL, a verified
date and whether it was confirmed from that source. Existing emergency numbers are moved, with a
kind guessed from their label. ``reference_applied`` records when the shipped reference list
(bot/directory/countries.json) was merged into a country, so admins' deletions stay deleted.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_KINDS = (
    (re.compile(r"pol[ií]c|carabin|gendarm", re.I), "police"),
    (re.compile(r"ambul|samu|m[eé]dic|cruz roja|red cross|urg[eê]ncia", re.I), "ambulance"),
    (re.compile(r"bomb|fire|pompier", re.I), "fire"),
)


def _kind(label: str) -> str:
    for pattern, kind in _KINDS:
        if pattern.search(label or ""):
            return kind
    return "emergency"


def upgrade() -> None:
    with op.batch_alter_table("countries") as batch:
        batch.add_column(sa.Column("numbers", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reference_applied", sa.String(length=10), nullable=True))
    countries = sa.table(
        "countries",
        sa.column("code", sa.String),
        sa.column("emergency", sa.JSON),
        sa.column("numbers", sa.JSON),
        sa.column("source", sa.Text),
        sa.column("last_verified", sa.Date),
    )
    bind = op.get_bind()
    for code, emergency, source, verified in bind.execute(
        sa.select(
            countries.c.code, countries.c.emergency, countries.c.source, countries.c.last_verified
        )
    ).all():
        numbers: list[dict[str, Any]] = []
        for entry in emergency or []:
            label = str(entry.get("label") or "")
            numbers.append(
                {
                    "kind": _kind(label),
                    "number": str(entry.get("number") or ""),
                    "label": label,
                    "how": "voice",
                    "source": source or "",
                    "verified": verified.isoformat() if verified else None,
                    "confirmed": bool(source),
                }
            )
        bind.execute(countries.update().where(countries.c.code == code).values(numbers=numbers))
    with op.batch_alter_table("countries") as batch:
        batch.alter_column("numbers", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("emergency")


def downgrade() -> None:
    with op.batch_alter_table("countries") as batch:
        batch.add_column(sa.Column("emergency", sa.JSON(), nullable=True))
    countries = sa.table(
        "countries",
        sa.column("code", sa.String),
        sa.column("emergency", sa.JSON),
        sa.column("numbers", sa.JSON),
    )
    bind = op.get_bind()
    for code, numbers in bind.execute(sa.select(countries.c.code, countries.c.numbers)).all():
        emergency = [
            {"number": x["number"], "label": x.get("label", "")}
            for x in numbers or []
            if x.get("kind") in ("emergency", "police", "ambulance", "fire")
        ]
        bind.execute(
            countries.update().where(countries.c.code == code).values(emergency=emergency)
        )
    with op.batch_alter_table("countries") as batch:
        batch.alter_column("emergency", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("numbers")
        batch.drop_column("reference_applied")
