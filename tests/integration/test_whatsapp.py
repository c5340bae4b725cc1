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

from bot.channels.whatsapp import WhatsAppChannel, parse
from bot.runtime import Runtime
from bot.store.channel_models import ChannelWindow, InboxMessage, OutboxMessage
from bot.store.crypto import Crypto
from bot.store.models import Contact, Conversation, SeenMessage, utcnow
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
