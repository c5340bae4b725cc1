"""The console and the live handoff over HTTP, against the running stack (real Rasa, both DBs).

The survivor side goes through the real gateway (``kit.Survivor``); staff use the console
with httpx exactly as a browser would (forms, CSRF tokens, cookies).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid

import httpx
import pytest
from fakes.rasa import FakeRasa
from kit import (
    PASSWORD,
    Account,
    SignIn,
    Survivor,
    clean_presence,
    client_for,
    csrf_of,
    sign_in,
    signed_in,
    staff,
    wait_until,
)
from sqlalchemy import func, select
from sqlalchemy import text as sql

from bot.console.auth import Accounts
from bot.runtime import Runtime
from bot.store.console_models import AuditEvent, CannedReply, HandoffNote, HandoffState
from bot.store.models import (
    Consent,
    Contact,
    Conversation,
    HandoffMessage,
    HandoffRequest,
    Mode,
    utcnow,
)

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name

LANGS = ["en", "es", "pt", "fr"]
COUNTRY = {"en": "US", "es": "MX", "pt": "BR", "fr": "HT"}
NEED = {
    "en": "i need a lawyer",
    "es": "necesito un abogado",
    "pt": "preciso de advogado",
    "fr": "besoin d un avocat",
}


def new_account(stack: Runtime, role: str = "staff", languages: list[str] | None = None) -> Account:
    email = f"p-{uuid.uuid4().hex[:10]}@example.org"
    name = f"P{uuid.uuid4().hex[:5]}"
    user, _ = Accounts(stack.db, stack.settings, stack.crypto).create(
        email, role, name, PASSWORD, languages or [], "en"
    )
    return Account(user.id, email, name, role)


async def case_csrf(client: httpx.AsyncClient, hid: str) -> str:
    page = await client.get(f"/c/{hid}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def post(client: httpx.AsyncClient, path: str, hid: str, **data: str) -> httpx.Response:
    return await client.post(path, data={"csrf": await case_csrf(client, hid), **data})


async def queued(survivor: Survivor, payload: str = "/handoff_yes") -> HandoffRequest:
    result = await survivor.tap(payload)
    assert result.mode == Mode.QUEUED, [r.key for r in result.replies]
    req = survivor.request()
    assert req is not None and req.status == "queued"
    return req


async def accepted(client: httpx.AsyncClient, survivor: Survivor, req: HandoffRequest) -> None:
    response = await post(client, f"/c/{req.id}/accept", req.id)
    assert response.status_code == 200
    await survivor.wait_for("utter_staff_joined")


def audit_actions(stack: Runtime, conversation_id: str) -> list[str]:
    with stack.db.session() as s:
        return [
            e.action
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.conversation_id == conversation_id)
                .order_by(AuditEvent.id)
            )
        ]


# --- HTTP hardening ---


async def test_security_headers_cookies_and_no_inline_script(
    stack: Runtime, staff: dict[str, Account]
) -> None:
    async with client_for(stack) as client:
        page = await client.get("/signin")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        response = await sign_in(client, staff["lucia"].email)
        cookie = response.history[0].headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain http on loopback; https deployments get Secure
        for path in ("/queue", "/settings", "/queue/list"):
            body = (await client.get(path)).text
            assert not re.search(r"<script(?![^>]*\bsrc=)", body), path
            assert " style=" not in body and "onclick=" not in body, path
        htmx = await client.get("/static/vendor/htmx.min.js")
        assert htmx.status_code == 200 and htmx.text.startswith("/*! htmx 2")
        assert htmx.headers["x-content-type-options"] == "nosniff"
        await client.post("/signout", data={"csrf": csrf_of((await client.get("/queue")).text)})


async def test_csrf_and_cross_site_posts_are_refused(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn
) -> None:
    client = await signed_in(staff["lucia"].email)
    token = csrf_of((await client.get("/queue")).text)
    assert (await client.post("/presence", data={"available": "0"})).status_code == 403
    assert (await client.post("/presence", data={"available": "0", "csrf": "x"})).status_code == 403
    evil = await client.post(
        "/presence",
        data={"available": "0", "csrf": token},
        headers={"origin": "https://evil.example"},
    )
    assert evil.status_code == 403
    cross = await client.post(
        "/presence",
        data={"available": "0", "csrf": token},
        headers={"sec-fetch-site": "cross-site", "origin": "null"},
    )
    assert cross.status_code == 403
    same = await client.post(  # what a browser sends under our no-referrer policy
        "/presence",
        data={"available": "1", "csrf": token},
        headers={"sec-fetch-site": "same-origin", "origin": "null"},
    )
    assert same.status_code == 200
    ok = await client.post("/presence", data={"available": "1", "csrf": token})
    assert ok.status_code == 200
    async with client_for(stack) as anonymous:  # the sign-in form has its own token
        refused = await anonymous.post(
            "/signin", data={"email": staff["lucia"].email, "password": PASSWORD, "csrf": "x"}
        )
        assert refused.status_code == 403


async def test_invitation_sets_a_password(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn
) -> None:
    admin = await signed_in(staff["ada"].email)
    page = await admin.get("/accounts")
    email = f"new-{uuid.uuid4().hex[:8]}@example.org"
    made = await admin.post(
        "/accounts",
        data={
            "csrf": csrf_of(page.text),
            "action": "invite",
            "email": email,
            "display_name": "Noa",
            "role": "staff",
            "language": "pt",
            "languages": "pt",
        },
    )
    link = re.search(r'id="invite-link">([^<]+)<', made.text)
    assert link and "/console/invite/" in link.group(1)
    path = link.group(1).split("/console", 1)[1]
    async with client_for(stack) as invited:
        form = await invited.get(path)
        assert form.status_code == 200
        await invited.post(
            path, data={"csrf": csrf_of(form.text), "password": PASSWORD, "again": PASSWORD}
        )
        assert (await invited.get(path)).status_code == 404  # one time only
        assert (await sign_in(invited, email)).url.path.endswith("/queue")


# --- the handoff, end to end, in four languages ---


@pytest.mark.parametrize("lang", LANGS)
async def test_full_handoff_in_every_language(stack: Runtime, signed_in: SignIn, lang: str) -> None:
    person = new_account(stack, languages=[lang])
    client = await signed_in(person.email)
    survivor = Survivor(stack, lang, COUNTRY[lang])
    explained = await survivor.ask_for_person(
        {"en": "hello", "es": "hola", "pt": "oi", "fr": "bonjour"}[lang]
    )
    keys = [r.key for r in explained.replies]
    assert keys == ["utter_handoff_explain", "utter_ask_handoff_consent"]
    summary = explained.replies[1].text
    assert {"en": "English", "es": "Español", "pt": "Português", "fr": "Français"}[lang] in summary
    assert len(explained.replies[1].buttons) == 5
    req = await queued(survivor)
    assert survivor.seen[-1].key == "utter_handoff_queued"
    listing = await client.get("/queue/list")
    assert f'data-handoff-id="{req.id}"' in listing.text
    await accepted(client, survivor, req)
    joined = next(r for r in survivor.seen if r.key == "utter_staff_joined")
    assert joined.text.startswith(person.name)
    if lang != "en":
        assert "has joined" not in joined.text  # in their language
    canary = f"canary-{lang}-{uuid.uuid4().hex[:6]}"
    silent = await survivor.say(f"{canary} hello team")
    assert silent.replies == [] and silent.mode == Mode.STAFF  # the assistant stays silent
    messages = await client.get(f"/c/{req.id}/part/messages")
    assert canary in messages.text
    reply = await client.post(
        f"/c/{req.id}/reply",
        data={"csrf": await case_csrf(client, req.id), "text": "Hi, I am here."},
        headers={"hx-request": "true"},
    )
    assert reply.status_code == 200 and "blocked" not in reply.text
    assert (await survivor.wait_for("staff_message")).text == "Hi, I am here."
    note = await client.post(
        f"/c/{req.id}/note",
        data={"csrf": await case_csrf(client, req.id), "text": "private note"},
        headers={"hx-request": "true"},
    )
    assert "private note" in note.text
    back = await post(client, f"/c/{req.id}/finish/handback", req.id)
    assert back.url.path.endswith("/queue")
    left = await survivor.wait_for("utter_staff_left")
    assert left.text.startswith(person.name)
    resumed = await survivor.say(NEED[lang])  # the assistant answers again, through Rasa
    assert resumed.mode == Mode.BOT
    assert resumed.replies[0].key == "utter_services_intro", [r.key for r in resumed.replies]
    with stack.db.session() as s:
        assert s.get(HandoffRequest, req.id).status == "closed"  # type: ignore[union-attr]
    actions = audit_actions(stack, req.conversation_id)
    for action in ("case.view", "case.accept", "case.reply", "case.note", "case.hand_back"):
        assert action in actions


# --- what the survivor controls ---


async def test_summary_can_be_changed_or_refused(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    change = await survivor.tap("/card_change")
    assert change.replies[0].key == "utter_handoff_card_change"
    assert "México" in change.replies[0].text
    hidden = await survivor.tap('/card_edit{"field":"country"}')
    assert "México" not in hidden.replies[0].text
    shown = await survivor.tap("/card_show")
    assert shown.replies[0].key == "utter_ask_handoff_consent"
    req = await queued(survivor, "/handoff_nocard")
    assert not req.card_consent and req.country is None and req.needs == []
    with stack.db.session() as s:
        kinds = {
            (c.kind, c.granted)
            for c in s.scalars(select(Consent).where(Consent.contact_id == survivor.contact_id))
        }
    assert ("handoff", True) in kinds and ("summary", False) in kinds
    page = await client.get(f"/c/{req.id}")
    assert "solo se compartió el idioma" in page.text  # Lucía's console is in Spanish


def tables_mention(stack: Runtime, *words: str) -> list[str]:
    """Every table with a row that holds one of ``words`` in clear (case-insensitive)."""
    found = []
    with stack.db.engine.connect() as conn:
        for table in stack.db.engine.dialect.get_table_names(conn):
            for row in conn.execute(sql(f'SELECT * FROM "{table}"')):
                flat = " ".join(str(v) for v in row).lower()
                if any(w.lower() in flat for w in words):
                    found.append(table)
    return found


@pytest.mark.security
async def test_code_word_gate_and_never_stored_in_clear(
    stack: Runtime,
    signed_in: SignIn,
    staff: dict[str, Account],
    fake_rasa: FakeRasa,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Staff ask; the survivor's answers are checked against the hash and forgotten: never in
    the transcript, a table, a log line or Rasa; staff see only "did not match" / "matched"."""
    caplog.set_level(logging.DEBUG)
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    asked = await survivor.tap("/card_code_word")
    assert asked.replies[0].key == "utter_ask_code_word"
    word = f"Girasol{uuid.uuid4().hex[:4]}"
    wrong_word = f"Amapola{uuid.uuid4().hex[:4]}"
    saved = await survivor.say(word)
    assert [r.key for r in saved.replies] == ["utter_code_word_saved", "utter_ask_handoff_consent"]
    assert not tables_mention(stack, word)
    req = await queued(survivor)
    await survivor.say("mensaje antes de que alguien se una")
    page = await client.get(f"/c/{req.id}")
    assert 'id="details-hidden"' in page.text and "mensaje antes" not in page.text
    assert 'id="ask-code-word"' not in page.text  # only the person who accepted may ask
    await accepted(client, survivor, req)
    page = await client.get(f"/c/{req.id}")
    assert 'id="ask-code-word"' in page.text and 'name="code_word"' not in page.text
    parsed_before = len(fake_rasa.understood)

    asking = await post(client, f"/c/{req.id}/code-word", req.id)
    assert 'id="code-word-waiting"' in asking.text
    question = await survivor.wait_for("utter_ask_code_word_check")
    assert "Lucía" in question.text
    wrong = await survivor.say(wrong_word)
    assert [r.key for r in wrong.replies] == ["utter_code_word_checked"]
    assert wrong.extras.get("forget_message") is True  # deleted from the Telegram chat
    messages = await client.get(f"/c/{req.id}/part/messages")
    assert "Palabra clave: no coincide" in messages.text  # Lucía's console is in Spanish
    assert wrong_word.lower() not in messages.text.lower()
    panel = await client.get(f"/c/{req.id}/part/panel")
    assert 'id="details-hidden"' in panel.text and 'id="ask-code-word"' in panel.text

    await post(client, f"/c/{req.id}/code-word", req.id)
    await survivor.wait_for("utter_ask_code_word_check")
    right = await survivor.say(f" {word.upper()}! ")
    assert [r.key for r in right.replies] == ["utter_code_word_checked"]
    panel = await client.get(f"/c/{req.id}/part/panel")
    assert 'id="details-hidden"' not in panel.text and 'id="card-country"' in panel.text
    messages = await client.get(f"/c/{req.id}/part/messages")
    assert "mensaje antes" in messages.text  # what came before the join shows now
    assert "Palabra clave: coincide" in messages.text
    assert word.lower() not in messages.text.lower()

    with stack.db.session() as s:
        lines = [
            (m.direction, stack.crypto.decrypt(m.text_enc))
            for m in s.scalars(
                select(HandoffMessage)
                .where(HandoffMessage.handoff_id == req.id)
                .order_by(HandoffMessage.id)
            )
        ]
        state = s.get(HandoffState, req.id)
        assert state is not None and state.code_word_failures == 1
        conv = s.get(Conversation, req.conversation_id)
        assert conv is not None and conv.awaiting is None
    assert [text for kind, text in lines if kind == "check"] == ["no_match", "matched"]
    assert not [t for _, t in lines if t and (word.lower() in t.lower() or wrong_word in t)]
    assert not tables_mention(stack, word, wrong_word)
    assert len(fake_rasa.understood) == parsed_before  # neither answer went to Rasa
    for record in caplog.records:
        line = record.getMessage() + " " + str(record.__dict__)
        assert word.lower() not in line.lower() and wrong_word not in line, record.name
    actions = audit_actions(stack, req.conversation_id)
    assert actions.count("case.code_word_asked") == 2
    assert "case.code_word_wrong" in actions and "case.code_word_ok" in actions
    again = await post(client, f"/c/{req.id}/code-word", req.id)  # confirmed: nothing to ask
    assert "problem=gone" in str(again.url) and 'id="ask-code-word"' not in again.text


async def test_the_exit_word_answers_the_code_word_question_by_leaving(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    await survivor.tap("/card_code_word")
    await survivor.say(f"Girasol{uuid.uuid4().hex[:4]}")
    req = await queued(survivor)
    await accepted(client, survivor, req)
    await post(client, f"/c/{req.id}/code-word", req.id)
    await survivor.wait_for("utter_ask_code_word_check")
    left = await survivor.say("SALIR")
    assert left.mode == Mode.CLOSED and left.extras.get("erase_chat") is True
    assert "utter_code_word_checked" not in [r.key for r in left.replies]
    with stack.db.session() as s:
        assert s.get(HandoffRequest, req.id) is None
    assert not [a for a in audit_actions(stack, req.conversation_id) if "code_word_" in a]


async def test_a_crisis_during_the_code_word_question_reaches_staff_and_the_question_stays(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    """A crisis message is never taken for the code word: it is answered with the numbers and
    shown to staff; the next message is still the answer (never shown)."""
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    await survivor.tap("/card_code_word")
    word = f"Girasol{uuid.uuid4().hex[:4]}"
    await survivor.say(word)
    req = await queued(survivor)
    await accepted(client, survivor, req)
    await post(client, f"/c/{req.id}/code-word", req.id)
    await survivor.wait_for("utter_ask_code_word_check")
    crisis = await survivor.say("me tienen encerrada")
    assert crisis.crisis and [r.key for r in crisis.replies] == ["utter_crisis_in_handoff"]
    answer = await survivor.say(word)
    assert [r.key for r in answer.replies] == ["utter_code_word_checked"]
    messages = await client.get(f"/c/{req.id}/part/messages")
    assert "me tienen encerrada" in messages.text and "Palabra clave: coincide" in messages.text
    assert word.lower() not in messages.text.lower()


async def test_staff_cannot_ask_for_the_code_word_when_they_may_not_write(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    """ "Only when I write": a question held until they write would arrive after the message it
    asks for, so it is refused like a reply, and no answer is awaited."""
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    await survivor.tap("/card_code_word")
    await survivor.say(f"Girasol{uuid.uuid4().hex[:4]}")
    req = await queued(survivor)
    await accepted(client, survivor, req)
    survivor.age_turn(stack.settings.console_turn_minutes + 1)
    refused = await post(client, f"/c/{req.id}/code-word", req.id)
    assert 'role="alert"' in refused.text and 'id="ask-code-word"' in refused.text
    assert "case.code_word_ask_refused" in audit_actions(stack, req.conversation_id)
    later = await survivor.say("hola otra vez")
    assert "utter_code_word_checked" not in [r.key for r in later.replies]
    messages = await client.get(f"/c/{req.id}/part/messages")
    assert "hola otra vez" in messages.text


async def test_role_limits_who_opens_a_conversation(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    lucia = await signed_in(staff["lucia"].email)
    mateo = await signed_in(staff["mateo"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued(survivor)
    await accepted(lucia, survivor, req)
    refused = await mateo.get(f"/c/{req.id}")
    assert refused.status_code == 403 and "asignada a otra persona" in refused.text  # console: es
    assert (await mateo.get(f"/c/{req.id}/part/messages")).status_code == 200
    assert "data-gone" in (await mateo.get(f"/c/{req.id}/part/messages")).text
    assert (await mateo.get("/supervisor")).status_code == 403
    sol = await signed_in(staff["sol"].email)
    assert (await sol.get("/accounts")).status_code == 403
    assert (await sol.get(f"/c/{req.id}")).status_code == 200
    moved = await post(sol, f"/c/{req.id}/transfer", req.id, to_staff=staff["mateo"].id)
    assert moved.url.path.endswith("/queue")
    joined = [r for r in (await wait_until(survivor.pull)) if r.key == "utter_staff_joined"]
    assert joined and joined[0].text.startswith("Mateo")
    assert (await mateo.get(f"/c/{req.id}")).status_code == 200
    assert (await lucia.get(f"/c/{req.id}")).status_code == 403


async def test_never_message_first_and_whatsapp_window(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued(survivor)
    survivor.age_turn(30)  # they wrote half an hour ago
    accept = await post(client, f"/c/{req.id}/accept", req.id)
    assert accept.status_code == 200
    assert survivor.pull() == []  # the "has joined" line waits for their turn
    status = await client.get(f"/c/{req.id}/part/reply-status")
    assert "disabled" in status.text and 'id="why-blocked"' in status.text
    refused = await client.post(
        f"/c/{req.id}/reply",
        data={"csrf": await case_csrf(client, req.id), "text": "hola?"},
        headers={"hx-request": "true"},
    )
    assert 'role="alert"' in refused.text
    assert survivor.pull() == []
    assert "case.reply_refused" in audit_actions(stack, req.conversation_id)
    turn = await survivor.say("hola")  # their turn: the held line comes first
    assert turn.replies[0].key == "utter_staff_joined"
    allowed = await client.post(
        f"/c/{req.id}/reply",
        data={"csrf": await case_csrf(client, req.id), "text": "Aquí estoy."},
        headers={"hx-request": "true"},
    )
    assert 'role="alert"' not in allowed.text
    assert (await survivor.wait_for("staff_message")).text == "Aquí estoy."

    # WhatsApp: "the team may write first", but never past 24 hours after their last message.
    whatsapp = Survivor(stack, "es", "MX", channel="whatsapp")
    await whatsapp.ask_for_person()
    await whatsapp.tap('/card_edit{"field":"first"}')
    req = await queued(whatsapp)
    await accepted(client, whatsapp, req)
    whatsapp.age_turn(3 * 60)
    panel = await client.get(f"/c/{req.id}/part/panel")
    assert "WhatsApp" in panel.text
    open_window = await client.post(
        f"/c/{req.id}/reply",
        data={"csrf": await case_csrf(client, req.id), "text": "Hola de nuevo."},
        headers={"hx-request": "true"},
    )
    assert 'role="alert"' not in open_window.text
    whatsapp.age_turn(25 * 60)
    closed_window = await client.post(
        f"/c/{req.id}/reply",
        data={"csrf": await case_csrf(client, req.id), "text": "¿Sigues ahí?"},
        headers={"hx-request": "true"},
    )
    assert 'role="alert"' in closed_window.text and "24" in closed_window.text


async def test_staff_see_whether_a_late_whatsapp_reply_can_reach_the_person(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    """Past 24 hours: with the person's yes, the reply is allowed and the panel says until when
    and that it waits for their answer; without it, the panel says they must write first."""
    client = await signed_in(staff["lucia"].email)
    stack.settings.whatsapp_template = "neutral_hello"
    try:
        agreed = Survivor(stack, "es", "MX", channel="whatsapp")
        await agreed.ask_for_person()
        await agreed.tap('/card_edit{"field":"first"}')
        req = await queued(agreed)
        yes = await agreed.say("sí")  # typed, to the question asked when it was queued
        assert yes.replies[0].key == "utter_late_reply_yes"
        await accepted(client, agreed, req)
        agreed.age_turn(25 * 60)
        panel = (await client.get(f"/c/{req.id}/part/panel")).text
        assert 'id="late-replies"' in panel and "reabre el chat" in panel
        status = (await client.get(f"/c/{req.id}/part/reply-status")).text
        assert 'id="late-reply-hint"' in status and "disabled" not in status
        sent = await client.post(
            f"/c/{req.id}/reply",
            data={"csrf": await case_csrf(client, req.id), "text": "Hola, aquí estoy."},
            headers={"hx-request": "true"},
        )
        assert 'role="alert"' not in sent.text

        declined = Survivor(stack, "es", "MX", channel="whatsapp")
        await declined.ask_for_person()
        await declined.tap('/card_edit{"field":"first"}')
        other = await queued(declined)
        assert (await declined.tap("/late_reply_no")).replies[0].key == "utter_late_reply_no"
        await accepted(client, declined, other)
        declined.age_turn(25 * 60)
        panel = (await client.get(f"/c/{other.id}/part/panel")).text
        assert "debe escribir primero" in panel
        status = (await client.get(f"/c/{other.id}/part/reply-status")).text
        assert "disabled" in status and "reabra el chat" in status
    finally:
        stack.settings.whatsapp_template = ""


# --- the queue: order, place, the honest fallback ---


async def test_queue_order_place_and_timeout_fallback_once(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    first, second = Survivor(stack, "es", "MX"), Survivor(stack, "es", "MX")
    await first.ask_for_person()
    a = await queued(first)
    await second.ask_for_person()
    await second.tap("/card_change")
    await second.tap('/card_edit{"field":"urgent"}')
    b = await queued(second)
    listing = (await client.get("/queue/list")).text
    assert listing.index(b.id) < listing.index(a.id)  # urgent first, even though it came later
    place_b = (await second.tap("/handoff_place")).replies[0]
    place_a = (await first.tap("/handoff_place")).replies[0]
    pos_b = int(re.search(r"\d+", place_b.text.split("\n")[1]).group(0))  # type: ignore[union-attr]
    pos_a = int(re.search(r"\d+", place_a.text.split("\n")[1]).group(0))  # type: ignore[union-attr]
    assert place_a.key == "utter_queue_place" and pos_a > pos_b
    with stack.db.session() as s:
        assert stack.handoffs.position(s, s.get(HandoffRequest, a.id)) == pos_a  # type: ignore[arg-type]

    live = stack.live
    later = utcnow() + dt.timedelta(minutes=stack.settings.handoff_accept_timeout_minutes + 1)
    await live.check_queue(later)
    told = await first.wait_for("utter_handoff_no_answer")
    assert "911" in told.text and [b.payload for b in told.buttons] == [
        "/handoff_wait",
        "/handoff_leave",
    ]
    await second.wait_for("utter_handoff_no_answer")
    for hours in (1, 24):  # never again, never "are you still there?"
        await live.check_queue(utcnow() + dt.timedelta(hours=hours))
    assert first.pull() == [] and second.pull() == []
    waiting = await first.say("1")  # keep waiting
    assert waiting.replies[0].key == "utter_handoff_keep_waiting" and waiting.mode == Mode.QUEUED
    leaving = await second.tap("/handoff_leave")
    assert leaving.replies[0].key == "utter_back_to_bot" and leaving.mode == Mode.BOT


@pytest.mark.parametrize("lang", ["pt", "fr"])
async def test_nobody_on_duty_is_told_honestly(
    stack: Runtime, clean_presence: None, lang: str
) -> None:
    survivor = Survivor(stack, lang, COUNTRY[lang])
    await survivor.ask_for_person({"pt": "oi", "fr": "bonjour"}[lang])
    result = await survivor.tap("/handoff_yes")
    reply = result.replies[0]
    assert reply.key == "utter_handoff_no_one" and result.mode == Mode.QUEUED
    assert {"BR": "190", "HT": "122"}[COUNTRY[lang]] in reply.text
    assert len(reply.buttons) == 2 and reply.text.count("?") == 1
    live = stack.live
    for minutes in (10, 60, 24 * 60):
        await live.check_queue(utcnow() + dt.timedelta(minutes=minutes))
    assert survivor.pull() == []


# --- leaving, erasing, closing ---


@pytest.mark.parametrize("word", ["SALIR", "BORRAR"])
async def test_exit_and_delete_remove_the_transcript_at_once(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account], word: str
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued(survivor)
    await accepted(client, survivor, req)
    await survivor.say("algo que solo el equipo debe leer")
    await post(client, f"/c/{req.id}/note", req.id, text="una nota")
    result = await survivor.say(word)
    assert result.mode == Mode.CLOSED
    with stack.db.session() as s:
        assert s.get(HandoffRequest, req.id) is None
        assert (
            s.scalars(select(HandoffMessage).where(HandoffMessage.handoff_id == req.id)).all() == []
        )
        assert s.scalars(select(HandoffNote).where(HandoffNote.handoff_id == req.id)).all() == []
        if word == "BORRAR":
            assert s.get(Contact, survivor.contact_id) is None
    gone = await client.get(f"/c/{req.id}")
    assert gone.status_code == 404


async def test_crisis_and_old_buttons_while_with_staff(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued(survivor)
    await accepted(client, survivor, req)
    crisis = await survivor.say("me tienen encerrada y me van a matar")
    first = crisis.replies[0]
    assert crisis.crisis and first.key == "utter_crisis_in_handoff"
    body = first.text.split("\n", 1)[1]
    assert "911" in body and "?" not in body.split("911")[0]
    assert "me tienen encerrada" in (await client.get(f"/c/{req.id}/part/messages")).text
    with stack.db.session() as s:
        assert s.get(HandoffRequest, req.id).urgency == 1  # type: ignore[union-attr]
    old = await survivor.tap("/need_legal")
    assert [r.key for r in old.replies] == ["utter_with_person_now"] and old.mode == Mode.STAFF
    menu = await survivor.say("MENU")
    assert [r.key for r in menu.replies] == ["utter_with_person_now"]
    back = await survivor.say("VOLVER")
    assert back.replies[0].key == "utter_back_to_bot" and back.mode == Mode.BOT
    with stack.db.session() as s:
        assert s.get(HandoffRequest, req.id).status == "closed"  # type: ignore[union-attr]


async def test_close_then_purge_after_the_time_to_live(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued(survivor)
    await accepted(client, survivor, req)
    await survivor.say("gracias por todo")
    await post(client, f"/c/{req.id}/note", req.id, text="cerrar pronto")
    page = await client.get(f"/c/{req.id}")
    closing = re.search(
        r'<textarea id="closing" name="text" rows="5">([^<]*)</textarea>', page.text
    )
    assert closing and "24" in closing.group(1)  # the time-to-live, in Spanish
    closed = await post(client, f"/c/{req.id}/finish/close", req.id, text="Hasta pronto. Cuídate.")
    assert closed.url.path.endswith("/queue")
    assert (await survivor.wait_for("utter_handoff_closed")).text == "Hasta pronto. Cuídate."
    again = await survivor.say("hola")
    assert again.replies[0].key == "utter_first_contact"  # a new conversation
    handoffs = stack.handoffs

    def kept() -> int:
        with stack.db.session() as s:
            query = select(HandoffMessage).where(HandoffMessage.handoff_id == req.id)
            return len(s.scalars(query).all())

    with stack.db.session() as s:
        handoffs.purge(s, 24, now=utcnow() + dt.timedelta(hours=23))
    assert kept() == 4  # kept for 24 hours after the close: the whole transcript
    with stack.db.session() as s:
        # Every closed handoff of the shared stack is past its time then, this one among them.
        closed = s.scalar(
            select(func.count())
            .select_from(HandoffMessage)
            .join(HandoffRequest, HandoffMessage.handoff_id == HandoffRequest.id)
            .where(HandoffRequest.status == "closed")
        )
    with stack.db.session() as s:
        assert handoffs.purge(s, 24, now=utcnow() + dt.timedelta(hours=25)) == closed
    with stack.db.session() as s:
        assert (
            s.scalars(select(HandoffMessage).where(HandoffMessage.handoff_id == req.id)).all() == []
        )
        assert s.scalars(select(HandoffNote).where(HandoffNote.handoff_id == req.id)).all() == []
        assert s.get(Conversation, req.conversation_id) is None


async def test_transfer_to_another_language_queue(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    lucia = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "BR")
    await survivor.ask_for_person()
    req = await queued(survivor)
    await accepted(lucia, survivor, req)
    moved = await post(lucia, f"/c/{req.id}/transfer", req.id, to_language="pt")
    assert moved.url.path.endswith("/queue")
    await survivor.wait_for("utter_handoff_transferred")
    with stack.db.session() as s:
        now = s.get(HandoffRequest, req.id)
        assert now is not None and now.status == "queued" and now.language == "pt"
    ines = await signed_in(staff["ines"].email)
    assert req.id in (await ines.get("/queue/list")).text
    assert req.id not in (await lucia.get("/queue/list")).text


# --- live updates, and nothing sensitive anywhere ---


async def test_event_stream_announces_a_new_conversation(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    seen: list[str] = []
    async with client.stream("GET", "/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()

        async def read_until(marker: str) -> None:
            async for line in lines:
                seen.append(line)
                if line == marker:
                    return

        await asyncio.wait_for(read_until("data: open"), 10)
        await queued(survivor)
        await asyncio.wait_for(read_until("data: new"), 10)
    assert "event: queue" in seen
    assert not any("hola" in line for line in seen)  # names of events only, never content


async def test_audit_and_logs_hold_no_content(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await signed_in(staff["lucia"].email)
    canary = f"zanahoria{uuid.uuid4().hex[:6]}"
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued(survivor)
    await accepted(client, survivor, req)
    await survivor.say(f"me llamo {canary}")
    await post(client, f"/c/{req.id}/reply", req.id, text=f"hola {canary}")
    await post(client, f"/c/{req.id}/note", req.id, text=f"nota {canary}")
    await post(client, f"/c/{req.id}/finish/close", req.id, text=f"adiós {canary}")
    with stack.db.session() as s:
        for event in s.scalars(select(AuditEvent)):
            assert canary not in f"{event.action} {event.detail}"
    formatter = logging.getLogger().handlers[0].formatter or logging.Formatter()
    for record in caplog.records:
        assert canary not in formatter.format(record) + record.getMessage()
    with stack.db.engine.connect() as conn:  # content exists only encrypted
        for table in ("handoff_messages", "handoff_notes", "held_replies", "audit_events"):
            for row in conn.execute(sql(f'SELECT * FROM "{table}"')):
                assert canary not in " ".join(str(v) for v in row), table


# --- staff and canned replies go through the writing rules of the catalog texts ---


async def test_a_staff_reply_that_would_reveal_the_chat_on_a_lock_screen_is_not_sent(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued(survivor)
    await accepted(client, survivor, req)
    refused = await client.post(
        f"/c/{req.id}/reply",
        data={
            "csrf": await case_csrf(client, req.id),
            "text": "Hola. Si estás en peligro, llama a la National Human Trafficking Hotline.",
        },
        headers={"hx-request": "true"},
    )
    assert 'role="alert"' in refused.text
    assert 'data-code="first_line"' in refused.text  # both words: "peligro" and "traffick"
    assert refused.text.count('data-code="first_line"') == 2
    # The draft stays for the person to change it; nothing reached the survivor.
    assert "National Human Trafficking Hotline" in refused.text
    assert [r for r in survivor.pull() if r.key == "staff_message"] == []
    assert audit_actions(stack, req.conversation_id).count("case.reply_refused") == 1
    too_long = await client.post(
        f"/c/{req.id}/reply",
        data={"csrf": await case_csrf(client, req.id), "text": "Hola. " + "a" * 600},
        headers={"hx-request": "true"},
    )
    assert 'data-code="length"' in too_long.text
    sent = await client.post(
        f"/c/{req.id}/reply",
        data={"csrf": await case_csrf(client, req.id), "text": "Hola, soy Lucía. ¿Cómo estás?"},
        headers={"hx-request": "true"},
    )
    assert 'role="alert"' not in sent.text
    assert (await survivor.wait_for("staff_message")).text == "Hola, soy Lucía. ¿Cómo estás?"


async def test_a_canned_reply_is_checked_when_saved(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account]
) -> None:
    admin = await signed_in(staff["sol"].email)
    page = await admin.get("/canned")
    title = f"t-{uuid.uuid4().hex[:8]}"
    refused = await admin.post(
        "/canned",
        data={
            "csrf": csrf_of(page.text),
            "language": "pt",
            "title": title,
            "text": "Perigo? Ligue para 190. Vamos te resgatar.",
        },
    )
    assert refused.status_code == 200
    codes = re.findall(r'data-code="(\w+)"', refused.text)
    assert codes == ["first_line", "wording"]  # "perigo" on the lock screen, and the promise
    with stack.db.session() as s:
        assert s.scalar(select(func.count()).where(CannedReply.title == title)) == 0
    saved = await admin.post(
        "/canned",
        data={
            "csrf": csrf_of(page.text),
            "language": "pt",
            "title": title,
            "text": "Oi, aqui é a equipe. Quando for seguro, me responda.",
        },
    )
    assert saved.status_code == 200 and 'data-code="' not in saved.text
    with stack.db.session() as s:
        assert s.scalar(select(func.count()).where(CannedReply.title == title)) == 1
