"""Schema changes keep what is already stored: each data migration is tried on rows of the
schema before it (SQLite here; tests/test_storage.py runs every migration on PostgreSQL too)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from bot.store.db import MIGRATIONS, Database


def _config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection_engine"] = db.engine
    return cfg


def test_a_first_message_waiting_for_yes_moves_to_pending_intent(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    command.upgrade(_config(db), "0006")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO contacts (id, channel, address_enc, first_seen_on, last_seen_on, blocked)"
            " VALUES ('c1', 'telegram', 'x', '2026-12-01', '2026-12-01', 0)"
        )
        for cid, awaiting in (("v1", "then:need_legal"), ("v2", "country"), ("v3", None)):
            conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, contact_id, mode, rasa_sender, "
                    "language_confirmed, awaiting, choices, needs, crisis, rasa_slots, "
                    "queue_notice_sent, started_at, updated_at) VALUES (:id, 'c1', 'bot', :s, 0,"
                    " :a, '[]', '[]', 0, '{}', 0, '2026-12-01', '2026-12-01')"
                ),
                {"id": cid, "s": f"s-{cid}", "a": awaiting},
            )
    db.migrate()
    with db.engine.begin() as conn:
        rows = dict(
            (cid, (awaiting, pending))
            for cid, awaiting, pending in conn.exec_driver_sql(
                "SELECT id, awaiting, pending_intent FROM conversations ORDER BY id"
            )
        )
    assert rows == {
        "v1": (None, "need_legal"),
        "v2": ("country", None),
        "v3": (None, None),
    }
    db.dispose()
