"""Admins edit every message in every language: live checks, phone preview, approval, history.

The rules live in ``bot/nlg/edits.py`` (drafts, two-person approval of safety-critical texts,
rollback, ``.po`` files) and ``bot/nlg/lint.py`` (the checks); this module only shows them. Text
never reaches the audit log: only message keys, language codes and version numbers.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.directory.service import Directory
from bot.handoff.card import LANGUAGE_NAMES, card_text
from bot.nlg import edits
from bot.nlg.catalog import Catalog, source_texts
from bot.nlg.lint import LOCK_SCREEN_CHARS, MAX_GRADE, MAX_LENGTH, PLACEHOLDER, reading_grade
from bot.nlg.messages import BUTTON_TEXTS, MESSAGES
from bot.nlg.render import RenderContext
from bot.store.console_models import StaffUser
from bot.store.content_models import MessageEdit
from bot.store.models import HandoffRequest

MAX_TEXT = 4000  # far above the checks' limit: the checks, not a cut, tell the admin
MAX_PO_BYTES = 1_000_000


@lru_cache(maxsize=4)
def reviewed(languages: tuple[str, ...]) -> Catalog:
    """The catalogs as reviewed (no admin edits): what "Back to the default" restores."""
    return Catalog(list(languages))


def defaults(console: Console) -> Catalog:
    return reviewed(tuple(console.settings.languages))


def whole_message(key: str) -> bool:
    return key.startswith("utter_") or key == "service_card_title"


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


# --- the phone preview ---


@dataclass
class Preview:
    notification: str  # the first line as a lock screen shows it
    text: str  # the whole bubble, placeholders filled with sample values
    buttons: list[str]  # the message's buttons in its language, or the label being edited
    button: bool  # the text is a button label


def sample_values(console: Console, language: str, staff: Staff) -> dict[str, str]:
    """Realistic values for every placeholder, from the directory and the settings."""
    rt = console.rt
    with rt.db.session() as s:
        directory = Directory(s)
        countries = directory.likely_countries(language, None, limit=1)
        country = countries[0] if countries else None
        ctx = RenderContext(language, "telegram", country=country)
        values = {k: str(v) for k, v in rt.renderer.all_values(ctx, directory).items()}
        hotline = next(iter(directory.hotlines(country, limit=1)), None)
        req = HandoffRequest(language=language, country=country, needs=["legal"], safety={})
        values["card"] = card_text(rt.renderer, ctx, req)
        if hotline is not None:
            phones = hotline.phones or []
            values["name"] = hotline.name
            values["contact"] = rt.renderer.contact_text(hotline, ctx, first_only=True)
            values["number"] = str(phones[0].get("number", "")) if phones else ""
            values["email"] = hotline.email or ""
            values["address"] = hotline.address or ""

    def t(key: str, **more: Any) -> str:
        return rt.renderer.t(key, ctx, **more)

    values.update(
        staff_name=staff.display_name,
        position="2",
        minutes="10",
        n="1",
        total="3",
        wait_estimate=t("queue_wait_estimate", minutes=10),
        categories=", ".join(t(k) for k in ("category_legal", "category_labour")),
        value=LANGUAGE_NAMES.get(language, language),
        free=t("fact_yes"),
        confidential=t("fact_yes"),
        authorities=t("fact_no"),
    )
    return values


def preview(console: Console, key: str, language: str, text: str, staff: Staff) -> Preview:
    values = sample_values(console, language, staff)
    # Only {name} placeholders are filled: no format specs, so a draft cannot reach anything else.
    filled = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    first = filled.split("\n", 1)[0]
    if len(first) > LOCK_SCREEN_CHARS:
        first = first[: LOCK_SCREEN_CHARS - 1].rstrip() + "…"
    if key in BUTTON_TEXTS:
        return Preview(first, filled, [text], button=True)
    definition = MESSAGES.get(key)
    defs = definition.buttons if definition else ()
    buttons = [console.rt.catalog.text(b.key, language) for b in defs]
    return Preview(first, filled, buttons, button=False)


def checks_context(
    console: Console, key: str, language: str, text: str, staff: Staff
) -> dict[str, Any]:
    with console.rt.db.session() as s:
        problems = edits.lint(s, key, language, text) if key in source_texts() else []
    definition = MESSAGES.get(key)
    return {
        "problems": problems,
        "errors": [p for p in problems if p.severity == "error"],
        "grade": reading_grade(text, language),
        "grade_limit": MAX_GRADE[bool(definition and definition.safety_critical)],
        "length": len(text),
        "max_length": MAX_LENGTH,
        "preview": preview(console, key, language, text, staff),
        "bot_name": console.settings.bot_name,
    }


# --- the list ---


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
    return page(
        console,
        request,
        staff,
        "msgedit.html",
        rows=rows,
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


# --- one message in one language ---


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
    edit_id = int(request.path_params["edit_id"])
    action = str(request.path_params["action"])
    if action not in ("approve", "reject"):
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
            old = s.get(MessageEdit, int(version)) if version.isdigit() else None
            if old is None or (old.key, old.language) != (key, language):
                return not_found(console, request, staff)
            try:
                edits.rollback(s, console.rt.catalog, old.id, staff.id)
            except edits.EditRefused:
                return console.go(f"{where}?problem=restore")
    console.audit(
        staff.id,
        "message.rollback",
        key=key,
        lang=language,
        version=version if version == "default" else int(version),
    )
    return console.go(f"{where}?done=restored")


# --- .po files for translators ---


async def po_page(console: Console, request: Request, staff: Staff) -> Response:
    return page(
        console,
        request,
        staff,
        "msgedit_po.html",
        language=console.language(request, staff),
        problem=request.query_params.get("problem", ""),
        changes=None,
        payload="",
    )


async def po_export(console: Console, request: Request, staff: Staff) -> Response:
    language = request.query_params.get("lang", "")
    if language not in console.settings.languages:
        return console.go("/messages/po?problem=language")
    body = edits.po_bytes(console.rt.catalog, language)
    console.audit(staff.id, "message.po_export", lang=language)
    return Response(
        body,
        media_type="text/x-gettext-translation; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{language}.po"'},
    )


async def po_upload(console: Console, request: Request, staff: Staff) -> Response:
    """Show what an uploaded file would change, and each new text's problems; nothing is saved."""
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    language = str(form.get("lang", ""))
    upload = form.get("file")
    if language not in console.settings.languages:
        return console.go("/messages/po?problem=language")
    if not isinstance(upload, UploadFile):
        return console.go("/messages/po?problem=unreadable")
    data = await upload.read(MAX_PO_BYTES + 1)
    if len(data) > MAX_PO_BYTES:
        return console.go("/messages/po?problem=too_big")
    with console.rt.db.session() as s:
        try:
            changes = edits.po_changes(s, console.rt.catalog, language, data)
        except edits.PoRefused as refused:
            return console.go(f"/messages/po?problem={refused.code}")
    return page(
        console,
        request,
        staff,
        "msgedit_po.html",
        language=language,
        problem="",
        changes=changes,
        payload=base64.b64encode(data).decode("ascii"),
    )


async def po_import(console: Console, request: Request, staff: Staff) -> Response:
    """Create drafts from the ticked entries of the file shown (never live text directly)."""
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    language = str(form.get("lang", ""))
    if language not in console.settings.languages:
        return console.go("/messages/po?problem=language")
    try:
        data = base64.b64decode(str(form.get("payload", "")), validate=True)
    except (binascii.Error, ValueError):
        return console.go("/messages/po?problem=unreadable")
    wanted = {str(k) for k in form.getlist("key")}
    with console.rt.db.session() as s:
        try:
            changes = edits.po_changes(s, console.rt.catalog, language, data)
        except edits.PoRefused as refused:
            return console.go(f"/messages/po?problem={refused.code}")
        created = [
            edits.propose(s, c.key, language, c.new, staff.id).edit.id
            for c in changes
            if c.key in wanted
        ]
    console.audit(staff.id, "message.po_import", lang=language, drafts=len(created))
    return console.go(f"/messages/waiting?done=imported&count={len(created)}")


def routes(console: Console) -> list[Route]:
    admin = "admin"
    return [
        Route("/messages", console.guard(index, admin)),
        Route("/messages/waiting", console.guard(waiting_list, admin)),
        Route("/messages/po", console.guard(po_page, admin)),
        Route("/messages/po/export", console.guard(po_export, admin)),
        Route("/messages/po/upload", console.guard(po_upload, admin), methods=["POST"]),
        Route("/messages/po/import", console.guard(po_import, admin), methods=["POST"]),
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
