"""The handoff queue and the purge on SQLite and PostgreSQL: order, the accept race, what the
purge deletes and what it keeps (moved from the console's unit tests: it needs a database server).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.events import EventBus
from bot.handoff.hours import TeamHours
from bot.handoff.service import Handoffs
from bot.store.console_models import HandoffNote, HeldReply
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import (
    Base,
    Contact,
    Conversation,
    HandoffMessage,
    HandoffRequest,
    Mode,
    utcnow,
)
from bot.types import Reply

NOW = dt.datetime(2026, 11, 30, 15, 0)  # a Monday, 15:00 UTC (naive, like the database)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgres":
        database = Database(request.getfixturevalue("scratch_postgres"))
        Base.metadata.drop_all(database.engine)
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    else:
        database = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


def _conversation(db: Database, crypto: Crypto, name: str, crisis: bool = False) -> str:
    with db.session() as s:
        s.add(Contact(id=name, channel="telegram", address_enc=crypto.encrypt(name)))
        conv = Conversation(
            contact_id=name,
            language="es",
            country="MX",
            crisis=crisis,
            choices=[],
            needs=["legal"],
            rasa_slots={},
        )
        s.add(conv)
        s.flush()
        return conv.id


def test_queue_order_accept_race_and_purge(db: Database) -> None:
    crypto = Crypto("k" * 40)
    handoffs = Handoffs(TeamHours("mon-sun 00:00-23:59", "UTC"), crypto, EventBus())
    ids = [_conversation(db, crypto, f"c{n}", crisis=(n == 2)) for n in range(3)]
    with db.session() as s:
        for n, conv_id in enumerate(ids):
            conv = s.get(Conversation, conv_id)
            assert conv is not None
            handoffs.draft(s, conv)
            handoffs.submit(s, conv, True, True, now=NOW + dt.timedelta(minutes=n))
    with db.session() as s:
        order = [r.conversation_id for r in handoffs.queue(s, ["es"])]
        assert order == [ids[2], ids[0], ids[1]]  # the crisis first, then the longest wait
        req = handoffs.queue(s, ["es"])[1]
        assert handoffs.position(s, req) == 2
        assert handoffs.accept(s, req, "staff-1", "Ana")
        assert not handoffs.accept(s, req, "staff-2", "Bea")  # someone was faster
        assert req.conversation.mode == Mode.STAFF
        s.add(HandoffMessage(handoff_id=req.id, direction="in", text_enc=crypto.encrypt("hola")))
        s.add(HandoffNote(handoff_id=req.id, staff_id="staff-1", text_enc=crypto.encrypt("nota")))
        handoffs.hold(s, req.conversation.contact_id, Reply("Ana joined", key="utter_staff_joined"))
        handoffs.release(s, req, close=True)
        closed_id, conv_id = req.id, req.conversation_id
    with db.session() as s:
        (held,) = s.scalars(select(HeldReply)).all()
        assert "Ana" not in held.text_enc
    later = utcnow() + dt.timedelta(hours=23)
    with db.session() as s:
        assert handoffs.purge(s, 24, now=later) == 0
        assert s.get(Conversation, conv_id) is not None
    with db.session() as s:
        assert handoffs.purge(s, 24, now=utcnow() + dt.timedelta(hours=25)) == 1
    with db.session() as s:
        assert s.scalars(select(HandoffNote)).all() == []
        assert s.scalars(select(HeldReply)).all() == []
        assert s.get(HandoffRequest, closed_id) is None
        assert s.get(Conversation, conv_id) is None  # the closed conversation itself
        assert len(handoffs.queue(s)) == 2  # the open ones are untouched
