"""One directory entry in the console: its form (new or edited, shown again with a problem per
field when refused), marking it verified today, and retiring, reactivating or deleting it. The
form applies the same rules as an HSDS import (``bot/directory/editing.py`` reuses
``bot/directory/hsds/``); this module only turns a service into the form's values and back and
decides where the admin lands. It is apart from the list because it carries the whole form's
shape, which nothing else in the directory's pages needs."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import audit
from bot.console.auth import Staff
from bot.console.core import Console
from bot.console.views_approvals import notice
from bot.console.views_directory import ages, country_names, page_context, quote_id, ref
from bot.directory import changes, editing
from bot.directory.changes import ServiceAction, ServiceChange
from bot.directory.editing import ServiceForm
from bot.directory.hsds import schema
from bot.store.models import Organization, Service

BLANK_PHONES = 2  # empty phone rows offered below the existing ones


def values_of(svc: Service | None, staff: Staff) -> dict[str, Any]:
    """The form's values for an existing service (or the defaults of a new one)."""
    if svc is None:
        return {
            "id": "",
            "name": "",
            "names": {},
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
            "gender_only": "",
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
        "names": dict(svc.names or {}),
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
        "gender_only": svc.gender_only or "",
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
                "gender_only",
                *(f"hours_{day}" for day in schema.DAYS),
                *editing.TRI_STATE,
            )
        },
        "id": sid or text("id"),
        "names": {code: text(f"name_{code}") for code in schema.LANGS},
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
        **(notice(console, changes.SERVICE, svc.id) if svc else {"pending": None}),
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
        parsed = editing.parse_service(
            form, dt.date.today(), staff.display_name, new=svc is None, session=s
        )
        if parsed.ok:
            new_org = "id" not in parsed.organization
            # A hotline (what a crisis reply shows) waits for a second admin (changes.py).
            record = {**parsed.record, "organization": parsed.organization}
            outcome = changes.propose_or_apply(
                s, ServiceChange("save", svc.id if svc else "", record), staff.id
            )
            if outcome.pending is not None:
                audit.record(
                    s,
                    staff.id,
                    "approval.propose",
                    change=outcome.pending.id,
                    kind=changes.SERVICE,
                    service=ref(outcome.pending.target.removeprefix("new:")),
                )
                pending_id = outcome.pending.id
            else:
                sid = str(outcome.service_id)
                saved = s.get(Service, sid)
                assert saved is not None
                org_id = saved.organization_id
    if not parsed.ok:
        values = values_from(form, svc.id if svc else "")
        return service_page(console, request, staff, svc, values, parsed, status=422)
    if outcome.pending is not None:
        if svc is None:
            return console.go(f"/approvals#change-{pending_id}")
        return console.go(f"/directory/service/{quote_id(svc.id)}?done=pending")
    if new_org:
        console.audit(staff.id, "directory.org_create", organization=ref(org_id))
    action = "directory.create" if svc is None else "directory.update"
    console.audit(staff.id, action, service=ref(sid), verified=bool(form.get("verify_today")))
    return console.go(f"/directory/service/{quote_id(sid)}?done=saved")


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
        if action == "delete" and svc.status != "retired":
            return console.error(request, staff, 409, "retire_first")
        change = ServiceChange(cast(ServiceAction, action), sid)
        outcome = changes.propose_or_apply(s, change, staff.id)
        if outcome.pending is not None:
            audit.record(
                s,
                staff.id,
                "approval.propose",
                change=outcome.pending.id,
                kind=changes.SERVICE,
                service=ref(sid),
            )
    if outcome.pending is not None:
        return console.go(_back(form, sid, "pending"))
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
    return f"/directory/service/{quote_id(sid)}?done={done}"


def routes(console: Console) -> list[Route]:
    def admin(view: Any) -> Any:
        return console.guard(view, "admin")

    both = ["GET", "POST"]
    return [
        Route("/directory/new", admin(service_new), methods=both),
        Route("/directory/service/{sid:path}", admin(service_edit), methods=both),
        Route("/directory/verify", admin(service_verify), methods=["POST"]),
        Route("/directory/status", admin(service_status), methods=["POST"]),
    ]
