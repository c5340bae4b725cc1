"""One message in one language: the editor (saving a draft, starting from an earlier draft), the
live checks as the admin types, approving or rejecting a draft, its history, and restoring an
approved version or the reviewed default. It is apart from the list because its routes take a
message key and a language from the path, checked here once (``target``) for all of them, and
because ``/messages/{key}/{lang}`` must be mounted after every fixed ``/messages/...`` path
(``bot/console/app.py`` lists it last)."""

from __future__ import annotations

import re
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.console.views_messages import names, page
from bot.console.views_messages_preview import checks_context
from bot.events import MESSAGES_CHANGED, Event
from bot.http_limits import client_int
from bot.nlg import edits
from bot.nlg.catalog import Catalog, source_texts
from bot.nlg.messages import MESSAGES
from bot.store.content_models import MessageEdit

MAX_TEXT = 4000  # far above the checks' limit: the checks, not a cut, tell the admin


@lru_cache(maxsize=4)
def reviewed(languages: tuple[str, ...]) -> Catalog:
    """The catalogs as reviewed (no admin edits): what "Back to the default" restores."""
    return Catalog(list(languages))


def defaults(console: Console) -> Catalog:
    return reviewed(tuple(console.settings.languages))


def whole_message(key: str) -> bool:
    return key.startswith("utter_") or key == "service_card_title"


def target(console: Console, request: Request) -> tuple[str, str] | None:
    key = str(request.path_params["key"])
    language = str(request.path_params["lang"])
    if key not in source_texts() or language not in console.settings.languages:
        return None
    return key, language


def not_found(console: Console, request: Request, staff: Staff) -> Response:
    return console.error(request, staff, 404, "message")


async def editor(console: Console, request: Request, staff: Staff) -> Response:
    found = target(console, request)
    if found is None:
        return not_found(console, request, staff)
    key, language = found
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        text = normalise(str(form.get("text", "")))
        if not text.strip():
            return console.go(f"/messages/{key}/{language}?problem=empty")
        with console.rt.db.session() as s:
            proposal = edits.propose(s, key, language, text, staff.id)
            edit_id = proposal.edit.id
        console.audit(staff.id, "message.draft", key=key, lang=language, edit=edit_id)
        return console.go(f"/messages/{key}/{language}?done=saved&from={edit_id}#draft-{edit_id}")
    with console.rt.db.session() as s:
        drafts = [d for d in edits.history(s, key, language) if d.status == "draft"]
        draft_problems = {d.id: edits.lint(s, d.key, d.language, d.text) for d in drafts}
    text = console.rt.catalog.text(key, language)
    start_from = next((d for d in drafts if str(d.id) == request.query_params.get("from")), None)
    if start_from is not None:
        text = start_from.text
    definition = MESSAGES.get(key)
    return page(
        console,
        request,
        staff,
        "msgedit_editor.html",
        key=key,
        language=language,
        text=text,
        source=source_texts()[key],
        others=[(lang, console.rt.catalog.text(key, lang)) for lang in console.settings.languages],
        safety_critical=bool(definition and definition.safety_critical),
        part=not whole_message(key),
        drafts=drafts,
        draft_problems=draft_problems,
        names=names(console),
        done=request.query_params.get("done", ""),
        problem=request.query_params.get("problem", ""),
        max_text=MAX_TEXT,
        from_draft=start_from.id if start_from else None,
        oob=False,
        **checks_context(console, key, language, text, staff),
    )


async def live_checks(console: Console, request: Request, staff: Staff) -> Response:
    """The checks and the phone preview for the text being typed (htmx, as the admin types)."""
    found = target(console, request)
    if found is None:
        return not_found(console, request, staff)
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    key, language = found
    text = normalise(str(form.get("text", "")))
    return console.html(
        request,
        staff,
        "_msgedit_checks.html",
        key=key,
        language=language,
        oob=True,
        **checks_context(console, key, language, text, staff),
    )


def normalise(text: str) -> str:
    """Browsers send line ends as CRLF; messages use LF. Too long a paste is cut."""
    return re.sub(r"\r\n?", "\n", text)[:MAX_TEXT]


async def decide(console: Console, request: Request, staff: Staff) -> Response:
    """Approve or reject a draft; the rules (second admin, no errors) are edits.approve's."""
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    edit_id = client_int(request.path_params["edit_id"])  # a 30-digit id overflows the column
    action = str(request.path_params["action"])
    if action not in ("approve", "reject") or edit_id is None:
        return not_found(console, request, staff)
    with console.rt.db.session() as s:
        edit = s.get(MessageEdit, edit_id)
        if edit is None:
            return not_found(console, request, staff)
        key, language = edit.key, edit.language
        where = f"/messages/{key}/{language}"
        try:
            if action == "approve":
                edits.approve(s, console.rt.catalog, edit_id, staff.id)
            else:
                edits.reject(s, edit_id, staff.id)
        except edits.EditRefused as refused:
            anchor = "" if refused.code == "decided" else f"#draft-{edit_id}"
            return console.go(f"{where}?problem={refused.code}{anchor}")
    if action == "approve":  # committed: the other processes put it in force too
        console.rt.events.publish(Event(MESSAGES_CHANGED))
    console.audit(staff.id, f"message.{action}", key=key, lang=language, edit=edit_id)
    return console.go(f"{where}?done={action}d")


async def history_page(console: Console, request: Request, staff: Staff) -> Response:
    found = target(console, request)
    if found is None:
        return not_found(console, request, staff)
    key, language = found
    with console.rt.db.session() as s:
        versions = edits.history(s, key, language)
        live = edits.live_versions(s).get((key, language))
    return page(
        console,
        request,
        staff,
        "msgedit_history.html",
        key=key,
        language=language,
        versions=versions,
        live_id=live.id if live else None,
        default_text=defaults(console).text(key, language),
        names=names(console),
        done=request.query_params.get("done", ""),
        problem=request.query_params.get("problem", ""),
    )


async def restore(console: Console, request: Request, staff: Staff) -> Response:
    """Restore an approved version, or the reviewed default (one admin: see edits.rollback)."""
    found = target(console, request)
    if found is None:
        return not_found(console, request, staff)
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    key, language = found
    where = f"/messages/{key}/{language}/history"
    version = str(form.get("version", ""))
    with console.rt.db.session() as s:
        if version == "default":
            if (key, language) not in edits.live_versions(s):
                return console.go(where)  # the default is live already: nothing to record
            edits.restore_default(s, console.rt.catalog, key, language, staff.id)
        else:
            number = client_int(version)
            old = s.get(MessageEdit, number) if number is not None else None
            if old is None or (old.key, old.language) != (key, language):
                return not_found(console, request, staff)
            try:
                edits.rollback(s, console.rt.catalog, old.id, staff.id)
            except edits.EditRefused:
                return console.go(f"{where}?problem=restore")
    console.rt.events.publish(Event(MESSAGES_CHANGED))  # committed: in force everywhere
    console.audit(
        staff.id,
        "message.rollback",
        key=key,
        lang=language,
        version=version if version == "default" else int(version),
    )
    return console.go(f"{where}?done=restored")


def routes(console: Console) -> list[Route]:
    admin = "admin"
    return [
        Route(
            "/messages/drafts/{edit_id:int}/{action:str}",
            console.guard(decide, admin),
            methods=["POST"],
        ),
        Route("/messages/{key}/{lang}", console.guard(editor, admin), methods=["GET", "POST"]),
        Route("/messages/{key}/{lang}/check", console.guard(live_checks, admin), methods=["POST"]),
        Route("/messages/{key}/{lang}/history", console.guard(history_page, admin)),
        Route("/messages/{key}/{lang}/restore", console.guard(restore, admin), methods=["POST"]),
    ]
