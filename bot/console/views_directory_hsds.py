"""The directory's HSDS files in the console: an upload is checked by a dry run (every bad row with
its reason, or what would change), kept under a token, and applied only when the admin confirms;
the whole directory downloads as HSDS JSON or a zip of CSV tables. It is apart from the editing
pages because it works on whole files through ``bot/directory/hsds/`` and the upload store, never
on one entry, and audits counts only."""

from __future__ import annotations

import csv
import datetime as dt
import json
import zipfile
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.directory.hsds import exporting, importing, schema
from bot.directory.uploads import MAX_BYTES, UploadError, Uploads
from bot.http_limits import Busy


async def import_page(console: Console, request: Request, staff: Staff) -> Response:
    """Upload → dry run (every bad row with its reason, or what would change) → apply."""
    context: dict[str, Any] = {"report": None, "token": "", "trouble": "", "detail": ""}
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        uploads = Uploads(console.settings.data_dir)
        try:
            if form.get("action") == "apply":
                context.update(await _apply(console, staff, uploads, str(form.get("token", ""))))
            else:
                context.update(await _check(console, staff, uploads, form.get("file")))
        except Busy:
            return console.busy(request)
    status = 422 if context["trouble"] or (context["report"] and not context["report"].ok) else 200
    return console.html(
        request, staff, "directory_import.html", status=status, max_mb=MAX_BYTES // 2**20, **context
    )


def _run(console: Console, path: Any, dry_run: bool) -> tuple[importing.ImportReport | None, str]:
    """Read and import a kept file; (None, reason) when it cannot be read at all. Runs in the
    console's CPU pool (``console.slow``): parsing a large file on the event loop would hold up
    every webhook and crisis reply until it finished."""
    try:
        items, where = importing.read(path)
        countries = importing.read_countries(path)
    except (
        schema.ImportError_,
        zipfile.BadZipFile,
        UnicodeDecodeError,
        KeyError,
        csv.Error,
        RuntimeError,
    ) as exc:
        return None, str(exc)[:200]
    with console.rt.db.session() as s:
        report = importing.import_services(s, items, where, dry_run=dry_run, countries=countries)
        if not report.ok or dry_run:
            s.rollback()
    return report, ""


async def _check(console: Console, staff: Staff, uploads: Uploads, file: Any) -> dict[str, Any]:
    if not isinstance(file, UploadFile) or not file.filename:
        return {"trouble": "empty"}
    data = await file.read(MAX_BYTES + 1)
    try:
        token = uploads.store(staff.id, file.filename, data)
    except UploadError as exc:
        return {"trouble": exc.code}
    path = uploads.find(staff.id, token)
    report, reason = await console.slow(_run, console, path, True)
    if report is None:
        if path is not None:
            uploads.discard(path)
        console.audit(staff.id, "directory.import_check", readable=False)
        return {"trouble": "unreadable", "detail": reason}
    console.audit(
        staff.id,
        "directory.import_check",
        errors=len(report.errors),
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
    )
    if not report.ok and path is not None:
        uploads.discard(path)
    return {"report": report, "token": token if report.ok else ""}


async def _apply(console: Console, staff: Staff, uploads: Uploads, token: str) -> dict[str, Any]:
    path = uploads.find(staff.id, token)
    if path is None:
        return {"trouble": "expired"}
    report, reason = await console.slow(_run, console, path, False)
    uploads.discard(path)
    if report is None:
        return {"trouble": "unreadable", "detail": reason}
    console.audit(
        staff.id,
        "directory.import",
        applied=report.applied,
        errors=len(report.errors),
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
    )
    return {"report": report}


async def export(console: Console, request: Request, staff: Staff) -> Response:
    kind = request.path_params["kind"]
    if kind not in ("json", "zip"):
        return console.error(request, staff, 404, "missing")
    with console.rt.db.session() as s:
        data = exporting.export_json(s)
    name = f"directory-{dt.date.today().isoformat()}"
    if kind == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        media, filename = "application/json", f"{name}.json"
    else:
        body, media, filename = exporting.zip_bytes(data), "application/zip", f"{name}-csv.zip"
    console.audit(staff.id, "directory.export", format=kind, services=len(data["services"]))
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def routes(console: Console) -> list[Route]:
    def admin(view: Any) -> Any:
        return console.guard(view, "admin")

    both = ["GET", "POST"]
    return [
        Route("/directory/import", admin(import_page), methods=both),
        Route("/directory/export.{kind:str}", admin(export)),
    ]
