"""Schema changes keep what is already stored: each data migration is tried on rows of the
schema before it (SQLite here; tests/test_storage.py runs every migration on PostgreSQL too)."""

from __future__ import annotations

import json
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


def test_a_countrys_emergency_list_becomes_numbers_with_kinds(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    command.upgrade(_config(db), "0007")
    emergency = (
        '[{"number": "190", "label": "Polícia Militar"}, '
        '{"number": "192", "label": "SAMU (urgência médica)"}, '
        '{"number": "193", "label": "Corpo de Bombeiros"}]'
    )
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO countries (code, languages, emergency, source, last_verified, "
                "verified_by) VALUES ('BR', '[\"pt\"]', :e, 'https://example.org/br', "
                "'2026-11-28', 'x'), ('XX', '[]', '[]', '', NULL, '')"
            ),
            {"e": emergency},
        )
    db.migrate()
    with db.engine.begin() as conn:
        rows = {
            code: numbers
            for code, numbers in conn.exec_driver_sql("SELECT code, numbers FROM countries")
        }
    br = json.loads(rows["BR"])
    assert [(n["kind"], n["number"]) for n in br] == [
        ("police", "190"),
        ("ambulance", "192"),
        ("fire", "193"),
    ]
    assert all(n["source"] == "https://example.org/br" and n["confirmed"] for n in br)
    assert br[0]["verified"] == "2026-11-28"
    db.dispose()
