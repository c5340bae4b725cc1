"""The directory's HSDS files in the console: an upload becomes an import job
(``bot/directory/hsds/jobs.py``) that checks the file in the background (every bad row with its
reason, or what would change) and applies it, in batches, only when its uploader confirms; its
page shows the progress and can stop it. The whole directory downloads as HSDS JSON or a zip of
CSV tables. It is apart from the editing pages because it works on whole files, never on one
entry, and audits counts only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.directory.hsds import exporting
from bot.directory.hsds.importing import RowError
from bot.directory.hsds.jobs import REPORT_MAX, RUNNING
from bot.directory.uploads import MAX_BYTES, UploadError, Uploads
from bot.store.console_models import StaffUser
from bot.store.job_models import ImportJob


async def import_page(console: Console, request: Request, staff: Staff) -> Response:
    """The upload form, the import under way (if any) and the last few. A POSTed file becomes a
    job (``ImportJobs.start``) and the browser goes to its page; nothing is parsed here."""
    trouble, status = "", 200
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        trouble = await _upload(console, staff, form.get("file"))
        if trouble.startswith("job:"):
            return console.go(f"/directory/import/{trouble[4:]}")
        status = 409 if trouble == "busy" else 422
    return _page(console, request, staff, trouble, status)


async def _upload(console: Console, staff: Staff, file: Any) -> str:
    """ "job:<id>" for a started job, else why not (a code of ``upload_trouble``)."""
    if not isinstance(file, UploadFile) or not file.filename:
        return "empty"
    jobs = console.rt.imports
    if jobs.busy() or jobs.running() is not None:
        return "busy"  # before keeping the file: one import at a time
    data = await file.read(MAX_BYTES + 1)
    try:
        token = Uploads(console.settings.data_dir).store(staff.id, file.filename, data)
    except UploadError as exc:
        return exc.code
    job = jobs.start(staff.id, token)
    return "busy" if job is None else f"job:{job.id}"


def _page(console: Console, request: Request, staff: Staff, trouble: str, status: int) -> Response:
    jobs = console.rt.imports
    return console.html(
        request,
        staff,
        "directory_import.html",
        status=status,
        trouble=trouble,
        running=jobs.running(),
        recent=jobs.recent(),
        names=_names(console, {j.staff_id for j in jobs.recent()}),
        max_mb=MAX_BYTES // 2**20,
    )


def _names(console: Console, ids: set[str | None]) -> dict[str, str]:
    with console.rt.db.session() as s:
        rows = s.scalars(select(StaffUser).where(StaffUser.id.in_([i for i in ids if i])))
        return {row.id: row.display_name for row in rows}


def _job_context(console: Console, job: ImportJob, staff: Staff) -> dict[str, Any]:
    report = job.report or {}
    return {
        "job": job,
        "running": job.state in RUNNING,
        "errors": [RowError(**e) for e in report.get("errors", [])],
        "created": report.get("created", []),
        "updated": report.get("updated", []),
        "names": report.get("names", {}),
        "pending_count": int(report.get("pending_count", 0)),
        "by": _names(console, {job.staff_id}).get(job.staff_id or "", ""),
        "mine": job.staff_id == staff.id,
        "shown_max": REPORT_MAX,
        "max_rows": console.settings.directory_import_max_rows,
        "max_mb": MAX_BYTES // 2**20,
    }


async def job_page(console: Console, request: Request, staff: Staff) -> Response:
    job = console.rt.imports.get(request.path_params["job"])
    if job is None:
        return console.error(request, staff, 404, "missing")
    status = 422 if job.state in ("rejected", "refused") else 200
    return console.html(
        request,
        staff,
        "directory_import_job.html",
        status=status,
        trouble=request.query_params.get("trouble", ""),
        **_job_context(console, job, staff),
    )


async def job_progress(console: Console, request: Request, staff: Staff) -> Response:
    """The job's panel alone: the page asks for it every second while the job runs."""
    job = console.rt.imports.get(request.path_params["job"])
    if job is None:
        return console.error(request, staff, 404, "missing")
    return console.html(request, staff, "_import_job.html", **_job_context(console, job, staff))


async def job_apply(console: Console, request: Request, staff: Staff) -> Response:
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    job_id = request.path_params["job"]
    outcome = console.rt.imports.apply(job_id, staff.id)
    if outcome == "started":
        return console.go(f"/directory/import/{job_id}")
    return console.go(f"/directory/import/{job_id}?trouble={outcome}")


async def job_cancel(console: Console, request: Request, staff: Staff) -> Response:
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    job_id = request.path_params["job"]
    if not console.rt.imports.cancel(job_id, staff.id):
        return console.go(f"/directory/import/{job_id}?trouble=state")
    return console.go(f"/directory/import/{job_id}")


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
        Route("/directory/import/{job:str}", admin(job_page)),
        Route("/directory/import/{job:str}/progress", admin(job_progress)),
        Route("/directory/import/{job:str}/apply", admin(job_apply), methods=["POST"]),
        Route("/directory/import/{job:str}/cancel", admin(job_cancel), methods=["POST"]),
        Route("/directory/export.{kind:str}", admin(export)),
    ]
