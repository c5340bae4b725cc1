"""Admins keep the service directory true: search, edit, retire, what needs checking, HSDS files.

Every change reaches the assistant's next answer (it reads the database each turn). The forms
apply the same rules as an HSDS import (bot/directory/editing.py reuses bot/directory/hsds/), and
every change is audited with ids and counts only, never names or text.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import zipfile
from typing import Any
from urllib.parse import quote

from babel import Locale
from sqlalchemy import func, select
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.directory import editing
from bot.directory.editing import Ages, Filters, ServiceForm
from bot.directory.hsds import exporting, importing, schema
from bot.directory.service import Directory
from bot.directory.uploads import MAX_BYTES, UploadError, Uploads
from bot.needs import CATEGORIES
from bot.store.models import Organization, Service

PAGE = 50
BLANK_PHONES = 2  # empty phone rows offered below the existing ones
_SAFE_REF = re.compile(r"^[a-z0-9_.:-]{1,40}$")


def ref(entry_id: str) -> str:
    """An id fit for the audit log: itself when it is plain, else a short digest of it."""
    if _SAFE_REF.match(entry_id):
        return entry_id
    return "sha:" + hashlib.sha256(entry_id.encode()).hexdigest()[:16]


def ages(console: Console) -> Ages:
    return Ages(
        dt.date.today(), console.settings.directory_flag_after_days, Directory.hide_after_days
    )


def country_names(console: Console, request: Request, staff: Staff) -> dict[str, str]:
    """Every ISO country code with its name in the admin's language, sorted by name."""
    territories = Locale.parse(console.language(request, staff)).territories
    names = {code: str(territories.get(code, code)) for code in schema.COUNTRY_CODES}
    return dict(sorted(names.items(), key=lambda kv: kv[1]))


def page_context(console: Console) -> dict[str, Any]:
    """What every directory template needs besides the entries themselves."""
    return {
        "categories": CATEGORIES,
        "flag_days": console.settings.directory_flag_after_days,
        "hide_days": Directory.hide_after_days,
        "today": dt.date.today(),
    }


# --- the list and what needs checking ---


async def directory(console: Console, request: Request, staff: Staff) -> Response:
    q = request.query_params
    filters = Filters(
        text=q.get("q", "").strip()[:100],
        country=q.get("country", "").upper()[:2],
        category=q.get("category", "") if q.get("category") in CATEGORIES else "",
        status=q.get("status", ""),
        state=q.get("state", ""),
    )
    page = max(int(q["page"]), 1) if q.get("page", "").isdigit() else 1
    names = country_names(console, request, staff)
    with console.rt.db.session() as s:
        rows = editing.search(s, filters, ages(console), lambda c: names.get(c, c))
        used = sorted(set(s.scalars(select(Service.country))), key=lambda c: names.get(c, c))
        shown = rows[(page - 1) * PAGE : page * PAGE]
    return console.html(
        request,
        staff,
        "directory.html",
        rows=shown,
        total=len(rows),
        page=page,
        pages=max((len(rows) + PAGE - 1) // PAGE, 1),
        filters=filters,
        countries=[(code, names.get(code, code)) for code in used],
        done=request.query_params.get("done", ""),
        **page_context(console),
    )


async def needs_checking(console: Console, request: Request, staff: Staff) -> Response:
    window = ages(console)
    with console.rt.db.session() as s:
        due = Directory(s).needs_checking(console.settings.directory_flag_after_days)
        rows = [window.row(svc) for svc, _hidden in due]
    return console.html(
        request,
        staff,
        "directory_checking.html",
        rows=rows,
        done=request.query_params.get("done", ""),
        **page_context(console),
    )


# --- one service ---


def values_of(svc: Service | None, staff: Staff) -> dict[str, Any]:
    """The form's values for an existing service (or the defaults of a new one)."""
    if svc is None:
        return {
            "id": "",
            "name": "",
            "description": "",
            "organization": "",
            "new_org_name": "",
            "new_org_url": "",
            "new_org_description": "",
            "country": "",
            "region": "",
            "public_address": False,
            "address": "",
            "phones": [],
            "email": "",
            "categories": [],
            "languages": [],
            "other_languages": "",
            "open_24_7": False,
            "timezone": "",
            "hours_text": "",
            **{f"hours_{day}": "" for day in schema.DAYS},
            "holidays": "",
            **{flag: "" for flag in editing.TRI_STATE},
            "for_children": False,
            "source": "",
            "last_verified": "",
            "verified_by": staff.display_name,
        }
    hours = svc.hours or {}
    weekly = hours.get("weekly") or {}
    mine = [code for code in svc.languages or [] if code in schema.LANGS]
    return {
        "id": svc.id,
        "name": svc.name,
        "description": svc.description or "",
        "organization": svc.organization_id,
        "new_org_name": "",
        "new_org_url": "",
        "new_org_description": "",
        "country": svc.country,
        "region": svc.region or "",
        "public_address": svc.public_address,
        "address": svc.address or "",
        "phones": [(p.get("number", ""), p.get("kind", "voice")) for p in svc.phones or []],
        "email": svc.email or "",
        "categories": list(svc.categories or []),
        "languages": mine,
        "other_languages": ", ".join(c for c in svc.languages or [] if c not in mine),
        "open_24_7": bool(hours.get("open_24_7")),
        "timezone": hours.get("timezone") or "",
        "hours_text": hours.get("text") or "",
        **{f"hours_{day}": editing.day_text(weekly.get(day) or []) for day in schema.DAYS},
        "holidays": hours.get("holidays") or "",
        **{flag: _tri(getattr(svc, flag)) for flag in editing.TRI_STATE},
        "for_children": svc.for_children,
        "source": svc.source or "",
        "last_verified": svc.last_verified.isoformat() if svc.last_verified else "",
        "verified_by": svc.verified_by or "",
    }


def _tri(value: bool | None) -> str:
    return "" if value is None else "yes" if value else "no"


def values_from(form: FormData, sid: str) -> dict[str, Any]:
    """What the admin sent, to show it again with the problems."""

    def text(key: str) -> str:
        return str(form.get(key) or "")

    numbers = [str(n) for n in form.getlist("phone_number")]
    kinds = [str(k) for k in form.getlist("phone_kind")]
    return {
        **{
            key: text(key)
            for key in (
                "name",
                "description",
                "organization",
                "new_org_name",
                "new_org_url",
                "new_org_description",
                "country",
                "region",
                "address",
                "email",
                "other_languages",
                "timezone",
                "hours_text",
                "holidays",
                "source",
                "last_verified",
                "verified_by",
                *(f"hours_{day}" for day in schema.DAYS),
                *editing.TRI_STATE,
            )
        },
        "id": sid or text("id"),
        "public_address": form.get("public_address") == "1",
        "phones": [
            (n, kinds[i] if i < len(kinds) else "voice") for i, n in enumerate(numbers) if n
        ],
        "categories": [str(c) for c in form.getlist("categories")],
        "languages": [str(c) for c in form.getlist("languages")],
        "open_24_7": form.get("open_24_7") == "1",
        "for_children": form.get("for_children") == "1",
    }


def service_page(
    console: Console,
    request: Request,
    staff: Staff,
    svc: Service | None,
    values: dict[str, Any],
    form: ServiceForm | None = None,
    status: int = 200,
) -> Response:
    with console.rt.db.session() as s:
        orgs = [(o.id, o.name) for o in s.scalars(select(Organization).order_by(Organization.name))]
    problems: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for p in form.problems if form else []:
        problems.setdefault(p.name, []).append((p.code, p.params))
    return console.html(
        request,
        staff,
        "directory_service.html",
        status=status,
        svc=svc,
        state=ages(console).state(svc) if svc else "",
        v=values,
        problems=problems,
        organizations=orgs,
        country_options=country_names(console, request, staff),
        phone_kinds=editing.PHONE_KINDS,
        days=schema.DAYS,
        other_languages=schema.LANGS,
        blank_phones=BLANK_PHONES,
        done=request.query_params.get("done", ""),
        **page_context(console),
    )


def load_service(console: Console, sid: str) -> Service | None:
    with console.rt.db.session() as s:
        svc = s.get(Service, sid)
        if svc is not None:
            _ = svc.organization.name
        return svc


async def service_new(console: Console, request: Request, staff: Staff) -> Response:
    return await _service_form(console, request, staff, None)


async def service_edit(console: Console, request: Request, staff: Staff) -> Response:
    svc = load_service(console, request.path_params["sid"])
    if svc is None:
        return console.error(request, staff, 404, "missing")
    return await _service_form(console, request, staff, svc)


async def _service_form(
    console: Console, request: Request, staff: Staff, svc: Service | None
) -> Response:
    if request.method != "POST":
        return service_page(console, request, staff, svc, values_of(svc, staff))
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    with console.rt.db.session() as s:
        existing = s.get(Service, svc.id) if svc else None
        parsed = editing.parse_service(
            form, dt.date.today(), staff.display_name, new=svc is None, session=s
        )
        if parsed.ok:
            new_org = "id" not in parsed.organization
            saved = editing.save_service(s, parsed, existing)
            sid, org_id = saved.id, saved.organization_id
    if not parsed.ok:
        values = values_from(form, svc.id if svc else "")
        return service_page(console, request, staff, svc, values, parsed, status=422)
    if new_org:
        console.audit(staff.id, "directory.org_create", organization=ref(org_id))
    action = "directory.create" if svc is None else "directory.update"
    console.audit(staff.id, action, service=ref(sid), verified=bool(form.get("verify_today")))
    return console.go(f"/directory/service/{_quote(sid)}?done=saved")


def _quote(entry_id: str) -> str:
    return quote(entry_id, safe="")


async def service_verify(console: Console, request: Request, staff: Staff) -> Response:
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    sid = str(form.get("service", ""))
    with console.rt.db.session() as s:
        found = editing.mark_verified(s, sid, staff.display_name, dt.date.today()) is not None
    if not found:
        return console.error(request, staff, 404, "missing")
    console.audit(staff.id, "directory.verify", service=ref(sid))
    return console.go(_back(form, sid, "verified"))


async def service_status(console: Console, request: Request, staff: Staff) -> Response:
    """Retire (never offered again, kept for history), reactivate, or delete a retired one."""
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    sid, action = str(form.get("service", "")), str(form.get("action", ""))
    if action not in ("retire", "reactivate", "delete"):
        return console.error(request, staff, 400, "bad_request")
    with console.rt.db.session() as s:
        svc = s.get(Service, sid)
        if svc is None:
            return console.error(request, staff, 404, "missing")
        if action == "delete":
            if svc.status != "retired":
                return console.error(request, staff, 409, "retire_first")
            s.delete(svc)
        else:
            svc.status = "retired" if action == "retire" else "active"
    console.audit(staff.id, f"directory.{action}", service=ref(sid))
    if action == "delete":
        return console.go("/directory?done=deleted")
    return console.go(_back(form, sid, action + "d" if action == "retire" else "reactivated"))


def _back(form: FormData, sid: str, done: str) -> str:
    where = str(form.get("back", ""))
    if where == "checking":
        return f"/directory/needs-checking?done={done}"
    if where == "list":
        return f"/directory?done={done}"
    return f"/directory/service/{_quote(sid)}?done={done}"


# --- organisations ---


async def organizations(console: Console, request: Request, staff: Staff) -> Response:
    with console.rt.db.session() as s:
        counts = dict(
            s.execute(
                select(Service.organization_id, func.count()).group_by(Service.organization_id)
            ).all()
        )
        orgs = list(s.scalars(select(Organization).order_by(Organization.name)))
    return console.html(request, staff, "directory_organizations.html", orgs=orgs, counts=counts)


async def organization(console: Console, request: Request, staff: Staff) -> Response:
    oid = request.path_params["oid"]
    with console.rt.db.session() as s:
        org = s.get(Organization, oid)
        services = (
            [(svc.id, svc.name, svc.country, svc.status) for svc in org.services] if org else []
        )
    if org is None:
        return console.error(request, staff, 404, "missing")
    values = {"name": org.name, "url": org.url or "", "description": org.description or ""}
    problems: list[editing.FieldProblem] = []
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        values = editing.organization_fields(form)
        problems = editing.check_organization(values)
        if not values["name"]:
            problems.append(editing.FieldProblem("name", "missing_name"))
        if not problems:
            with console.rt.db.session() as s:
                editing.save_organization(s, oid, values)
            console.audit(staff.id, "directory.org_update", organization=ref(oid))
            return console.go(f"/directory/organization/{_quote(oid)}?done=saved")
        values = {k: v or "" for k, v in values.items()}
    return console.html(
        request,
        staff,
        "directory_organization.html",
        status=422 if problems else 200,
        org=org,
        v=values,
        problems={p.name: [(p.code, p.params)] for p in problems},
        services=services,
        done=request.query_params.get("done", ""),
    )


# --- HSDS files ---


async def import_page(console: Console, request: Request, staff: Staff) -> Response:
    """Upload → dry run (every bad row with its reason, or what would change) → apply."""
    context: dict[str, Any] = {"report": None, "token": "", "trouble": "", "detail": ""}
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        uploads = Uploads(console.settings.data_dir)
        if form.get("action") == "apply":
            context.update(await _apply(console, staff, uploads, str(form.get("token", ""))))
        else:
            context.update(await _check(console, staff, uploads, form.get("file")))
    status = 422 if context["trouble"] or (context["report"] and not context["report"].ok) else 200
    return console.html(
        request, staff, "directory_import.html", status=status, max_mb=MAX_BYTES // 2**20, **context
    )


def _run(console: Console, path: Any, dry_run: bool) -> tuple[importing.ImportReport | None, str]:
    """Read and import a kept file; (None, reason) when it cannot be read at all."""
    try:
        items, where = importing.read(path)
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
        report = importing.import_services(s, items, where, dry_run=dry_run)
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
    report, reason = _run(console, path, dry_run=True)
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
    report, reason = _run(console, path, dry_run=False)
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
        Route("/directory", admin(directory)),
        Route("/directory/needs-checking", admin(needs_checking)),
        Route("/directory/new", admin(service_new), methods=both),
        Route("/directory/service/{sid:path}", admin(service_edit), methods=both),
        Route("/directory/verify", admin(service_verify), methods=["POST"]),
        Route("/directory/status", admin(service_status), methods=["POST"]),
        Route("/directory/organizations", admin(organizations)),
        Route("/directory/organization/{oid:path}", admin(organization), methods=both),
        Route("/directory/import", admin(import_page), methods=both),
        Route("/directory/export.{kind:str}", admin(export)),
    ]
