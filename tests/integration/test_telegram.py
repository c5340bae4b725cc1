"""Telegram end to end: fixture updates through the real webhook, gateway and Rasa, into a fake
Bot API on 127.0.0.1; what the fake receives is what a person would see."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from conftest import make_settings
from fakes import fixture, free_port, running
from fakes.people import TelegramPerson, buttons, count, settle, wait_until
from fakes.telegram import FakeTelegram
from phrases import COUNTRY, EMERGENCY, LANGS, NUMBER, SAY
from sqlalchemy import select, update

from bot.channels import Channels
from bot.channels.outbox import ACTIVE
from bot.channels.telegram.channel import TelegramChannel
from bot.runtime import Runtime, build_runtime
from bot.store.channel_models import InboxMessage, OutboxMessage, PlatformMessage
from bot.store.crypto import Crypto
from bot.store.models import Contact, Conversation, SeenMessage
from bot.types import Reply, ReplyButton

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tg(stack: Runtime) -> FakeTelegram:
    port = urlsplit(stack.settings.telegram_api_url).port
    assert port is not None
    fake: FakeTelegram = running(FakeTelegram, port, token=stack.settings.telegram_token)
    return fake


def private_and_protected(messages: list[dict[str, object]]) -> bool:
    return all(
        m["protect_content"] is True and m["link_preview_options"] == {"is_disabled": True}
        for m in messages
    )


@pytest.mark.parametrize("lang", LANGS)
async def test_whole_conversation(stack: Runtime, tg: FakeTelegram, lang: str) -> None:
    """First contact, a need, a crisis, the exit word, DELETE: what the person sees."""
    person = TelegramPerson(stack, tg, lang)
    first = await person.say(SAY[lang]["hello"])
    assert len(first) == 3
    assert SAY[lang]["exit"] in first[0]["text"]  # the exit word, in the person's language
    offer, ask = buttons(first[1]), buttons(first[2])
    assert offer[0]["callback_data"] == f'/choose_language{{"language":"{lang}"}}'
    assert not offer[0]["text"].startswith("1.")  # typed numbers answer the question, not this
    assert [b["callback_data"] for b in ask] == ["/affirm", "/deny"]
    assert [b["text"][:3] for b in ask] == ["1. ", "2. "]

    tap = person.tap_update("/affirm", first[2]["message_id"])
    before = len(tg.sent(person.chat_id))
    assert (await person.post(tap)).status_code == 200
    await settle(stack, person.contact_id)
    menu = tg.sent(person.chat_id)[before:]
    query_id = tap["callback_query"]["id"]
    await wait_until(
        lambda: [
            c
            for c in tg.calls_to("answerCallbackQuery")
            if c.params == {"callback_query_id": query_id}
        ]
    )
    assert len(menu) == 1
    assert [b["text"].split(".")[0] for b in buttons(menu[0])] == ["1", "2", "3", "4", "5", "6"]

    asked = await person.say(SAY[lang]["legal"])
    assert buttons(asked[-1])[-1]["callback_data"] == "/skip"
    code = COUNTRY[lang]
    shown = await person.tap(f'/inform_country{{"country":"{code}"}}', asked[-1]["message_id"])
    assert len(shown) >= 3 and any(NUMBER.search(m["text"]) for m in shown[1:])

    crisis = await person.say(SAY[lang]["crisis"])
    assert EMERGENCY[code] in crisis[0]["text"]
    received = tg.sent(person.chat_id)
    assert private_and_protected(received)

    bye = await person.say(SAY[lang]["exit"])
    # every message of the chat, both sides, was deleted; then one innocuous line
    assert set(tg.deleted(person.chat_id)) == {
        *person.my_message_ids,
        *(m["message_id"] for m in received),
    }
    assert [m["text"] for m in bye] == ["OK"]
    assert count(stack.db, Conversation, contact_id=person.contact_id) == 0

    deleted_before = len(tg.deleted(person.chat_id))
    gone = await person.say(SAY[lang]["delete"])
    assert set(tg.deleted(person.chat_id)[deleted_before:]) == {
        bye[0]["message_id"],
        person.my_message_ids[-1],
    }
    assert len(gone) == 1 and "Telegram" in gone[0]["text"]
    assert count(stack.db, Contact, id=person.contact_id) == 0
    for model in (PlatformMessage, OutboxMessage, InboxMessage):
        assert count(stack.db, model, contact_id=person.contact_id) == 0


async def test_redelivered_update_is_answered_once(stack: Runtime, tg: FakeTelegram) -> None:
    person = TelegramPerson(stack, tg)
    update_ = person.message(SAY["es"]["crisis"])
    responses = await asyncio.gather(*(person.post(update_) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    await settle(stack, person.contact_id)
    first = tg.sent(person.chat_id)
    assert first and NUMBER.search(first[0]["text"])  # the crisis numbers, once
    assert (await person.post(update_)).status_code == 200  # again, much later
    await settle(stack, person.contact_id)
    assert tg.sent(person.chat_id) == first


async def test_secret_header_is_required(stack: Runtime, tg: FakeTelegram) -> None:
    person = TelegramPerson(stack, tg)
    seen = count(stack.db, SeenMessage)
    update_ = person.message("hello")
    assert (await person.post(update_, secret="")).status_code == 403
    assert (await person.post(update_, secret="wrong-secret")).status_code == 403
    assert count(stack.db, SeenMessage) == seen
    assert count(stack.db, Contact, id=person.contact_id) == 0


async def test_fixture_updates(stack: Runtime, tg: FakeTelegram) -> None:
    """The /start command answers; Telegram's 2015-era guide samples (no ``is_bot``) are
    acknowledged with 200 and stored nowhere."""
    person = TelegramPerson(stack, tg)
    seen = count(stack.db, SeenMessage)
    for name in (
        "telegram_update_message_start_official.json",
        "telegram_update_callback_query_official.json",
    ):
        assert (await person.post(fixture(name))).status_code == 200
    assert count(stack.db, SeenMessage) == seen

    start = fixture("telegram_update_command_start_ptb.json")
    start["update_id"] = person.message("x")["update_id"]
    start["message"]["chat"]["id"] = start["message"]["from"]["id"] = person.chat_id
    replies = await person.send(start)
    assert len(replies) == 3 and private_and_protected(replies)  # the whole first contact


def waiting(stack: Runtime, contact_id: str) -> int:
    """The contact's outbox rows that may still go out (pending or held)."""
    with stack.db.session() as s:
        return len(
            s.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.contact_id == contact_id, OutboxMessage.status.in_(ACTIVE)
                )
            ).all()
        )


async def test_blocked_by_the_person(stack: Runtime, tg: FakeTelegram) -> None:
    """``my_chat_member`` "kicked" marks the contact and drops what was waiting; a 403 on send
    does the same; writing again unblocks."""
    person = TelegramPerson(stack, tg)
    await person.say("hello")
    tg.fail("sendMessage", 500, chat_id=person.chat_id, times=None)
    await person.post(person.message("MENU"))
    await wait_until(lambda: tg.of(person.chat_id, "sendMessage", ok=False))
    # The block arrives once that turn is done (a reply queued after it would meet a 403 and
    # be dropped then, which the end of this test covers).
    await wait_until(lambda: count(stack.db, InboxMessage, contact_id=person.contact_id) == 0)
    blocked = fixture("telegram_update_my_chat_member_blocked_ptb.json")
    blocked["update_id"] = person.message("x")["update_id"]
    blocked["my_chat_member"]["chat"]["id"] = person.chat_id
    blocked["my_chat_member"]["from"]["id"] = person.chat_id
    assert (await person.post(blocked)).status_code == 200
    with stack.db.session() as s:
        assert s.get(Contact, person.contact_id).blocked  # type: ignore[union-attr]
    # Nothing waits any more. (A reply whose tries ran out before the block arrived, which
    # happens when the retries are quick, is a dead letter: not waiting, never sent.)
    assert waiting(stack, person.contact_id) == 0
    tg.clear_faults(person.chat_id)

    await stack.delivery.send(person.contact_id, [Reply("a note from the team")])
    assert waiting(stack, person.contact_id) == 0  # not queued

    await person.say("hello")  # they wrote again: not blocked any more
    with stack.db.session() as s:
        assert not s.get(Contact, person.contact_id).blocked  # type: ignore[union-attr]
    tg.fail("sendMessage", 403, chat_id=person.chat_id)
    sent = len(tg.sent(person.chat_id))
    await person.post(person.message("MENU"))
    await wait_until(lambda: count(stack.db, OutboxMessage, contact_id=person.contact_id) == 0)
    await settle(stack, person.contact_id)
    assert len(tg.sent(person.chat_id)) == sent
    with stack.db.session() as s:
        assert s.get(Contact, person.contact_id).blocked  # type: ignore[union-attr]


async def test_flood_control_waits_retry_after(stack: Runtime, tg: FakeTelegram) -> None:
    person = TelegramPerson(stack, tg)
    tg.fail("sendMessage", 429, chat_id=person.chat_id, retry_after=1)
    replies = await person.say("hello")
    attempts = tg.of(person.chat_id, "sendMessage", ok=False) + tg.of(person.chat_id)
    refused = [c for c in attempts if c.status == 429]
    assert len(refused) == 1 and len(replies) == 3  # nothing lost, nothing twice
    first_ok = min(c.at for c in attempts if c.ok)
    assert first_ok - refused[0].at >= 1.0  # waited what Telegram asked
    assert "EXIT" in replies[0]["text"]  # still in order: the introduction first


async def test_network_errors_are_retried(stack: Runtime, tg: FakeTelegram) -> None:
    person = TelegramPerson(stack, tg)
    tg.fail("sendMessage", 502, chat_id=person.chat_id, times=2)
    replies = await person.say("hello")
    assert len(replies) == 3
    assert len(tg.of(person.chat_id, "sendMessage", ok=False)) == 5  # 2 refused + 3 sent


async def test_exit_says_what_it_could_not_delete(stack: Runtime, tg: FakeTelegram) -> None:
    person = TelegramPerson(stack, tg, "es")
    first = await person.say("hola")
    old = first[0]["message_id"]
    with stack.db.session() as s:  # one message from three days ago: past Telegram's 48 hours
        s.execute(
            update(PlatformMessage)
            .where(PlatformMessage.message_id == str(old))
            .values(at=dt.datetime(2020, 1, 1))
        )
    bye = await person.say("SALIR")
    assert old not in tg.deleted(person.chat_id)
    assert first[1]["message_id"] in tg.deleted(person.chat_id)
    note = stack.catalog.text("exit_not_deleted_line", "es")
    assert note.startswith("Algunos mensajes")
    assert [m["text"] for m in bye] == [f"OK\n{note}"]


async def test_polling_mode(tmp_path: Path) -> None:
    """``bot run --telegram-polling``: updates come from getUpdates, replies go out the same
    (with no Rasa and no wait for it, a first message is answered with the introduction; a
    message waiting for Rasa is tests/integration/test_rasa_wait.py's)."""
    port = free_port()
    fake = running(FakeTelegram, port, token="654321:POLLING-test")
    settings = make_settings(
        tmp_path,
        telegram_polling=True,
        telegram_token="654321:POLLING-test",
        telegram_api_url=f"http://127.0.0.1:{port}",
        whatsapp_access_token="",
        rasa_timeout=2.0,
        rasa_wait_seconds=0.0,
    )
    runtime = build_runtime(settings)
    channels = Channels(runtime)
    await channels.start()
    try:
        person = TelegramPerson(runtime, fake)
        fake.queue_update(person.message("hello"))
        await wait_until(lambda: len(fake.sent(person.chat_id)) == 3)
        assert fake.calls_to("deleteWebhook")  # polling and a webhook exclude each other
        await settle(runtime, person.contact_id)
    finally:
        await channels.stop()
        await runtime.aclose()


def test_buttons_and_numbers(tmp_path: Path) -> None:
    """Only the question a typed number answers is numbered; a payload over Telegram's 64 bytes
    travels as its number; long texts are split under 4096 characters."""
    settings = make_settings(tmp_path)
    runtime = SimpleNamespace(settings=settings, crypto=Crypto(settings.secret_key))
    channel = TelegramChannel(runtime, None, None)  # type: ignore[arg-type]
    languages = Reply("Language", [ReplyButton("English", '/choose_language{"language":"en"}')])
    question = Reply(
        "Which?",
        [ReplyButton("Yes", "/affirm"), ReplyButton("Long", "/inform_country" + "{}" * 40)],
    )
    rows = channel.plan(
        [Reply("x" * 5000), languages, question], address="42", language="en", erase=False
    )
    assert [len(r["text"]) <= 4096 for r in rows] == [True] * 4
    assert rows[0]["buttons"] == [] and rows[1]["buttons"] == []
    assert rows[2]["buttons"] == [{"title": "English", "data": '/choose_language{"language":"en"}'}]
    assert rows[3]["buttons"] == [
        {"title": "1. Yes", "data": "/affirm"},
        {"title": "2. Long", "data": "2"},
    ]
    erase = channel.plan([Reply("OK")], address="42", language="en", erase=True)
    assert erase == [{"kind": "erase", "chat_id": "42", "text": "OK", "language": "en"}]


def test_set_webhook_command(tmp_path: Path) -> None:
    port = free_port()
    fake = running(FakeTelegram, port, token="777:CLI-test")
    env = dict(
        os.environ,
        BOT_DATA_DIR=str(tmp_path),
        BOT_SECRET_KEY="cli-test-key",
        BOT_TELEGRAM_TOKEN="777:CLI-test",
        BOT_TELEGRAM_SECRET="cli-secret",
        BOT_TELEGRAM_API_URL=f"http://127.0.0.1:{port}",
    )
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "telegram", "set-webhook", "https://example.org/w"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    (call,) = fake.calls_to("setWebhook")
    assert call.params["url"] == "https://example.org/w"
    assert call.params["secret_token"] == "cli-secret"
    assert call.params["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
    assert "777:CLI-test" not in run.stdout + run.stderr


async def test_a_crisis_is_answered_while_every_turn_slot_waits_for_rasa(
    stack: Runtime, tg: FakeTelegram
) -> None:
    """Under load, ordinary turns wait for Rasa and fill every turn slot; a crisis from someone
    else is still answered at once (it takes no slot), and the others are answered after."""
    busy = [
        TelegramPerson(stack, tg, "es") for _ in range(stack.settings.inbox_concurrent_turns + 4)
    ]
    for person in busy:
        await person.say("hola")
    crisis = TelegramPerson(stack, tg, "es")
    before = {p.chat_id: len(tg.sent(p.chat_id)) for p in busy}
    stack.rasa.hold()
    try:
        for person in busy:
            assert (await person.post(person.message("necesito un abogado"))).status_code == 200
        await wait_until(lambda: count(stack.db, InboxMessage) >= len(busy))
        assert (await crisis.post(crisis.message("me van a matar, ayúdenme"))).status_code == 200
        await wait_until(lambda: tg.sent(crisis.chat_id), timeout=10)
        assert any(NUMBER.search(m["text"]) for m in tg.sent(crisis.chat_id))  # the numbers
        assert all(len(tg.sent(p.chat_id)) == before[p.chat_id] for p in busy)  # still waiting
    finally:
        stack.rasa.release()
    await wait_until(lambda: all(len(tg.sent(p.chat_id)) > before[p.chat_id] for p in busy), 60)
