"""Admins change what the assistant says: drafts, approval (two people for safety-critical texts),
history, rollback, and ``.po`` files for translators. Approved texts go live at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.pofile import read_po, write_po
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.nlg.catalog import Catalog, source_texts
from bot.nlg.lint import Problem, check
from bot.nlg.messages import BUTTON_TEXTS, MESSAGES
from bot.store.content_models import MessageEdit
from bot.store.models import Service, utcnow


class EditRefused(Exception):
    """The edit cannot be approved as it is; the message says why, in plain words."""


@dataclass
class Proposal:
    edit: MessageEdit
    problems: list[Problem]


def known_numbers(session: Session) -> set[str]:
    import re

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
        raise EditRefused(f"there is no message called {key}")
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
        raise EditRefused("this edit is not waiting for approval")
    if edit.safety_critical and approver == edit.author:
        raise EditRefused("a safety-critical text needs a second admin's approval")
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
        raise EditRefused("this edit is not waiting for approval")
    edit.status, edit.approver, edit.decided_at = "rejected", approver, utcnow()


def rollback(session: Session, catalog: Catalog, edit_id: int, admin: str) -> MessageEdit:
    """Make an earlier approved text live again (it was reviewed when first approved)."""
    old = session.get(MessageEdit, edit_id)
    if old is None or old.status != "approved":
        raise EditRefused("only an approved version can be restored")
    again = MessageEdit(
        key=old.key,
        language=old.language,
        text=old.text,
        author=admin,
        approver=admin,
        status="approved",
        safety_critical=old.safety_critical,
        note=f"rollback to #{old.id}",
        decided_at=utcnow(),
    )
    session.add(again)
    session.flush()
    load_live(session, catalog)
    return again


def history(session: Session, key: str, language: str) -> list[MessageEdit]:
    return list(
        session.scalars(
            select(MessageEdit)
            .where(MessageEdit.key == key, MessageEdit.language == language)
            .order_by(MessageEdit.id.desc())
        )
    )


def load_live(session: Session, catalog: Catalog) -> None:
    """Put the newest approved text of every message into the running catalog."""
    live: dict[tuple[str, str], str] = {}
    for edit in session.scalars(
        select(MessageEdit).where(MessageEdit.status == "approved").order_by(MessageEdit.id)
    ):
        live[(edit.key, edit.language)] = edit.text
    catalog.set_overrides(live)


def export_po(catalog: Catalog, language: str, path: Path) -> None:
    po = PoCatalog(locale=language, project="safe-harbour-assistant")
    for key, source in source_texts().items():
        po.add(source, string=catalog.text(key, language), context=key)
    with path.open("wb") as fh:
        write_po(fh, po, width=100)


def import_po(
    session: Session, catalog: Catalog, language: str, path: Path, author: str
) -> list[Proposal]:
    """Every text that differs from what is live becomes a draft (approval as usual)."""
    with path.open("rb") as fh:
        po = read_po(fh, locale=language)
    proposals = []
    sources = source_texts()
    for message in po:
        if not message.context or message.context not in sources or message.fuzzy:
            continue
        text = message.string if isinstance(message.string, str) else ""
        if text.strip() and text != catalog.text(message.context, language):
            proposals.append(propose(session, message.context, language, text, author))
    return proposals
