"""Messages as ``.po`` files for translators: download a language's catalog with the live texts,
upload a translated file to see what it would change and each new text's problems (nothing is
saved), then turn the ticked entries into drafts, never into live text directly. It is apart
from the editor because it works on whole catalogs through ``bot/nlg/edits.py``'s file functions
and carries the uploaded file between the two steps itself."""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.console.views_messages import page
from bot.nlg import edits

MAX_PO_BYTES = 1_000_000


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
        Route("/messages/po", console.guard(po_page, admin)),
        Route("/messages/po/export", console.guard(po_export, admin)),
        Route("/messages/po/upload", console.guard(po_upload, admin), methods=["POST"]),
        Route("/messages/po/import", console.guard(po_import, admin), methods=["POST"]),
    ]
