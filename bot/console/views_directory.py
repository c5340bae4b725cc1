"""Admins keep the service directory true: the searchable list, what needs checking, the
organisations, and what the directory's pages share (audit references, the verification window,
country names in the admin's language). Every change reaches the assistant's next answer (it reads
the database each turn) and is audited with ids and counts only, never names or text. One entry's
form lives in ``views_directory_service.py`` and HSDS files in ``views_directory_hsds.py``; both
build on the helpers here, which is why this module is the one the other two import."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any
from urllib.parse import quote

from babel import Locale
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.directory import editing
from bot.directory.editing import Ages, Filters
from bot.directory.hsds import schema
from bot.directory.service import Directory
from bot.http_limits import client_int
from bot.needs import CATEGORIES
from bot.store.models import Organization, Service

PAGE = 50
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


def quote_id(entry_id: str) -> str:
    return quote(entry_id, safe="")


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
    page = max(client_int(q.get("page")) or 1, 1)
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
            return console.go(f"/directory/organization/{quote_id(oid)}?done=saved")
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


def routes(console: Console) -> list[Route]:
    def admin(view: Any) -> Any:
        return console.guard(view, "admin")

    both = ["GET", "POST"]
    return [
        Route("/directory", admin(directory)),
        Route("/directory/needs-checking", admin(needs_checking)),
        Route("/directory/organizations", admin(organizations)),
        Route("/directory/organization/{oid:path}", admin(organization), methods=both),
    ]
