"""Admins change what the assistant says: drafts, approval (two people for safety-critical texts),
history, rollback, and ``.po`` files for translators. Approved texts go live at once."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from babel.core import UnknownLocaleError
from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.pofile import PoFileError, read_po, write_po
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.nlg.catalog import Catalog, source_texts
from bot.nlg.lint import Problem, check
from bot.nlg.messages import BUTTON_TEXTS, MESSAGES
from bot.store.approvals import existed_before
from bot.store.content_models import MessageEdit
from bot.store.models import Service, utcnow


class EditRefused(Exception):
    """The edit cannot be approved as it is; the message says why, in plain words, and ``code``
    says it for the console: "unknown", "decided" (not a draft any more), "own" (a safety-critical
    draft and its author), "errors" (the checks fail) or "not_approved"."""

    def __init__(self, message: str, code: str = "errors") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Proposal:
    edit: MessageEdit
    problems: list[Problem]


@dataclass
class Change:
    """One entry of an uploaded ``.po`` file whose text differs from what is live."""

    key: str
    old: str
    new: str
    problems: list[Problem]


# A version whose text is empty means "back to the reviewed default" (the catalog's text).
DEFAULT_NOTE = "default"


def known_numbers(session: Session) -> set[str]:
    numbers: set[str] = set()
    for svc in session.scalars(select(Service)):
        for phone in svc.phones or []:
            numbers.add(re.sub(r"\D", "", str(phone.get("number", ""))))
    return numbers


def lint(session: Session, key: str, language: str, text: str) -> list[Problem]:
    source = source_texts()[key]
    definition = MESSAGES.get(key)
    return check(
        text,
        language,
        source,
        whole_message=key.startswith("utter_") or key == "service_card_title",
        safety_critical=bool(definition and definition.safety_critical),
        question=bool(definition and definition.question),
        known_numbers=known_numbers(session),
        button=key in BUTTON_TEXTS,
    )


def propose(session: Session, key: str, language: str, text: str, author: str) -> Proposal:
    if key not in source_texts():
        raise EditRefused(f"there is no message called {key}", "unknown")
    definition = MESSAGES.get(key)
    edit = MessageEdit(
        key=key,
        language=language,
        text=text,
        author=author,
        safety_critical=bool(definition and definition.safety_critical),
    )
    session.add(edit)
    session.flush()
    return Proposal(edit, lint(session, key, language, text))


def approve(session: Session, catalog: Catalog, edit_id: int, approver: str) -> MessageEdit:
    edit = session.get(MessageEdit, edit_id)
    if edit is None or edit.status != "draft":
        raise EditRefused("this edit is not waiting for approval", "decided")
    if edit.safety_critical and approver == edit.author:
        raise EditRefused("a safety-critical text needs a second admin's approval", "own")
    if edit.safety_critical and not existed_before(session, approver, edit.created_at):
        # Otherwise one admin could invite a second account and approve their own change with it.
        raise EditRefused("an account made after this draft cannot approve it", "newer")
    errors = [p for p in lint(session, edit.key, edit.language, edit.text) if p.severity == "error"]
    if errors:
        raise EditRefused("; ".join(p.message for p in errors))
    edit.status, edit.approver, edit.decided_at = "approved", approver, utcnow()
    session.flush()
    load_live(session, catalog)
    return edit


def reject(session: Session, edit_id: int, approver: str) -> None:
    edit = session.get(MessageEdit, edit_id)
    if edit is None or edit.status != "draft":
        raise EditRefused("this edit is not waiting for approval", "decided")
    edit.status, edit.approver, edit.decided_at = "rejected", approver, utcnow()


def rollback(session: Session, catalog: Catalog, edit_id: int, admin: str) -> MessageEdit:
    """Make an earlier approved text live again.

    One admin is enough, even for a safety-critical text: the version was approved before (by
    two people when it is safety-critical), and undoing a bad text must not wait for a second
    person. The checks run again, because the directory may have changed since (a number that
    is no longer listed blocks the restore).
    """
    old = session.get(MessageEdit, edit_id)
    if old is None or old.status != "approved":
        raise EditRefused("only an approved version can be restored", "not_approved")
    if old.text:
        errors = [
            p for p in lint(session, old.key, old.language, old.text) if p.severity == "error"
        ]
        if errors:
            raise EditRefused("; ".join(p.message for p in errors))
    again = MessageEdit(
        key=old.key,
        language=old.language,
        text=old.text,
        author=admin,
        approver=admin,
        status="approved",
        safety_critical=old.safety_critical,
        note=DEFAULT_NOTE if not old.text else f"rollback to #{old.id}",
        decided_at=utcnow(),
    )
    session.add(again)
    session.flush()
    load_live(session, catalog)
    return again


def restore_default(
    session: Session, catalog: Catalog, key: str, language: str, admin: str
) -> MessageEdit:
    """Go back to the catalog's reviewed text: an approved version with no text of its own.

    Kept in the history like any other version, so it can itself be undone.
    """
    if key not in source_texts():
        raise EditRefused(f"there is no message called {key}", "unknown")
    definition = MESSAGES.get(key)
    reset = MessageEdit(
        key=key,
        language=language,
        text="",
        author=admin,
        approver=admin,
        status="approved",
        safety_critical=bool(definition and definition.safety_critical),
        note=DEFAULT_NOTE,
        decided_at=utcnow(),
    )
    session.add(reset)
    session.flush()
    load_live(session, catalog)
    return reset


def waiting(session: Session) -> list[MessageEdit]:
    """Every draft from everyone, oldest first, so a second admin finds what waits longest."""
    return list(
        session.scalars(
            select(MessageEdit).where(MessageEdit.status == "draft").order_by(MessageEdit.id)
        )
    )


def history(session: Session, key: str, language: str) -> list[MessageEdit]:
    return list(
        session.scalars(
            select(MessageEdit)
            .where(MessageEdit.key == key, MessageEdit.language == language)
            .order_by(MessageEdit.id.desc())
        )
    )


def live_versions(session: Session) -> dict[tuple[str, str], MessageEdit]:
    """The approved version in force for every (key, language) an admin changed.

    The last one approved wins (approval order, not writing order: a draft written earlier and
    approved later is what survivors should get). A "back to the default" version removes the
    entry, so the catalog's reviewed text applies again.
    """
    live: dict[tuple[str, str], MessageEdit] = {}
    for edit in session.scalars(
        select(MessageEdit)
        .where(MessageEdit.status == "approved")
        .order_by(MessageEdit.decided_at, MessageEdit.id)
    ):
        if edit.text:
            live[(edit.key, edit.language)] = edit
        else:
            live.pop((edit.key, edit.language), None)
    return live


def load_live(session: Session, catalog: Catalog) -> None:
    """Put the approved text in force of every message into the running catalog."""
    catalog.set_overrides({where: e.text for where, e in live_versions(session).items()})


def po_bytes(catalog: Catalog, language: str) -> bytes:
    """The language's catalog with the live edits applied: what survivors read today."""
    po = PoCatalog(locale=language, project="safe-harbour-assistant")
    for key, source in source_texts().items():
        definition = MESSAGES.get(key)
        comments = (
            ["safety-critical: a second admin approves changes"]
            if (definition and definition.safety_critical)
            else []
        )
        po.add(source, string=catalog.text(key, language), context=key, auto_comments=comments)
    out = io.BytesIO()
    write_po(out, po, width=100)
    return out.getvalue()


def export_po(catalog: Catalog, language: str, path: Path) -> None:
    path.write_bytes(po_bytes(catalog, language))


class PoRefused(EditRefused):
    """The uploaded file cannot be read as a ``.po`` file of the chosen language."""

    def __init__(self, code: str) -> None:
        super().__init__(code, code)  # "unreadable", "language" or "no_messages"


def po_changes(session: Session, catalog: Catalog, language: str, data: bytes) -> list[Change]:
    """What an uploaded ``.po`` file would change, entry by entry, with each new text's problems.

    Untranslated (empty) and fuzzy entries change nothing: the live text stays, and a message
    without a translation keeps falling back to the reviewed default, never to an empty text.
    """
    try:
        po = read_po(io.BytesIO(data), abort_invalid=True)  # a bad line refuses the whole file
    except (PoFileError, ValueError, UnknownLocaleError) as exc:  # UnicodeDecodeError included
        raise PoRefused("unreadable") from exc
    if po.locale_identifier and po.locale_identifier.split("_")[0] != language:
        raise PoRefused("language")
    sources = source_texts()
    entries = [m for m in po if m.context in sources]
    if not entries:
        raise PoRefused("no_messages")
    changes = []
    for message in entries:
        key = str(message.context)
        if message.fuzzy:
            continue
        text = message.string if isinstance(message.string, str) else ""
        text = re.sub(r"\r\n?", "\n", text)
        old = catalog.text(key, language)
        if text.strip() and text != old:
            changes.append(Change(key, old, text, lint(session, key, language, text)))
    return changes


def import_po(
    session: Session, catalog: Catalog, language: str, path: Path, author: str
) -> list[Proposal]:
    """Every text that differs from what is live becomes a draft (approval as usual)."""
    changes = po_changes(session, catalog, language, path.read_bytes())
    return [propose(session, c.key, language, c.new, author) for c in changes]
