"""Admins edit every message in every language: the list of messages (searchable, filtered to
safety-critical ones or those with drafts) and the drafts waiting for a second admin's approval,
with the page frame every message-editing page shares (the waiting count, staff names). The rules
live in ``bot/nlg/edits.py`` (drafts, two-person approval of safety-critical texts, rollback,
``.po`` files) and ``bot/nlg/lint.py`` (the checks); these pages only show them, and text never
reaches the audit log. One message's editor is in ``views_messages_editor.py``, its checks and
phone preview in ``views_messages_preview.py``, translators' files in ``views_messages_po.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.nlg import edits
from bot.nlg.catalog import source_texts
from bot.nlg.messages import MESSAGES
from bot.store.console_models import StaffUser


def names(console: Console) -> dict[str, str]:
    with console.rt.db.session() as s:
        return {u.id: u.display_name for u in s.scalars(select(StaffUser))}


def page(
    console: Console, request: Request, staff: Staff, template: str, **context: Any
) -> Response:
    """A page of this area: every one shows how many drafts wait for approval."""
    if "waiting_count" not in context:
        with console.rt.db.session() as s:
            context["waiting_count"] = len(edits.waiting(s))
    return console.html(request, staff, template, **context)


# The list is shown in groups, each folded until opened (186 messages in one table made a page
# 16,000 px long). A search or a filter opens every group that has a match.
GROUPS = ("replies", "buttons", "directory", "webchat", "other")
_GROUP_OF_PREFIX = {
    "utter": "replies",
    "button": "buttons",
    "service": "directory",
    "category": "directory",
    "card": "directory",
    "hotline": "directory",
    "webchat": "webchat",
}


def group_of(key: str) -> str:
    """Which fold of the list a message sits in, by the first word of its key."""
    return _GROUP_OF_PREFIX.get(key.split("_", 1)[0], "other")


@dataclass
class Group:
    name: str
    rows: list[Row]
    open: bool


@dataclass
class Row:
    key: str
    source: str
    live: str
    safety_critical: bool
    drafts: set[str]  # languages with a draft waiting
    edited: set[str]  # languages where an approved edit is live


async def index(console: Console, request: Request, staff: Staff) -> Response:
    params = request.query_params
    language = params.get("lang") or console.language(request, staff)
    if language not in console.settings.languages:
        language = console.settings.languages[0]
    query = params.get("q", "").strip()[:100]
    only_safety = params.get("safety") == "1"
    only_drafts = params.get("drafts") == "1"
    with console.rt.db.session() as s:
        waiting = edits.waiting(s)
        live = edits.live_versions(s)
    drafts: dict[str, set[str]] = {}
    for edit in waiting:
        drafts.setdefault(edit.key, set()).add(edit.language)
    edited: dict[str, set[str]] = {}
    for key, lang in live:
        edited.setdefault(key, set()).add(lang)
    rows = []
    folded = query.casefold()
    for key, source in source_texts().items():
        definition = MESSAGES.get(key)
        text = console.rt.catalog.text(key, language)
        row = Row(
            key,
            source,
            text,
            bool(definition and definition.safety_critical),
            drafts.get(key, set()),
            edited.get(key, set()),
        )
        if only_safety and not row.safety_critical:
            continue
        if only_drafts and not row.drafts:
            continue
        if folded and folded not in text.casefold() and folded not in key:
            continue
        rows.append(row)
    filtered = bool(query or only_safety or only_drafts)
    opened = params.get("open", "")
    groups = [
        Group(name, members, filtered or opened == name)
        for name in GROUPS
        if (members := [r for r in rows if group_of(r.key) == name])
    ]
    return page(
        console,
        request,
        staff,
        "msgedit.html",
        rows=rows,
        groups=groups,
        total=len(source_texts()),
        language=language,
        query=query,
        only_safety=only_safety,
        only_drafts=only_drafts,
        waiting_count=len(waiting),
    )


async def waiting_list(console: Console, request: Request, staff: Staff) -> Response:
    with console.rt.db.session() as s:
        drafts = edits.waiting(s)
        errors = {
            d.id: sum(1 for p in edits.lint(s, d.key, d.language, d.text) if p.severity == "error")
            for d in drafts
        }
    return page(
        console,
        request,
        staff,
        "msgedit_waiting.html",
        drafts=drafts,
        waiting_count=len(drafts),
        errors=errors,
        names=names(console),
        done=request.query_params.get("done", ""),
        count=request.query_params.get("count", ""),
    )


def routes(console: Console) -> list[Route]:
    admin = "admin"
    return [
        Route("/messages", console.guard(index, admin)),
        Route("/messages/waiting", console.guard(waiting_list, admin)),
    ]
