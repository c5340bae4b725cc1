"""WhatsApp end to end: signed fixture webhooks through the real endpoint, gateway and Rasa, into
a fake Graph API on 127.0.0.1; what the fake receives is what a person would see."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import make_settings
from fakes import FIXTURES, fixture, running
from fakes.graph import FakeGraph
from fakes.people import WhatsAppPerson, body_text, count, options, settle, wait_until
from phrases import COUNTRY, EMERGENCY, LANGS, NUMBER, SAY
from sqlalchemy import select

import bot.channels.inbox as inbox_module
from bot.channels.whatsapp import WhatsAppChannel, parse
from bot.directory.service import Directory
from bot.handoff.live import NotAllowed
from bot.nlg.lint import MAX_LENGTH, revealing
from bot.nlg.render import RenderContext
from bot.runtime import Runtime
from bot.store.channel_models import ChannelWindow, InboxMessage, OutboxMessage
from bot.store.console_models import HandoffState
from bot.store.crypto import Crypto
from bot.store.models import (
    Contact,
    Conversation,
    HandoffRequest,
    SeenMessage,
    StaffPresence,
    utcnow,
)
from bot.types import Reply, ReplyButton


@pytest.fixture
def wa(stack: Runtime) -> FakeGraph:
    port = urlsplit(stack.settings.whatsapp_api_url).port
    assert port is not None
    fake: FakeGraph = running(
        FakeGraph,
        port,
        token=stack.settings.whatsapp_access_token,
        phone_number_id=stack.settings.whatsapp_phone_number_id,
    )
    return fake


def dead(runtime: Runtime, contact_id: str) -> int:
    return count(runtime.db, OutboxMessage, contact_id=contact_id, status="dead")


@pytest.mark.parametrize("lang", LANGS)
async def test_whole_conversation(stack: Runtime, wa: FakeGraph, lang: str) -> None:
    """First contact, a need, a crisis, the exit word, DELETE: what the person sees."""
    person = WhatsAppPerson(stack, wa)
    first = await person.say(SAY[lang]["hello"])
    # three replies in two messages: the introduction with the language list, then the question
    assert len(first) == 2
    assert SAY[lang]["exit"] in body_text(first[0])
    assert first[0]["interactive"]["type"] == "list"
    assert options(first[0])[0][0] == f'/choose_language{{"language":"{lang}"}}'
    assert first[1]["interactive"]["type"] == "button"
    assert [i for i, _ in options(first[1])] == ["/affirm", "/deny"]
    assert [t[:3] for _, t in options(first[1])] == ["1. ", "2. "]
    assert all(m["to"] == person.phone for m in first)
    await wait_until(lambda: person.wamids[-1] in wa.reads())  # marked as read

    menu = await person.tap("/affirm")
    assert len(menu) == 1 and menu[0]["interactive"]["type"] == "list"
    assert [t.split(".")[0] for _, t in options(menu[0])] == ["1", "2", "3", "4", "5", "6"]

    asked = await person.say(SAY[lang]["legal"])
    assert options(asked[-1])[-1][0] == "/skip"
    code = COUNTRY[lang]
    shown = await person.pick(f'/inform_country{{"country":"{code}"}}')
    assert 1 <= len(shown) <= 3  # the services and the offer of a person, merged
    assert NUMBER.search(" ".join(body_text(m) for m in shown))
    assert options(shown[-1])  # the offer of a person is a question

    crisis = await person.say(SAY[lang]["crisis"])
    assert EMERGENCY[code] in body_text(crisis[0])

    bye = await person.say(SAY[lang]["exit"])
    assert len(bye) == 1 and bye[0]["type"] == "text"  # says it cannot delete on the phone
    assert count(stack.db, Conversation, contact_id=person.contact_id) == 0

    gone = await person.say(SAY[lang]["delete"])
    assert len(gone) == 1 and "WhatsApp" in body_text(gone[0])
    assert count(stack.db, Contact, id=person.contact_id) == 0
    for model in (ChannelWindow, OutboxMessage, InboxMessage):
        assert count(stack.db, model, contact_id=person.contact_id) == 0
    with stack.db.engine.connect() as conn:  # the phone number is nowhere in the database
        for table in stack.db.engine.dialect.get_table_names(conn):
            for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"'):
                assert person.phone is not None
                assert person.phone not in " ".join(str(v) for v in row), table


async def test_signed_fixture_exact_bytes(stack: Runtime, wa: FakeGraph) -> None:
    """A real Meta delivery, byte for byte, with its signature: accepted and answered; one byte
    more, or the same JSON re-serialised, is refused with 401."""
    body = (FIXTURES / "whatsapp_signed_inbound_text.body.json").read_bytes()
    signature = fixture("whatsapp_signed_inbound_text.signature.json")["x_hub_signature_256"]
    person = WhatsAppPerson(stack, wa)
    reserialised = json.dumps(json.loads(body)).encode()
    assert (await person.post_bytes(body + b" ", signature)).status_code == 401
    assert (await person.post_bytes(reserialised, signature)).status_code == 401
    assert (await person.post_bytes(body, "")).status_code == 401
    assert (await person.post_bytes(body, signature)).status_code == 200
    contact_id = stack.crypto.pseudonym("whatsapp", "972544401243")
    await settle(stack, contact_id)
    # Signed, but from 2024: Meta retries for a week at most, so this can only be a replay of a
    # captured delivery. It is taken (200, so Meta does not retry) and nothing else happens.
    assert count(stack.db, InboxMessage, contact_id=contact_id) == 0
    assert count(stack.db, OutboxMessage, contact_id=contact_id) == 0
    assert wa.sent("972544401243") == []


async def test_verification_handshake(stack: Runtime, wa: FakeGraph) -> None:
    query = fixture("whatsapp_webhook_verification_request_meta_docs.json")["query"]
    url = f"http://127.0.0.1:{stack.settings.port}/webhooks/whatsapp"
    async with httpx.AsyncClient() as client:
        ok = await client.get(url, params=query)
        wrong = await client.get(url, params={**query, "hub.verify_token": "guess"})
        odd = await client.get(url, params={**query, "hub.challenge": "<script>"})
    assert ok.status_code == 200 and ok.text == query["hub.challenge"]
    assert wrong.status_code == 403 and odd.status_code == 403


async def test_every_fixture_shape(stack: Runtime, wa: FakeGraph) -> None:
    """Template quick replies and list replies are understood; statuses are acknowledged and
    stored nowhere; the payload a tap carries goes to the gateway as a button payload."""
    person = WhatsAppPerson(stack, wa)
    await person.say("hola")
    quick = person.envelope(
        "whatsapp_inbound_template_quick_reply_button_pywa.json",
        button={"payload": "/affirm", "text": "Sí"},
    )
    menu = await person.send(quick)
    assert len(options(menu[0])) == 6
    seen = count(stack.db, SeenMessage)
    for name in (
        "whatsapp_status_sent_pywa.json",
        "whatsapp_status_delivered_pywa.json",
        "whatsapp_status_read_pywa.json",
    ):
        status = fixture(name)
        status["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = (
            stack.settings.whatsapp_phone_number_id
        )
        response = await person.post_bytes(json.dumps(status).encode())
        assert response.status_code == 200
    assert count(stack.db, SeenMessage) == seen
    unknown = await person.tap("callback_data")  # the fixture's own payload: not ours
    assert len(unknown) == 1 and options(unknown[0])  # "not understood" and the options


async def test_username_without_phone_number(stack: Runtime, wa: FakeGraph) -> None:
    """Keyed on the business-scoped user id; replies go to it (``recipient``)."""
    person = WhatsAppPerson(stack, wa, phone=False)
    replies = await person.say("hello")
    assert len(replies) == 2 and all(m["recipient"] == person.user_id for m in replies)
    old = WhatsAppPerson(stack, wa, bsuid=False)  # before usernames: wa_id only
    assert len(await old.say("hello")) == 2


async def test_duplicates_answered_once(stack: Runtime, wa: FakeGraph) -> None:
    person = WhatsAppPerson(stack, wa)
    data = person.text("me quieren matar")
    body = json.dumps(data).encode()
    for _ in range(3):
        assert (await person.post_bytes(body)).status_code == 200
    # the same message re-batched in another delivery, with a status next to it
    value = data["entry"][0]["changes"][0]["value"]
    value["statuses"] = fixture("whatsapp_status_read_pywa.json")["entry"][0]["changes"][0][
        "value"
    ]["statuses"]
    assert (await person.post_bytes(json.dumps(data).encode())).status_code == 200
    await settle(stack, person.contact_id)
    sent = wa.sent(person.address)
    assert sent and "911" in body_text(sent[0])
    assert count(stack.db, InboxMessage, contact_id=person.contact_id) == 0
    again = await person.say("hola")
    assert len(sent) == len(wa.sent(person.address)) - len(again)


async def test_outside_the_24_hour_window(stack: Runtime, wa: FakeGraph) -> None:
    """A message outside the window is never sent free-form: dead-lettered without opt-in;
    with opt-in an approved template goes out and the message waits for the person's reply."""
    person = WhatsAppPerson(stack, wa)
    await person.say("hola")

    def age_window(opted_in: bool) -> None:
        with stack.db.session() as s:
            window = s.get(ChannelWindow, person.contact_id)
            assert window is not None
            window.last_inbound_at = utcnow() - dt.timedelta(hours=25)
            window.opted_in_until = utcnow() + dt.timedelta(days=7) if opted_in else None

    age_window(opted_in=False)
    before = len(wa.of(person.address, ok=False))
    await stack.delivery.send(person.contact_id, [Reply("Una persona del equipo responde.")])
    await wait_until(
        lambda: count(stack.db, OutboxMessage, contact_id=person.contact_id, status="dead")
    )
    assert len(wa.of(person.address, ok=False)) == before  # nothing was even tried

    age_window(opted_in=True)
    stack.settings.whatsapp_template = "neutral_hello"
    try:
        await stack.delivery.send(person.contact_id, [Reply("Otra línea del equipo.")])
        await wait_until(
            lambda: count(stack.db, OutboxMessage, contact_id=person.contact_id, status="held")
        )
        template = wa.sent(person.address)[-1]
        assert template["type"] == "template" and template["template"]["name"] == "neutral_hello"
        replies = await person.say("hola de nuevo")
        assert body_text(replies[0]) == "Otra línea del equipo."  # the held message first
        assert count(stack.db, OutboxMessage, contact_id=person.contact_id, status="held") == 0
    finally:
        stack.settings.whatsapp_template = ""


async def test_error_131047_is_not_retried_blindly(stack: Runtime, wa: FakeGraph) -> None:
    person = WhatsAppPerson(stack, wa)
    wa.fail(400, 131047, recipient=person.phone)
    await person.post_bytes(json.dumps(person.text("hola")).encode())
    await wait_until(
        lambda: count(stack.db, OutboxMessage, contact_id=person.contact_id, status="dead")
    )
    attempts = [c for c in wa.of(person.address, ok=False) if c.status == 400]
    assert len(attempts) == 1


async def test_server_errors_and_rate_limits_are_retried(stack: Runtime, wa: FakeGraph) -> None:
    person = WhatsAppPerson(stack, wa)
    wa.fail(500, 1, recipient=person.phone)
    wa.fail(429, 130429, recipient=person.phone)
    replies = await person.say("hola")
    assert len(replies) == 2  # nothing lost, nothing twice
    assert len(wa.of(person.address, ok=False)) == 4


def test_parse_and_plan_limits(tmp_path: Path) -> None:
    """Every fixture shape parses, keyed on user_id then wa_id; replies respect Meta's limits."""
    number = "1122334455667"
    keys = {}
    for name in (
        "whatsapp_inbound_text_pywa.json",
        "whatsapp_inbound_interactive_button_reply_pywa.json",
        "whatsapp_inbound_interactive_list_reply_pywa.json",
        "whatsapp_inbound_template_quick_reply_button_pywa.json",
    ):
        (intake,), _ = parse(fixture(name), number)
        keys[name] = intake.inbound
        assert intake.inbound.user_id == "US.13491208655302741918"
        assert intake.address == "972987654321"
    assert keys["whatsapp_inbound_text_pywa.json"].text == "Body Text"
    assert keys["whatsapp_inbound_interactive_list_reply_pywa.json"].payload == "callback_data"
    (docs,), _ = parse(fixture("whatsapp_inbound_text_meta_docs.json"), "106540352242922")
    assert docs.inbound.user_id == "16505551234" and docs.inbound.country_hint is None
    assert parse(fixture("whatsapp_inbound_text_pywa.json"), "another-number") == ([], [])
    failed = fixture("whatsapp_status_sent_pywa.json")
    status = failed["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(
        status="failed", errors=[fixture("whatsapp_error_object_131047_reengagement_pywa.json")]
    )
    assert parse(failed, number) == ([], [131047])

    settings = make_settings(tmp_path)
    runtime = SimpleNamespace(settings=settings, crypto=Crypto(settings.secret_key))
    channel = WhatsAppChannel(runtime, None, None)  # type: ignore[arg-type]
    many = [ReplyButton(f"Option number {n} with a long title", f"/opt{n}") for n in range(12)]
    plan = channel.plan(
        [
            Reply("intro " * 300),
            Reply("Pick one", [ReplyButton("A", "/a"), ReplyButton("B", "/b")]),
            Reply("Or one of these", many[:8]),
            Reply("Or typed", many),
        ],
        address="5215512345678",
        language="es",
        erase=False,
    )
    messages = [p["message"] for p in plan]
    assert [m["type"] for m in messages] == ["text", "interactive", "interactive", "text"]
    assert messages[1]["interactive"]["type"] == "button"  # not numbered: not the last question
    rows = messages[2]["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 8 and all(len(r["title"]) <= 24 for r in rows)
    assert "1 Option number 0" in messages[3]["text"]["body"]  # > 10 options: a typed line
    assert all(len(body_text(m)) <= 1024 for m in messages if m["type"] == "interactive")


# --- WhatsApp after 24 hours: the person's own, time-limited permission (bot/handoff/late.py) ---

LATE_ASK = {  # words of the question, in each language
    "en": "fixed message",
    "es": "mensaje corto y fijo",
    "pt": "mensagem curta e fixa",
    "fr": "message court et fixe",
}
LATE_YES = {"en": "7 days", "es": "7 días", "pt": "7 dias", "fr": "7 jours"}
LATE_NO = {
    "en": "send nothing after 24 hours",
    "es": "No enviaremos nada después de 24 horas",
    "pt": "Não vamos enviar nada depois de 24 horas",
    "fr": "Nous n'enverrons rien après 24 heures",
}


async def _queued(stack: Runtime, person: WhatsAppPerson, lang: str) -> list[dict[str, object]]:
    """Someone on duty; the person asks for a person, lets the team write first, and sends it.
    Returns what the last tap showed."""
    with stack.db.session() as s:
        s.merge(
            StaffPresence(
                staff_id=f"late-{lang}",
                display_name="Ana",
                languages=[lang],
                available=True,
                seen_at=utcnow(),
            )
        )
    await person.say(SAY[lang]["hello"])
    await person.tap("/affirm")
    await person.say(SAY[lang]["human"])
    await person.tap('/card_edit{"field":"first"}')  # "the team may write to you first"
    return await person.tap("/handoff_yes")


def _late_until(stack: Runtime, contact_id: str) -> dt.datetime | None:
    with stack.db.session() as s:
        window = s.get(ChannelWindow, contact_id)
        return window.opted_in_until if window else None


def _request_id(stack: Runtime, contact_id: str) -> str:
    with stack.db.session() as s:
        req = s.scalar(
            select(HandoffRequest)
            .join(Conversation, HandoffRequest.conversation_id == Conversation.id)
            .where(Conversation.contact_id == contact_id, HandoffRequest.status == "queued")
        )
        assert req is not None
        return req.id


def _age(stack: Runtime, contact_id: str, request_id: str, hours: int = 25) -> None:
    """The person's last message was ``hours`` ago."""
    then = utcnow() - dt.timedelta(hours=hours)
    with stack.db.session() as s:
        window = s.get(ChannelWindow, contact_id)
        assert window is not None
        window.last_inbound_at = then
        state = s.get(HandoffState, request_id)
        assert state is not None
        state.last_inbound_at = then


@pytest.mark.parametrize("lang", LANGS)
async def test_a_late_reply_reopens_the_chat_for_who_said_yes(
    stack: Runtime, wa: FakeGraph, lang: str
) -> None:
    """Asked once when queued; a typed yes sets the permission for 7 days; a staff reply after
    the window sends the neutral template, waits, and is delivered when the person answers;
    EXIT erases the permission."""
    stack.settings.whatsapp_template = "neutral_hello"
    try:
        person = WhatsAppPerson(stack, wa)
        queued = await _queued(stack, person, lang)
        question = queued[-1]
        assert LATE_ASK[lang] in body_text(question)
        assert [i for i, _ in options(question)] == ["/late_reply_yes", "/late_reply_no"]
        assert not revealing(body_text(question)) and len(body_text(question)) <= MAX_LENGTH
        assert _late_until(stack, person.contact_id) is None  # nothing before the answer

        answered = await person.say(SAY[lang]["yes"])
        assert LATE_YES[lang] in body_text(answered[-1])
        until = _late_until(stack, person.contact_id)
        assert until is not None
        assert abs(until - (utcnow() + dt.timedelta(days=7))) < dt.timedelta(minutes=5)

        request_id = _request_id(stack, person.contact_id)
        await stack.live.accept(request_id, "staff-late", "Ana")
        await settle(stack, person.contact_id)  # "Ana joined" went out in their turn
        _age(stack, person.contact_id, request_id)
        with stack.db.session() as s:
            req = s.get(HandoffRequest, request_id)
            assert req is not None
            permission = stack.live.permission(s, req)
        assert permission.allowed and permission.reason == "whatsapp_template"
        await stack.live.reply(request_id, "staff-late", "Hola, soy Ana del equipo.")
        await wait_until(
            lambda: count(stack.db, OutboxMessage, contact_id=person.contact_id, status="held")
        )
        template = wa.sent(person.address)[-1]
        assert template["type"] == "template" and template["template"]["name"] == "neutral_hello"
        assert template["template"]["language"]["code"].startswith(lang)
        assert "components" not in template["template"]  # nothing of the chat in it

        back = await person.say(SAY[lang]["hello"])
        assert body_text(back[0]) == "Hola, soy Ana del equipo."  # the waiting reply first
        assert dead(stack, person.contact_id) == 0

        await person.say(SAY[lang]["exit"])
        assert _late_until(stack, person.contact_id) is None
    finally:
        stack.settings.whatsapp_template = ""


@pytest.mark.parametrize("lang", LANGS)
async def test_without_a_yes_a_late_reply_waits_for_the_person(
    stack: Runtime, wa: FakeGraph, lang: str
) -> None:
    """No: nothing is set, and the staff see the person must write first (nothing is sent)."""
    stack.settings.whatsapp_template = "neutral_hello"
    try:
        person = WhatsAppPerson(stack, wa)
        await _queued(stack, person, lang)
        answered = await person.tap("/late_reply_no")
        assert LATE_NO[lang] in body_text(answered[-1])
        assert _late_until(stack, person.contact_id) is None
        request_id = _request_id(stack, person.contact_id)
        await stack.live.accept(request_id, "staff-late", "Ana")
        await settle(stack, person.contact_id)
        _age(stack, person.contact_id, request_id)
        sent = len(wa.sent(person.address))
        with pytest.raises(NotAllowed) as refused:
            await stack.live.reply(request_id, "staff-late", "Hola.")
        assert refused.value.permission.reason == "whatsapp_window"
        assert len(wa.sent(person.address)) == sent
    finally:
        stack.settings.whatsapp_template = ""


async def test_the_question_is_not_asked_when_it_could_not_be_used(
    stack: Runtime, wa: FakeGraph
) -> None:
    """No approved template, or "only when I write": never asked."""
    person = WhatsAppPerson(stack, wa)
    queued = await _queued(stack, person, "es")  # no template configured
    assert all(LATE_ASK["es"] not in body_text(m) for m in queued)
    stack.settings.whatsapp_template = "neutral_hello"
    try:
        other = WhatsAppPerson(stack, wa)
        await other.say("hola")
        await other.tap("/affirm")
        await other.say(SAY["es"]["human"])
        queued = await other.tap("/handoff_yes")  # the default: "only when I write"
        assert all(LATE_ASK["es"] not in body_text(m) for m in queued)
    finally:
        stack.settings.whatsapp_template = ""


async def test_an_expired_permission_is_erased(stack: Runtime, wa: FakeGraph) -> None:
    person = WhatsAppPerson(stack, wa)
    await person.say("hola")
    with stack.db.session() as s:
        window = s.get(ChannelWindow, person.contact_id)
        assert window is not None
        window.opted_in_until = utcnow() - dt.timedelta(minutes=1)
    channel = WhatsAppChannel(stack, None, None)  # type: ignore[arg-type]
    channel.purge()  # run by the purge loop with every channel's
    await channel.client.aclose()
    with stack.db.session() as s:
        window = s.get(ChannelWindow, person.contact_id)
        assert window is not None and window.opted_in_until is None


# --- nothing lost above the per-contact rate limit (bot/conversation/rate.py) ---


def _text_of(stack: Runtime, key: str, lang: str, count: int | None = None) -> str:
    with stack.db.session() as s:
        ctx = RenderContext(language=lang, channel="whatsapp")
        return stack.renderer.render(key, ctx, Directory(s), count=count).text


def _waiting(stack: Runtime, contact_id: str) -> int:
    return count(stack.db, InboxMessage, contact_id=contact_id)


async def _flood(stack: Runtime, person: WhatsAppPerson, texts: list[str]) -> None:
    """Messages posted one after the other, without waiting for answers."""
    for text in texts:
        response = await person.post_bytes(json.dumps(person.text(text)).encode())
        assert response.status_code == 200


@pytest.mark.parametrize("lang", LANGS)
async def test_above_the_rate_limit_messages_are_kept_and_answered_later(
    stack: Runtime, wa: FakeGraph, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the limit: told once that the messages are kept; they wait in the inbox (joined,
    so a flood is answered once) and are answered when the window ends; a crisis in the middle
    is answered at once."""
    rate = stack.conversations.parts.rate
    monkeypatch.setattr(rate, "limit", 3)
    monkeypatch.setattr(rate, "window_seconds", 3.0)
    person = WhatsAppPerson(stack, wa)
    await person.say(SAY[lang]["hello"])
    await person.tap("/affirm")
    await person.say(SAY[lang]["legal"])  # the third: answered as always
    kept_note = _text_of(stack, "utter_slow_down_kept", lang)
    before = len(wa.sent(person.address))
    await _flood(stack, person, [SAY[lang]["legal"]])  # the fourth: above the limit
    await wait_until(lambda: any(body_text(m) == kept_note for m in wa.sent(person.address)))
    assert _waiting(stack, person.contact_id) == 1  # kept, not dropped
    await _flood(stack, person, [SAY[lang]["hello"], SAY[lang]["legal"]])
    crisis = await person.say(SAY[lang]["crisis"])  # never waits behind them
    assert any(EMERGENCY[COUNTRY[lang]] in body_text(m) for m in crisis)
    await settle(stack, person.contact_id, timeout=90)
    assert _waiting(stack, person.contact_id) == 0
    sent = wa.sent(person.address)[before:]
    assert sum(body_text(m) == kept_note for m in sent) >= 1
    assert len(sent) > 2  # the kept messages were answered, not only noted


async def test_a_flood_is_bounded_and_the_person_is_told_how_many_were_not_read(
    stack: Runtime, wa: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What waits behind a kept message is joined into it up to the bound; the rest is counted,
    and the person is told how many were not read (never a silent drop)."""
    rate = stack.conversations.parts.rate
    monkeypatch.setattr(rate, "limit", 2)
    monkeypatch.setattr(rate, "window_seconds", 300.0)
    monkeypatch.setattr(inbox_module, "KEEP_MESSAGES", 3)
    person = WhatsAppPerson(stack, wa)
    await person.say("hola")
    await person.tap("/affirm")
    kept_note = _text_of(stack, "utter_slow_down_kept", "es")
    await _flood(stack, person, ["uno"])  # above the limit: kept, the first of what waits
    await wait_until(lambda: any(body_text(m) == kept_note for m in wa.sent(person.address)))
    await _flood(stack, person, ["dos", "tres", "cuatro", "cinco", "seis"])
    await wait_until(lambda: _waiting(stack, person.contact_id) == 6)
    with stack.db.session() as s:  # its time comes while the window still runs
        first = s.scalars(
            select(InboxMessage)
            .where(InboxMessage.contact_id == person.contact_id)
            .order_by(InboxMessage.id)
        ).first()
        assert first is not None
        first.not_before = utcnow()
    unread = _text_of(stack, "utter_slow_down_unread", "es", count=3)
    await wait_until(lambda: any(body_text(m) == unread for m in wa.sent(person.address)))
    with stack.db.session() as s:
        rows = list(
            s.scalars(select(InboxMessage).where(InboxMessage.contact_id == person.contact_id))
        )
        texts = [
            json.loads(stack.crypto.decrypt(r.payload_enc) or "{}")["inbound"]["text"] for r in rows
        ]
    assert texts == ["uno\ndos\ntres"]  # one row, bounded, in order
    assert sum(body_text(m) == kept_note for m in wa.sent(person.address)) == 1  # told once
