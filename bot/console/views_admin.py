"""Supervisors: every queue, every person's load, reassigning, canned replies, the audit log.
Admins: accounts (invite, unlock, deactivate)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import queries
from bot.console.auth import ROLES, AccountError, Staff
from bot.console.core import BASE, Console
from bot.store.console_models import AuditEvent, CannedReply, StaffSession, StaffUser

AUDIT_PAGE = 100


async def supervisor(console: Console, request: Request, staff: Staff) -> Response:
    console.audit(staff.id, "supervisor.view")
    return console.html(request, staff, "supervisor.html")


async def supervisor_board(console: Console, request: Request, staff: Staff) -> Response:
    with console.rt.db.session() as s:
        rows = queries.waiting(s, console.live, None)
        taken = queries.assigned(s)
        loads = queries.loads(s)
        on_duty = {
            lang: console.rt.handoffs.on_duty(s, lang) for lang in console.settings.languages
        }
    return console.html(
        request, staff, "_board.html", rows=rows, taken=taken, loads=loads, on_duty=on_duty
    )


async def audit_log(console: Console, request: Request, staff: Staff) -> Response:
    before = request.query_params.get("before", "")
    with console.rt.db.session() as s:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE)
        if before.isdigit():
            query = query.where(AuditEvent.id < int(before))
        events = list(s.scalars(query))
        names = {u.id: u.display_name for u in s.scalars(select(StaffUser))}
    console.audit(staff.id, "audit.view")
    return console.html(request, staff, "audit.html", events=events, names=names, page=AUDIT_PAGE)


async def canned(console: Console, request: Request, staff: Staff) -> Response:
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        with console.rt.db.session() as s:
            if form.get("delete"):
                found = s.get(CannedReply, int(str(form.get("delete"))))
                if found is not None:
                    s.delete(found)
                action = "canned.delete"
            else:
                language = str(form.get("language", ""))
                title = str(form.get("title", "")).strip()[:80]
                text = str(form.get("text", "")).strip()[:2000]
                if language not in console.settings.languages or not title or not text:
                    return console.go("/canned?problem=1")
                s.add(CannedReply(language=language, title=title, text=text))
                action = "canned.add"
        console.audit(staff.id, action)
        return console.go("/canned")
    with console.rt.db.session() as s:
        replies = list(
            s.scalars(select(CannedReply).order_by(CannedReply.language, CannedReply.title))
        )
    return console.html(
        request, staff, "canned.html", replies=replies, problem=request.query_params.get("problem")
    )


async def accounts(console: Console, request: Request, staff: Staff) -> Response:
    link = ""
    problem = ""
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        action = str(form.get("action", ""))
        user_id = str(form.get("user", ""))
        try:
            if action == "invite":
                user, token = console.accounts.create(
                    str(form.get("email", "")),
                    str(form.get("role", "staff")),
                    str(form.get("display_name", "")),
                    languages=[str(x) for x in form.getlist("languages")],
                    console_language=str(form.get("language", "en")),
                )
                link = invite_link(console, token or "")
                console.audit(staff.id, "staff.invite", role=user.role)
            elif action == "reinvite":
                link = invite_link(console, console.accounts.new_invite(user_id))
                console.audit(staff.id, "staff.reinvite", user=user_id)
            elif action in ("unlock", "deactivate", "activate"):
                with console.rt.db.session() as s:
                    target = s.get(StaffUser, user_id)
                    if target is not None and target.id != staff.id:
                        if action == "unlock":
                            target.locked_until, target.failed_logins = None, 0
                        else:
                            target.active = action == "activate"
                            if not target.active:
                                for session in s.scalars(
                                    select(StaffSession).where(StaffSession.staff_id == target.id)
                                ):
                                    s.delete(session)
                console.audit(staff.id, f"staff.{action}", user=user_id)
        except AccountError:
            problem = "account"
    with console.rt.db.session() as s:
        users = list(s.scalars(select(StaffUser).order_by(StaffUser.display_name)))
    return console.html(
        request, staff, "accounts.html", users=users, link=link, problem=problem, roles=ROLES
    )


def invite_link(console: Console, token: str) -> str:
    root = console.settings.public_url.rstrip("/") or console.settings.callback_url
    return f"{root}{BASE}/invite/{token}"


def routes(console: Console) -> list[Route]:
    return [
        Route("/supervisor", console.guard(supervisor, "supervisor")),
        Route("/supervisor/board", console.guard(supervisor_board, "supervisor")),
        Route("/audit", console.guard(audit_log, "supervisor")),
        Route("/canned", console.guard(canned, "supervisor"), methods=["GET", "POST"]),
        Route("/accounts", console.guard(accounts, "admin"), methods=["GET", "POST"]),
    ]
