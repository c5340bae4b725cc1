"""Storage on SQLite and PostgreSQL: migrations, pseudonyms, encryption, erasure, purge."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.directory.seed import load_directory, merge_reference
from bot.directory.service import Directory
from bot.events import EventBus
from bot.handoff.hours import TeamHours
from bot.handoff.service import Handoffs
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import (
    Contact,
    Conversation,
    HandoffMessage,
    HandoffRequest,
    Service,
    utcnow,
)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgres":
        url = request.getfixturevalue("scratch_postgres")
        database = Database(url)
        from bot.store.models import Base

        Base.metadata.drop_all(database.engine)
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    else:
        database = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


def test_migrations_are_idempotent(db: Database) -> None:
    db.migrate()
    with db.session() as s:
        assert s.scalars(select(Contact)).all() == []


def test_contact_is_pseudonymous_and_address_encrypted(db: Database) -> None:
    crypto = Crypto("k" * 40)
    cid = crypto.pseudonym("whatsapp", "+5215512345678")
    with db.session() as s:
        s.add(Contact(id=cid, channel="whatsapp", address_enc=crypto.encrypt("+5215512345678")))
    with db.session() as s:
        contact = s.get(Contact, cid)
        assert contact is not None
        assert "5512345678" not in contact.id + contact.address_enc
        assert crypto.decrypt(contact.address_enc) == "+5215512345678"
    assert Crypto("other key" * 5).decrypt(contact.address_enc) is None
    assert crypto.pseudonym("telegram", "+5215512345678") != cid


def test_erasing_a_contact_cascades(db: Database) -> None:
    crypto = Crypto("k" * 40)
    with db.session() as s:
        s.add(Contact(id="c1", channel="telegram", address_enc=crypto.encrypt("42")))
        conv = Conversation(contact_id="c1", choices=[], needs=[], rasa_slots={})
        s.add(conv)
        s.flush()
        req = HandoffRequest(conversation_id=conv.id, language="es")
        s.add(req)
        s.flush()
        s.add(HandoffMessage(handoff_id=req.id, direction="in", text_enc=crypto.encrypt("x")))
    with db.session() as s:
        s.delete(s.get(Contact, "c1"))
    with db.session() as s:
        for model in (Conversation, HandoffRequest, HandoffMessage):
            assert s.scalars(select(model)).all() == []


def test_purge_deletes_transcripts_after_their_ttl(db: Database) -> None:
    crypto = Crypto("k" * 40)
    handoffs = Handoffs(TeamHours("mon-fri 09:00-17:00", "UTC"), crypto, EventBus())
    closed_at = utcnow()
    with db.session() as s:
        s.add(Contact(id="c2", channel="telegram", address_enc=crypto.encrypt("7")))
        conv = Conversation(contact_id="c2", choices=[], needs=[], rasa_slots={})
        s.add(conv)
        s.flush()
        req = HandoffRequest(
            conversation_id=conv.id, language="en", status="closed", closed_at=closed_at
        )
        s.add(req)
        s.flush()
        s.add(HandoffMessage(handoff_id=req.id, direction="in", text_enc=crypto.encrypt("hi")))
    with db.session() as s:  # 23 hours later: kept
        assert handoffs.purge(s, 24, now=closed_at + dt.timedelta(hours=23)) == 0
    with db.session() as s:  # 25 hours later: gone
        assert handoffs.purge(s, 24, now=closed_at + dt.timedelta(hours=25)) == 1
    with db.session() as s:
        assert s.scalars(select(HandoffMessage)).all() == []


def test_sample_directory_loads_and_answers(db: Database) -> None:
    settings = Settings()
    with db.session() as s:
        n = load_directory(s, settings.sample_directory)
        merge_reference(s, settings.countries_file)
        assert n >= 10
    with db.session() as s:
        d = Directory(s)
        assert len(d.known_countries()) >= 10
        assert d.emergency("MX") is not None
        assert d.find("legal", ["MX"])
        for svc in s.scalars(select(Service)):
            assert svc.source and svc.last_verified is not None
            assert svc.public_address is False or svc.address


def test_a_directory_change_reaches_the_next_answer(db: Database) -> None:
    with db.session() as s:
        load_directory(s, Settings().sample_directory)
        merge_reference(s, Settings().countries_file)
    with db.session() as s:
        for svc in s.scalars(select(Service).where(Service.country == "MX")):
            svc.status = "retired"
    with db.session() as s:
        assert Directory(s).hotlines("MX") == []
