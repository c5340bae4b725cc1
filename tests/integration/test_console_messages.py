"""Admins edit messages from the console, over HTTP against the running stack (both databases).

What is checked is what matters: the problems an admin sees while typing (in their console
language), who may approve what, the text a survivor actually receives, the ``.po`` round trip,
and that the audit log never holds a message's text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po, write_po
from kit import (
    Account,
    SignIn,
    Survivor,
    clean_presence,
    csrf_of,
    signed_in,
    staff,
)
from sqlalchemy import delete, func, select

from bot.directory.seed import load_directory, merge_reference
from bot.nlg import edits
from bot.nlg.catalog import Catalog
from bot.nlg.lint import check
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store.console_models import AuditEvent
from bot.store.content_models import MessageEdit
from bot.store.db import Database

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name


@pytest.fixture
def restore_messages(stack: Runtime) -> Iterator[None]:
    """Every message edit made by the test is removed and the live catalog reloaded."""
    with stack.db.session() as s:
        before = s.scalar(select(func.max(MessageEdit.id))) or 0
    yield
    with stack.db.session() as s:
        s.execute(delete(MessageEdit).where(MessageEdit.id > before))
        edits.load_live(s, stack.catalog)


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def drafts_for(stack: Runtime, key: str, language: str) -> list[MessageEdit]:
    with stack.db.session() as s:
        return [e for e in edits.history(s, key, language) if e.status == "draft"]


def message_audit(stack: Runtime, since: int) -> list[AuditEvent]:
    with stack.db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.id > since, AuditEvent.action.like("message.%"))
                .order_by(AuditEvent.id)
            )
        )


def last_audit_id(stack: Runtime) -> int:
    with stack.db.session() as s:
        return s.scalar(select(func.max(AuditEvent.id))) or 0


async def thanks_reply(stack: Runtime, language: str) -> str:
    words = {"es": ("hola", "muchas gracias"), "pt": ("oi", "obrigado")}
    hello, thanks = words[language]
    survivor = Survivor(stack, language)
    await survivor.say(hello)
    await survivor.say("1")
    result = await survivor.say(thanks)
    assert result.replies[-1].key == "utter_thanks", [r.key for r in result.replies]
    return result.replies[-1].text


async def crisis_reply(stack: Runtime) -> str:
    survivor = Survivor(stack, "fr", "HT")
    result = await survivor.say("au secours ils m'ont enfermée dans la chambre")
    assert result.replies[0].key == "utter_crisis", [r.key for r in result.replies]
    return result.replies[0].text


async def test_checks_and_preview_as_the_admin_types(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore_messages: None
) -> None:
    ada = await signed_in(staff["ada"].email)  # console in Spanish
    token = await form_token(ada, "/messages/utter_crisis/pt")
    typed = "Tudo bem, amig@s.\n{emergency} {country_name}\n{hotline_lines}\nQuer falar com alguém?"
    live = await ada.post("/messages/utter_crisis/pt/check", data={"csrf": token, "text": typed})
    assert live.status_code == 200
    # The problem, in the admin's console language, and marked as an error.
    assert 'data-code="inclusive"' in live.text
    assert "dentro de las palabras" in live.text
    assert 'data-errors="1"' in live.text
    assert "Nivel de lectura" in live.text and f"Longitud: {len(typed)} caracteres" in live.text
    # The phone preview: the first line on the lock screen, numbers from the directory, the
    # message's buttons in its language; swapped in beside the checks (out of band).
    assert 'id="msgedit-preview" class="msgedit-phone" hx-swap-oob="true"' in live.text
    notification = re.search(r'id="msgedit-notification-text"[^>]*>([^<]*)<', live.text)
    assert notification and notification.group(1) == "Tudo bem, amig@s."
    bubble = re.search(r'id="msgedit-bubble"[^>]*>([^<]*)<', live.text, re.S)
    assert bubble and "190" in bubble.group(1) and "{emergency}" not in bubble.group(1)
    assert '<li lang="pt">Sim</li>' in live.text

    fixed = typed.replace("amig@s", "tudo certo")
    clean = await ada.post("/messages/utter_crisis/pt/check", data={"csrf": token, "text": fixed})
    assert 'data-code="inclusive"' not in clean.text and 'data-errors="0"' in clean.text

    long_first = (
        "Olá " + "muito " * 20 + "policia\n{emergency} {country_name}\n{hotline_lines}\nSim?"
    )
    cut = await ada.post(
        "/messages/utter_crisis/pt/check", data={"csrf": token, "text": long_first}
    )
    shown = re.search(r'id="msgedit-notification-text"[^>]*>([^<]*)<', cut.text)
    assert shown and shown.group(1).endswith("…") and len(shown.group(1)) <= 80
    assert drafts_for(stack, "utter_crisis", "pt") == []  # checking never saves anything


async def test_csrf_and_roles_are_enforced(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore_messages: None
) -> None:
    ada = await signed_in(staff["ada"].email)
    refused = await ada.post("/messages/utter_thanks/pt", data={"csrf": "forged", "text": "Oi.\nx"})
    assert refused.status_code == 403
    check = await ada.post("/messages/utter_thanks/pt/check", data={"text": "Oi"})
    assert check.status_code == 403
    assert drafts_for(stack, "utter_thanks", "pt") == []

    for who in ("lucia", "sol"):  # staff and supervisors do not edit what the assistant says
        client = await signed_in(staff[who].email)
        for path in ("/messages", "/messages/utter_thanks/pt", "/messages/po/export?lang=pt"):
            page = await client.get(path)
            assert page.status_code == 403, (who, path)
            assert "msgedit-text" not in page.text and "msgid" not in page.text
    missing = await ada.get("/messages/not_a_message/pt")
    assert missing.status_code == 404


async def test_a_draft_reaches_survivors_only_after_approval(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore_messages: None
) -> None:
    before = await thanks_reply(stack, "pt")
    new = "De nada.\nEstou aqui se precisar de mais alguma coisa."
    ada = await signed_in(staff["ada"].email)
    token = await form_token(ada, "/messages/utter_thanks/pt")
    saved = await ada.post("/messages/utter_thanks/pt", data={"csrf": token, "text": new})
    assert "done=saved" in str(saved.url)
    assert "Borrador guardado" in saved.text
    [draft] = drafts_for(stack, "utter_thanks", "pt")
    assert await thanks_reply(stack, "pt") == before  # a draft is not live

    # Not safety-critical: the author may approve it, and it is live at once.
    assert f'id="msgedit-approve-{draft.id}"' in saved.text
    approved = await ada.post(f"/messages/drafts/{draft.id}/approve", data={"csrf": token})
    assert "done=approved" in str(approved.url)
    assert await thanks_reply(stack, "pt") == new
    listing = await ada.get("/messages?lang=pt&q=estou+aqui+se+precisar")
    assert 'data-key="utter_thanks"' in listing.text and "editado" in listing.text


async def test_author_cannot_approve_a_safety_critical_draft(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore_messages: None
) -> None:
    old = await crisis_reply(stack)
    ada = await signed_in(staff["ada"].email)
    token = await form_token(ada, "/messages/utter_crisis/fr")
    new = stack.catalog.text("utter_crisis", "fr").replace("Je suis là.", "Bien reçu.", 1)
    assert new != stack.catalog.text("utter_crisis", "fr")
    page = await ada.post("/messages/utter_crisis/fr", data={"csrf": token, "text": new})
    [draft] = drafts_for(stack, "utter_crisis", "fr")
    assert draft.safety_critical
    assert f'id="msgedit-approve-{draft.id}"' not in page.text  # not offered to the author
    assert f'id="msgedit-own-{draft.id}"' in page.text and "otra persona" in page.text

    forced = await ada.post(f"/messages/drafts/{draft.id}/approve", data={"csrf": token})
    assert "problem=own" in str(forced.url)  # the server refuses too
    assert drafts_for(stack, "utter_crisis", "fr")[0].status == "draft"
    assert await crisis_reply(stack) == old

    noa = await signed_in(staff["noa"].email)
    waiting = await noa.get("/messages/waiting")
    assert f'data-draft="{draft.id}"' in waiting.text
    count = re.search(r'id="msgedit-waiting-count">(\d+)<', waiting.text)
    with stack.db.session() as s:
        drafts = len(edits.waiting(s))  # every draft of the shared stack, this one among them
    assert count and int(count.group(1)) == drafts
    editor = await noa.get("/messages/utter_crisis/fr")
    assert f'id="msgedit-approve-{draft.id}"' in editor.text
    await noa.post(f"/messages/drafts/{draft.id}/approve", data={"csrf": csrf_of(editor.text)})
    assert (await crisis_reply(stack)).startswith("Bien reçu.")


async def test_history_restore_and_back_to_the_default(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore_messages: None
) -> None:
    default = stack.catalog.text("utter_thanks", "pt")
    first, second = "Com prazer.\nEstou aqui.", "De nada.\nPode escrever quando quiser."
    ada = await signed_in(staff["ada"].email)
    token = await form_token(ada, "/messages/utter_thanks/pt")
    for text in (first, second):
        await ada.post("/messages/utter_thanks/pt", data={"csrf": token, "text": text})
        [draft] = drafts_for(stack, "utter_thanks", "pt")
        await ada.post(f"/messages/drafts/{draft.id}/approve", data={"csrf": token})
    assert await thanks_reply(stack, "pt") == second

    history = await ada.get("/messages/utter_thanks/pt/history")
    versions = [int(v) for v in re.findall(r'data-version="(\d+)"', history.text)]
    assert len(versions) == 2 and versions[0] > versions[1]  # newest first
    assert "Ada" in history.text and "En uso ahora" in history.text
    assert f'id="msgedit-restore-{versions[0]}"' not in history.text  # the live one
    restored = await ada.post(
        "/messages/utter_thanks/pt/restore", data={"csrf": token, "version": str(versions[1])}
    )
    assert "done=restored" in str(restored.url)
    assert await thanks_reply(stack, "pt") == first

    back = await ada.post(
        "/messages/utter_thanks/pt/restore", data={"csrf": token, "version": "default"}
    )
    assert 'id="msgedit-default-live"' in back.text
    assert await thanks_reply(stack, "pt") == default


async def test_po_export_then_import_creates_drafts_only(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore_messages: None
) -> None:
    since = last_audit_id(stack)
    ada = await signed_in(staff["ada"].email)
    exported = await ada.get("/messages/po/export?lang=pt")
    assert exported.headers["content-disposition"] == 'attachment; filename="pt.po"'
    po = read_po(io.BytesIO(exported.content))
    thanks = po.get(stack.catalog.sources["utter_thanks"], context="utter_thanks")
    assert thanks is not None and thanks.string == stack.catalog.text("utter_thanks", "pt")

    new = "Obrigado você.\nEstou por aqui."
    thanks.string = new
    pause = po.get(stack.catalog.sources["utter_pause"], context="utter_pause")
    goodbye = po.get(stack.catalog.sources["utter_goodbye"], context="utter_goodbye")
    bad = po.get(stack.catalog.sources["utter_stop"], context="utter_stop")
    assert pause is not None and goodbye is not None and bad is not None
    pause.string = ""  # untranslated
    goodbye.string, goodbye.flags = "Tchau.\nAté logo, {delete_word}.", {"fuzzy"}
    bad.string = "Certo.\nLigue para 555 123 4567."
    buffer = io.BytesIO()
    write_po(buffer, po)

    token = await form_token(ada, "/messages/po")
    preview = await ada.post(
        "/messages/po/upload",
        data={"csrf": token, "lang": "pt"},
        files={"file": ("pt.po", buffer.getvalue(), "text/x-gettext-translation")},
    )
    assert re.findall(r'<tr data-key="(\w+)"', preview.text) == ["utter_thanks", "utter_stop"]
    assert "Estou por aqui." in preview.text  # old → new, per key
    assert 'data-code="number"' in preview.text  # the entry that fails the checks
    assert drafts_for(stack, "utter_thanks", "pt") == []  # showing saves nothing

    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload
    imported = await ada.post(
        "/messages/po/import",
        data={"csrf": token, "lang": "pt", "payload": payload.group(1), "key": ["utter_thanks"]},
    )
    assert "done=imported" in str(imported.url) and "count=1" in str(imported.url)
    [draft] = drafts_for(stack, "utter_thanks", "pt")
    assert draft.text == new and draft.author == staff["ada"].id
    assert drafts_for(stack, "utter_stop", "pt") == []  # not ticked
    assert stack.catalog.text("utter_thanks", "pt") != new  # a draft, never live text
    assert stack.catalog.text("utter_pause", "pt").strip()  # empty entry: the default stays

    wrong = await ada.post(
        "/messages/po/upload",
        data={"csrf": token, "lang": "es"},
        files={"file": ("pt.po", buffer.getvalue(), "text/x-gettext-translation")},
    )
    assert "problem=language" in str(wrong.url)
    junk = await ada.post(
        "/messages/po/upload",
        data={"csrf": token, "lang": "pt"},
        files={"file": ("pt.po", b"\xff\xfe not a po file", "text/plain")},
    )
    assert "problem=unreadable" in str(junk.url)

    actions = [(e.action, e.detail) for e in message_audit(stack, since)]
    assert ("message.po_export", {"lang": "pt"}) in actions
    assert ("message.po_import", {"lang": "pt", "drafts": 1}) in actions


async def test_audit_rows_hold_keys_and_languages_never_text(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore_messages: None
) -> None:
    since = last_audit_id(stack)
    text = "Obrigado pela mensagem.\nSigo por aqui."
    ada = await signed_in(staff["ada"].email)
    token = await form_token(ada, "/messages/utter_thanks/pt")
    await ada.post("/messages/utter_thanks/pt", data={"csrf": token, "text": text})
    await ada.post("/messages/utter_thanks/pt", data={"csrf": token, "text": text + " Bem."})
    first, second = sorted(drafts_for(stack, "utter_thanks", "pt"), key=lambda e: e.id)
    await ada.post(f"/messages/drafts/{first.id}/approve", data={"csrf": token})
    await ada.post(f"/messages/drafts/{second.id}/reject", data={"csrf": token})
    await ada.post("/messages/utter_thanks/pt/restore", data={"csrf": token, "version": "default"})

    events = message_audit(stack, since)
    assert [e.action for e in events] == [
        "message.draft",
        "message.draft",
        "message.approve",
        "message.reject",
        "message.rollback",
    ]
    for event in events:
        assert event.staff_id == staff["ada"].id
        assert event.detail["key"] == "utter_thanks" and event.detail["lang"] == "pt"
        for value in event.detail.values():
            assert not isinstance(value, str) or re.fullmatch(r"[a-z0-9_.:-]{0,40}", value)
            assert "Obrigado" not in str(value) and "Sigo" not in str(value)


# --- the service layer the pages rely on (bot/nlg/edits.py, bot/nlg/lint.py), no stack needed ---


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'msgedit.sqlite3'}")
    database.migrate()
    with database.session() as s:
        load_directory(s, Settings().sample_directory)
        merge_reference(s, Settings().countries_file)
    yield database
    database.dispose()


def test_problems_carry_what_the_console_shows(db: Database) -> None:
    with db.session() as s:
        found = {p.code: p for p in edits.lint(s, "utter_crisis", "es", "Vale {x.y}.\nLlama ya.")}
    assert found["braces"].severity == "error"  # a stray brace would break the message
    assert found["placeholders"].params["wanted"] == "{country_name}, {emergency}, {hotline_lines}"
    assert found["question_missing"].severity == "error"
    wording = check(
        "Hola.\n¿Por qué no te fuiste?",
        "es",
        "Hi.\nQ?",
        whole_message=True,
        safety_critical=False,
        question=False,
    )
    assert [p.params for p in wording if p.code == "wording"] == [{"phrase": "por qué"}]
    long_first = "Hola " + "y " * 30 + "policía\nx"
    first = check(
        long_first, "es", "Hi\nx", whole_message=True, safety_critical=False, question=False
    )
    assert {"code": "first_line", "word": "policía"} in [
        {"code": p.code, **p.params} for p in first
    ]  # the whole span a lock screen shows is checked, not only 60 characters


def test_a_late_approval_wins_and_the_default_comes_back(db: Database) -> None:
    catalog = Catalog(["pt"])
    default = catalog.text("utter_thanks", "pt")
    with db.session() as s:
        older = edits.propose(s, "utter_thanks", "pt", "Com prazer.\nEstou aqui.", "ana")
        newer = edits.propose(s, "utter_thanks", "pt", "De nada.\nAté logo.", "ana")
        edits.approve(s, catalog, newer.edit.id, "ana")
        edits.approve(s, catalog, older.edit.id, "ana")  # written first, approved last
        assert catalog.text("utter_thanks", "pt") == "Com prazer.\nEstou aqui."
        reset = edits.restore_default(s, catalog, "utter_thanks", "pt", "bruno")
        assert reset.text == "" and reset.status == "approved"
        assert catalog.text("utter_thanks", "pt") == default
        assert ("utter_thanks", "pt") not in edits.live_versions(s)
        edits.rollback(s, catalog, older.edit.id, "bruno")  # the reset is undone like any other
        assert catalog.text("utter_thanks", "pt") == "Com prazer.\nEstou aqui."
        assert [e.id for e in edits.waiting(s)] == []


def test_a_version_that_fails_todays_checks_is_not_restored(db: Database) -> None:
    catalog = Catalog(["en"])
    with db.session() as s:
        edit = edits.propose(s, "utter_thanks", "en", "Thanks.\nBye.", "ana").edit
        edits.approve(s, catalog, edit.id, "ana")
        edit.text = "Thanks.\nCall 555 123 4567."  # as if the number left the directory
        with pytest.raises(edits.EditRefused, match="not in the directory"):
            edits.rollback(s, catalog, edit.id, "bruno")


def test_uploaded_po_files_are_checked_before_anything_is_saved(db: Database) -> None:
    catalog = Catalog(["fr"])
    exported = edits.po_bytes(catalog, "fr")
    assert b"safety-critical: a second admin approves changes" in exported
    with db.session() as s:
        assert edits.po_changes(s, catalog, "fr", exported) == []  # nothing differs
        for data, code in (
            (b"\xff\xfe\x00", "unreadable"),
            (b"this is not\na po file", "unreadable"),
            (exported.replace(b"Language: fr", b"Language: es"), "language"),
            (b'msgid ""\nmsgstr ""\n\nmsgid "a"\nmsgstr "b"\n', "no_messages"),
        ):
            with pytest.raises(edits.PoRefused) as refused:
                edits.po_changes(s, catalog, "fr", data)
            assert refused.value.code == code
        assert s.scalar(select(func.count(MessageEdit.id))) == 0
