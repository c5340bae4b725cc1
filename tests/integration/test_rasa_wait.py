"""Rasa away is our fault, not the person's: ordinary messages wait in the inbox (durably) and are
answered once Rasa is back, never with an apology; crisis, exit, delete, language and "person"
go straight through, and a new conversation's introduction does not wait either (A7). A Rasa
that dies is restarted by its supervisor, and the conversation's slots are sent again to the
new one.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import make_settings
from fakes import running
from fakes.people import TelegramPerson, count, wait_until
from fakes.rasa import FakeRasa
from fakes.telegram import FakeTelegram
from kit import Turns
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import database_ok
from bot.channels.inbox import RASA_RETRY_SECONDS
from bot.conversation.dialogue import RASA_INSTANCE
from bot.directory.service import Directory
from bot.net import free_port
from bot.nlg.render import RenderContext
from bot.rasa.process import RasaProcess
from bot.runtime import Runtime
from bot.server import Stack
from bot.store.channel_models import InboxMessage, OutboxMessage
from bot.store.db import Database
from bot.store.models import Contact, Conversation
from bot.types import Inbound, TurnResult

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def tg(stack: Runtime) -> FakeTelegram:
    port = urlsplit(stack.settings.telegram_api_url).port
    assert port is not None
    fake: FakeTelegram = running(FakeTelegram, port, token=stack.settings.telegram_token)
    return fake


def waiting_rows(runtime: Runtime, contact_id: str) -> list[tuple[int, bool]]:
    """(attempts, waits) of the person's inbox rows: ``waits`` once a turn found Rasa away."""
    with runtime.db.session() as s:
        rows = s.scalars(
            select(InboxMessage)
            .where(InboxMessage.contact_id == contact_id)
            .order_by(InboxMessage.id)
        )
        return [(r.attempts, r.not_before is not None) for r in rows]


def settled(runtime: Runtime, contact_id: str) -> bool:
    return (
        count(runtime.db, InboxMessage, contact_id=contact_id)
        + count(runtime.db, OutboxMessage, contact_id=contact_id)
        == 0
    )


async def test_ordinary_messages_wait_for_rasa_and_crisis_does_not(
    stack: Runtime, tg: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    person = TelegramPerson(stack, tg, "es")
    with Turns(stack) as turns:
        fake_rasa.fail("down")
        for text in ("hola", "necesito un abogado"):
            assert (await person.post(person.message(text))).status_code == 200
        # The first turn found Rasa away: both rows stay, neither counted as a failure.
        await wait_until(lambda: waiting_rows(stack, person.contact_id)[:1] == [(0, True)])
        assert len(waiting_rows(stack, person.contact_id)) == 2
        # A crisis written after them is answered now, ahead of them, with the numbers.
        assert (await person.post(person.message("me tienen encerrada"))).status_code == 200
        await wait_until(
            lambda: len(waiting_rows(stack, person.contact_id)) == 2 and tg.sent(person.chat_id)
        )
        user = str(person.chat_id)
        assert turns.keys[user][0][0] == "utter_crisis_unknown_country"
        sent_while_down = len(tg.sent(person.chat_id))
        fake_rasa.recover()
        await wait_until(lambda: settled(stack, person.contact_id))
    answered = turns.keys[user]
    assert len(answered) == 3  # each message answered once
    assert not any("utter_service_unavailable" in keys for keys in answered)
    assert all(answered)  # every turn said something
    assert len(tg.sent(person.chat_id)) > sent_while_down
    # The first message's introduction went out at once, alone, and never again.
    assert turns.introductions[user] == [["utter_first_contact"]]
    assert turns.said[user][0] == "utter_first_contact"
    assert turns.said[user].count("utter_first_contact") == 1


async def test_exit_while_waiting_drops_the_earlier_messages(
    stack: Runtime, tg: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    person = TelegramPerson(stack, tg, "es")
    with Turns(stack) as turns:
        fake_rasa.fail("down")
        assert (await person.post(person.message("necesito un abogado"))).status_code == 200
        await wait_until(lambda: waiting_rows(stack, person.contact_id) == [(0, True)])
        assert (await person.post(person.message("SALIR"))).status_code == 200
        await wait_until(lambda: settled(stack, person.contact_id))
        fake_rasa.recover()
    # Only the exit was answered: the message before it will never be, in the cleared chat.
    assert turns.keys[str(person.chat_id)] == [["exit_reply"]]


async def test_after_waiting_too_long_the_apology_not_silence(
    stack: Runtime, tg: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    person = TelegramPerson(stack, tg, "es")
    limit = stack.settings.rasa_wait_seconds
    with Turns(stack) as turns:
        fake_rasa.fail("down")
        stack.settings.rasa_wait_seconds = RASA_RETRY_SECONDS / 2
        try:
            assert (await person.post(person.message("hola"))).status_code == 200
            await wait_until(lambda: settled(stack, person.contact_id))
        finally:
            stack.settings.rasa_wait_seconds = limit
            fake_rasa.recover()
    # A first message: the introduction with the numbers (dialogue.unavailable), once: sent
    # at once on its own while the message waited, the rest of the Rasa-less first contact after.
    assert turns.said[str(person.chat_id)] == [
        "utter_first_contact",
        "utter_language_offer",
        "utter_ask_safe_to_chat",
    ]


# --- a new conversation's introduction never waits for Rasa (A7) ---


def texts(tg: FakeTelegram, person: TelegramPerson) -> list[str]:
    return [str(m["text"]) for m in tg.sent(person.chat_id)]


def introduction(runtime: Runtime, language: str) -> str:
    with runtime.db.session() as s:
        ctx = RenderContext(language=language, channel="telegram")
        return runtime.renderer.render("utter_first_contact", ctx, Directory(s)).text


def conversations(runtime: Runtime, contact_id: str) -> list[Conversation]:
    with runtime.db.session() as s:
        return list(s.scalars(select(Conversation).where(Conversation.contact_id == contact_id)))


def not_before(runtime: Runtime, contact_id: str) -> Any:
    with runtime.db.session() as s:
        return s.scalar(
            select(InboxMessage.not_before).where(InboxMessage.contact_id == contact_id)
        )


async def test_a_first_message_gets_the_introduction_at_once_and_its_answer_after_rasa(
    stack: Runtime, tg: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    person = TelegramPerson(stack, tg, "es")
    user = str(person.chat_id)
    with Turns(stack) as turns:
        fake_rasa.fail("down")
        try:
            assert (await person.post(person.message("necesito un abogado"))).status_code == 200
            # The introduction reaches the person while the message itself still waits.
            await wait_until(lambda: len(tg.sent(person.chat_id)) == 1)
            assert waiting_rows(stack, person.contact_id) == [(0, True)]
            assert texts(tg, person) == [introduction(stack, "es")]
            assert turns.introductions[user] == [["utter_first_contact"]]
            assert user not in turns.keys  # no turn has answered the message yet
            (conv,) = conversations(stack, person.contact_id)
            assert conv.language == "es" and RASA_INSTANCE not in conv.rasa_slots
            # Tried again while Rasa is still away: no second introduction.
            first_try = not_before(stack, person.contact_id)
            await wait_until(lambda: not_before(stack, person.contact_id) != first_try)
            assert waiting_rows(stack, person.contact_id) == [(0, True)]
            assert len(tg.sent(person.chat_id)) == 1
            assert turns.introductions[user] == [["utter_first_contact"]]
        finally:
            fake_rasa.recover()
        await wait_until(lambda: settled(stack, person.contact_id))
    # Its own answer once Rasa is back, in the same conversation, as a first message: the
    # language offer and "is it safe to chat?", the request kept for after the yes.
    assert turns.keys[user] == [["utter_language_offer", "utter_ask_safe_to_chat"]]
    assert turns.said[user] == [
        "utter_first_contact",
        "utter_language_offer",
        "utter_ask_safe_to_chat",
    ]
    sent = texts(tg, person)
    assert len(sent) == 3 and sent[0] == introduction(stack, "es")
    assert sent.count(sent[0]) == 1
    (after,) = conversations(stack, person.contact_id)
    assert after.id == conv.id and after.pending_intent == "need_legal"
    assert after.rasa_slots[RASA_INSTANCE] == stack.rasa.instance
    # Rasa's tracker started with the greeting, so the yes now answers the request.
    with Turns(stack) as turns:
        assert (await person.post(person.message("sí"))).status_code == 200
        await wait_until(lambda: settled(stack, person.contact_id))
    assert turns.keys[user] and "utter_first_contact" not in turns.keys[user][0]
    assert user not in turns.introductions


async def test_a_crisis_first_message_while_rasa_is_away_is_unchanged(
    stack: Runtime, tg: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    person = TelegramPerson(stack, tg, "es")
    user = str(person.chat_id)
    with Turns(stack) as turns:
        fake_rasa.fail("down")
        try:
            assert (await person.post(person.message("me tienen encerrada"))).status_code == 200
            await wait_until(lambda: settled(stack, person.contact_id))
        finally:
            fake_rasa.recover()
    # The numbers first, then the short introduction, in one turn (A1, A7): as with Rasa up.
    assert turns.keys[user] == [
        ["utter_crisis_unknown_country", "utter_first_contact_crisis_pick_country"]
    ]
    assert user not in turns.introductions
    assert len(tg.sent(person.chat_id)) == 2


async def test_the_introduction_is_kept_exactly_once(
    stack: Runtime, tg: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    """What the inbox keeps with the introduction is one transaction with it: if keeping fails,
    no conversation was started (the retry introduces); once kept, never again."""
    conversation_layer = stack.conversations
    msg = Inbound("telegram", "intro-once", None, text="necesito un abogado", language_hint="es")
    contact_id = stack.crypto.pseudonym("telegram", "intro-once")
    kept: list[tuple[str, list[str]]] = []

    def failing(s: Session, conversation_id: str, result: TurnResult) -> None:
        raise RuntimeError("the process stopped here")

    def keep(s: Session, conversation_id: str, result: TurnResult) -> None:
        kept.append((conversation_id, [r.key for r in result.replies]))

    with pytest.raises(RuntimeError):
        await conversation_layer.introduce(msg, failing)
    assert conversations(stack, contact_id) == []
    with stack.db.session() as s:
        assert s.get(Contact, contact_id) is None
    assert await conversation_layer.introduce(msg, keep) is True
    assert await conversation_layer.introduce(msg, keep) is False  # it is open now
    (conv,) = conversations(stack, contact_id)
    assert kept == [(conv.id, ["utter_first_contact"])]
    # Answered later as the first message of that conversation, without the introduction.
    result = await conversation_layer.handle(msg, introduced=conv.id)
    assert [r.key for r in result.replies] == ["utter_language_offer", "utter_ask_safe_to_chat"]
    assert [c.id for c in conversations(stack, contact_id)] == [conv.id]


# --- a dead Rasa is restarted ---


FAKE_RASA_MAIN = """
import os, sys, time
sys.path.insert(0, {tests!r})
from fakes.rasa import FakeRasa
FakeRasa(
    token=os.environ["BOT_RASA_TOKEN"],
    callback_url=os.environ["BOT_CALLBACK_URL"],
    callback_token=os.environ["BOT_CALLBACK_TOKEN"],
).serve({port})
while True:
    time.sleep(60)
"""


class FakeRasaProcess(RasaProcess):
    """The fake Rasa in a process of its own, started and supervised like the real one."""

    def command(self) -> list[str]:
        main = FAKE_RASA_MAIN.format(tests=str(TESTS), port=self.settings.rasa_port)
        return [sys.executable, "-c", main]


@pytest.fixture
async def supervised() -> AsyncIterator[tuple[Stack, Runtime, FakeTelegram]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), rasa_restart_max_seconds=2.0)
        stack = Stack(settings, start_rasa=False, quiet=True)
        async with stack as runtime:
            port = urlsplit(settings.telegram_api_url).port
            assert port is not None
            fake_tg: FakeTelegram = running(FakeTelegram, port, token=settings.telegram_token)
            process = FakeRasaProcess(
                settings, Path(tmp) / "no-model", runtime.rasa_token, runtime.callback_token
            )
            process.start()
            runtime.rasa.instance = process.instance
            runtime.rasa_process = process
            await process.wait_ready(runtime.rasa, 60)
            stack.supervise(runtime)
            yield stack, runtime, fake_tg


async def tracker_slots(runtime: Runtime, sender: str) -> dict[str, Any]:
    url = f"{runtime.settings.rasa_endpoint}/conversations/{sender}/tracker"
    async with httpx.AsyncClient() as client:
        events = (await client.get(url, params={"token": runtime.rasa_token})).json()["events"]
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def test_a_killed_rasa_is_restarted_and_gets_the_slots_again(
    supervised: tuple[Stack, Runtime, FakeTelegram],
) -> None:
    stack, runtime, fake_tg = supervised
    assert stack.supervisor is not None
    person = TelegramPerson(runtime, fake_tg, "es")
    with Turns(runtime) as turns:
        await person.say("hola")
        with runtime.db.session() as s:
            conv = s.scalar(
                select(Conversation).where(Conversation.contact_id == person.contact_id)
            )
            assert conv is not None
            sender, first = conv.rasa_sender, conv.rasa_slots[RASA_INSTANCE]
        assert (await tracker_slots(runtime, sender)).get("language") == "es"

        dead = runtime.rasa_process
        assert dead is not None and dead.proc is not None
        os.killpg(dead.proc.pid, signal.SIGKILL)
        assert (await person.post(person.message("necesito un abogado"))).status_code == 200
        await wait_until(lambda: settled(runtime, person.contact_id))

    assert stack.supervisor.restarts == 1
    assert dead.exit_code() == -signal.SIGKILL  # reaped: no zombie left behind
    fresh = runtime.rasa_process
    assert fresh is not None and fresh is not dead and fresh.instance == runtime.rasa.instance
    answered = turns.keys[str(person.chat_id)]
    assert len(answered) == 2 and "utter_service_unavailable" not in answered[1]
    with runtime.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.contact_id == person.contact_id))
        assert conv is not None and conv.rasa_slots[RASA_INSTANCE] == fresh.instance != first
    # The new Rasa knows the language although the conversation did not change it.
    assert (await tracker_slots(runtime, sender)).get("language") == "es"


async def test_health_tells_liveness_readiness_and_a_degraded_rasa(
    stack: Runtime, fake_rasa: FakeRasa
) -> None:
    base = f"http://127.0.0.1:{stack.settings.port}"
    async with httpx.AsyncClient() as client:
        ok = await client.get(f"{base}/healthz")
        assert (ok.status_code, ok.json()) == (
            200,
            {"status": "ok", "database": "ok", "rasa": "ready"},
        )
        fake_rasa.fail("down")
        degraded = await client.get(f"{base}/healthz")
        assert (degraded.status_code, degraded.json()) == (
            200,
            {"status": "degraded", "database": "ok", "rasa": "not ready"},
        )
        live = await client.get(f"{base}/healthz/live")
        assert (live.status_code, live.json()) == (200, {"status": "alive"})


async def test_health_reports_a_database_that_does_not_answer() -> None:
    nowhere = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    try:
        assert await database_ok(SimpleNamespace(db=nowhere)) is False  # type: ignore[arg-type]
    finally:
        nowhere.dispose()
