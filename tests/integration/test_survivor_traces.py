"""The survivor's side of security, on both databases: the per-contact rate limit (nothing a person
writes to the team is lost, danger and exit words always go through), a transcript staff read a
page at a time, and EXIT / DELETE leaving no consent, audit row or outbox message behind."""

from __future__ import annotations

import json
import re

import pytest
from fakes.rasa import FakeRasa
from kit import Account, SignIn, Survivor, clean_presence, csrf_of, signed_in, staff
from sqlalchemy import delete, func, select

from bot.console import queries
from bot.runtime import Runtime
from bot.store.channel_models import OutboxMessage
from bot.store.console_models import AuditEvent
from bot.store.models import Consent, Conversation, HandoffMessage, HandoffRequest, Mode

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name
pytestmark = pytest.mark.security

MESSAGE_ROW = re.compile(r'<li class="msg ')


@pytest.fixture
def clock(stack: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A limit of 3 messages a minute, on a clock the test moves (``clock[0] += 60``)."""
    now = [1_000_000.0]
    rate = stack.conversations.parts.rate
    monkeypatch.setattr(rate, "limit", 3)
    monkeypatch.setattr(rate, "clock", lambda: now[0])
    return now


async def queued(survivor: Survivor) -> HandoffRequest:
    await survivor.ask_for_person()
    result = await survivor.tap("/handoff_yes")
    assert result.mode == Mode.QUEUED, [r.key for r in result.replies]
    req = survivor.request()
    assert req is not None
    return req


def transcript(stack: Runtime, hid: str) -> list[tuple[int, str, str]]:
    with stack.db.session() as s:
        return [
            (m.id, m.direction, stack.crypto.decrypt(m.text_enc) or "")
            for m in s.scalars(
                select(HandoffMessage)
                .where(HandoffMessage.handoff_id == hid)
                .order_by(HandoffMessage.id)
            )
        ]


# --- the rate limit ---


async def test_above_the_limit_the_assistant_asks_once_to_slow_down_and_never_blocks_danger(
    stack: Runtime, fake_rasa: FakeRasa, clock: list[float]
) -> None:
    survivor = Survivor(stack, "es", "MX")
    for text in ("hola", "1", "necesito un abogado"):
        assert (await survivor.say(text)).intent != "rate_limited"
    parsed = len(fake_rasa.understood)
    fourth = await survivor.say("necesito un abogado")
    assert fourth.intent == "rate_limited"
    assert [r.key for r in fourth.replies] == ["utter_slow_down"]
    fifth = await survivor.say("necesito un abogado")
    assert fifth.intent == "rate_limited" and fifth.replies == []  # told once per window
    assert len(fake_rasa.understood) == parsed  # neither went to Rasa
    crisis = await survivor.say("me tienen encerrada")
    assert crisis.crisis and crisis.replies[0].key.startswith("utter_crisis")
    tapped = await survivor.tap("/request_human")  # a button does what the question offered
    assert tapped.intent != "rate_limited" and tapped.replies
    await survivor.tap("/card_code_word")
    saved = await survivor.say("Girasol azul")  # hashed and deleted, never left unanswered
    assert saved.replies[0].key == "utter_code_word_saved"
    assert saved.extras.get("forget_message") is True
    clock[0] += 60  # a new window: answered again
    again = await survivor.say("necesito un abogado")
    assert again.intent != "rate_limited" and again.replies
    for _ in range(3):
        await survivor.say("necesito un abogado")
    left = await survivor.say("SALIR")  # the exit word, far above the limit
    assert left.mode == Mode.CLOSED and left.extras.get("erase_chat") is True


async def test_above_the_limit_every_message_to_the_team_is_kept(
    stack: Runtime, clock: list[float]
) -> None:
    survivor = Survivor(stack, "es", "MX")
    req = await queued(survivor)  # four messages: the fourth, a tap, went through
    texts = [f"mensaje para el equipo {n}" for n in range(5)]
    results = [await survivor.say(text) for text in texts]
    assert [r.intent for r in results] == ["rate_limited"] * 5
    assert [[r.key for r in result.replies] for result in results] == [
        ["utter_slow_down_handoff"],
        [],
        [],
        [],
        [],
    ]
    lines = transcript(stack, req.id)
    assert [text for _, kind, text in lines if kind == "in"] == texts
    assert results[0].replies[0].text in [text for _, kind, text in lines if kind == "bot"]


async def test_staff_read_a_long_transcript_a_page_at_a_time(
    stack: Runtime,
    signed_in: SignIn,
    staff: dict[str, Account],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "TRANSCRIPT_PAGE", 10)
    client = await signed_in(staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    req = await queued(survivor)
    page = await client.get(f"/c/{req.id}")
    accepted = await client.post(f"/c/{req.id}/accept", data={"csrf": csrf_of(page.text)})
    assert accepted.status_code == 200
    await survivor.wait_for("utter_staff_joined")
    for n in range(14):
        await survivor.say(f"línea número {n}")
    lines = transcript(stack, req.id)
    assert len(lines) > 14
    latest = await client.get(f"/c/{req.id}/part/messages")
    assert len(MESSAGE_ROW.findall(latest.text)) == 10
    assert f"({len(lines) - 10})" in latest.text and 'id="earlier-messages"' in latest.text
    assert "línea número 13" in latest.text and "línea número 3" not in latest.text
    first_shown = lines[-10][0]
    assert f"before={first_shown}" in latest.text
    older = await client.get(f"/c/{req.id}/part/messages?before={first_shown}")
    shown = min(10, len(lines) - 10)
    assert len(MESSAGE_ROW.findall(older.text)) == shown
    assert 'id="latest-messages"' in older.text
    assert "línea número 0" in older.text and "línea número 4" not in older.text
    whole = await client.get(f"/c/{req.id}?before={first_shown}")
    assert f"part/messages?before={first_shown}" in whole.text  # live updates keep the page


# --- erasure ---


def dead_letter_and_pending(stack: Runtime, contact_id: str) -> None:
    """A reply the platform refused for good (kept 72 h for staff) and one waiting for WhatsApp's
    window (held: the dispatcher leaves both alone, so the test sees them stay or go)."""
    with stack.db.session() as s:
        for status in ("dead", "held"):
            s.add(
                OutboxMessage(
                    contact_id=contact_id,
                    channel="telegram",
                    payload_enc=stack.crypto.encrypt(json.dumps({"text": "respuesta"})),
                    status=status,
                    attempts=10 if status == "dead" else 0,
                )
            )


def traces(stack: Runtime, contact_id: str, conversation_ids: set[str]) -> dict[str, int]:
    with stack.db.session() as s:
        return {
            "consents": s.scalar(
                select(func.count()).select_from(Consent).where(Consent.contact_id == contact_id)
            )
            or 0,
            "audit": s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.conversation_id.in_(conversation_ids))
            )
            or 0,
            "outbox": s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.contact_id == contact_id)
            )
            or 0,
        }


def count_rows_since(stack: Runtime, first_id: int) -> list[AuditEvent]:
    with stack.db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.id > first_id, AuditEvent.action == "erasure.audit_rows")
                .order_by(AuditEvent.id)
            )
        )


def last_audit_id(stack: Runtime) -> int:
    with stack.db.session() as s:
        return int(s.scalar(select(func.max(AuditEvent.id))) or 0)


@pytest.mark.parametrize("word", ["SALIR", "BORRAR"])
async def test_exit_and_delete_leave_no_consent_audit_row_or_outbox_message(
    stack: Runtime, signed_in: SignIn, staff: dict[str, Account], word: str
) -> None:
    client = await signed_in(staff["lucia"].email)
    survivor, other = Survivor(stack, "es", "MX"), Survivor(stack, "es", "MX")
    req, kept = await queued(survivor), await queued(other)
    mark = last_audit_id(stack)
    for hid in (req.id, req.id, kept.id):
        assert (await client.get(f"/c/{hid}")).status_code == 200  # audited: case.view
    with stack.db.session() as s:
        conversations = set(
            s.scalars(select(Conversation.id).where(Conversation.contact_id == survivor.contact_id))
        )
    dead_letter_and_pending(stack, survivor.contact_id)
    dead_letter_and_pending(stack, other.contact_id)
    before = traces(stack, survivor.contact_id, conversations)
    assert before == {"consents": 2, "audit": 2, "outbox": 2}  # handoff + summary consents
    other_before = traces(stack, other.contact_id, {kept.conversation_id})

    result = await survivor.say(word)
    assert result.mode == Mode.CLOSED and result.extras.get("erase_chat") is True
    assert traces(stack, survivor.contact_id, conversations) == {
        "consents": 0,
        "audit": 0,
        "outbox": 0,
    }
    counted = count_rows_since(stack, mark)
    how = "exit" if word == "SALIR" else "delete"
    assert [(e.staff_id, e.conversation_id, e.detail) for e in counted] == [
        (None, None, {"rows": 2, "by": how})
    ]
    assert traces(stack, other.contact_id, {kept.conversation_id}) == other_before
    with stack.db.session() as s:  # the other person's rows were only there to be kept
        s.execute(delete(OutboxMessage).where(OutboxMessage.contact_id == other.contact_id))
    gone = await client.get(f"/c/{req.id}")
    assert gone.status_code == 404


async def test_erasure_without_a_reply_leaves_nothing_either(stack: Runtime) -> None:
    """``bot eval`` forgets its test people this way: the same traces go."""
    survivor = Survivor(stack, "es", "MX")
    req = await queued(survivor)
    mark = last_audit_id(stack)  # (SQLite may reuse the id of a deleted last row)
    with stack.db.session() as s:
        s.add(AuditEvent(staff_id=None, action="case.view", conversation_id=req.conversation_id))
    dead_letter_and_pending(stack, survivor.contact_id)
    await stack.conversations.forget("telegram", survivor.user)
    assert traces(stack, survivor.contact_id, {req.conversation_id}) == {
        "consents": 0,
        "audit": 0,
        "outbox": 0,
    }
    assert [e.detail for e in count_rows_since(stack, mark)] == [{"rows": 1, "by": "delete"}]
