"""Supervisors: every queue, every person's load, reassigning, canned replies, the audit log.
Admins: accounts (invite, unlock, deactivate). Inviting, re-inviting, promoting or reactivating
an admin waits for a second admin (``account_changes.py``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import account_changes, audit, queries
from bot.console.account_changes import ACTIVATE, PROMOTE
from bot.console.auth import ROLES, AccountError, Staff
from bot.console.core import BASE, Console
from bot.http_limits import client_int
from bot.nlg.lint import check_free_text
from bot.store.console_models import AuditEvent, CannedReply, StaffSession, StaffUser
from bot.store.models import HandoffRequest
from bot.store.ops_models import Team, TeamMember

AUDIT_PAGE = 100


async def supervisor(console: Console, request: Request, staff: Staff) -> Response:
    console.audit(staff.id, "supervisor.view")
    return console.html(request, staff, "supervisor.html")


async def supervisor_board(console: Console, request: Request, staff: Staff) -> Response:
    with console.rt.db.session() as s:
        rows = queries.waiting(s, console.rt.handoffs, None)
        taken = queries.assigned(s)
        loads = queries.loads(s)
        on_duty = {
            lang: console.rt.handoffs.on_duty(s, lang) for lang in console.settings.languages
        }
    return console.html(
        request, staff, "_board.html", rows=rows, taken=taken, loads=loads, on_duty=on_duty
    )


async def audit_log(console: Console, request: Request, staff: Staff) -> Response:
    filters = AuditFilters.of(request.query_params, console)
    with console.rt.db.session() as s:
        query = filters.apply(select(AuditEvent)).order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE)
        events: list[AuditEvent] = list(s.scalars(query))
        names = {u.id: u.display_name for u in s.scalars(select(StaffUser))}
        actions = sorted(set(s.scalars(select(AuditEvent.action).distinct())))
        cases = case_links(s, {e.conversation_id for e in events if e.conversation_id})
    prefixes = sorted({a.split(".", 1)[0] for a in actions})
    console.audit(staff.id, "audit.view", filtered=filters.active)
    return console.html(
        request,
        staff,
        "audit.html",
        events=events,
        names=names,
        cases=cases,
        page=AUDIT_PAGE,
        people=sorted(names.items(), key=lambda item: item[1].lower()),
        prefixes=prefixes,
        actions=actions,
        filters=filters,
        older=filters.link(events[-1].id) if len(events) == AUDIT_PAGE else "",
    )


def case_links(s: Session, conversation_ids: set[str]) -> dict[str, str]:
    """Each conversation's latest handoff: the case page (``/c/<handoff id>``) an audit entry
    links to, so the log and the case page name one conversation by the same short id."""
    if not conversation_ids:
        return {}
    rows = s.execute(
        select(HandoffRequest.conversation_id, HandoffRequest.id)
        .where(HandoffRequest.conversation_id.in_(conversation_ids))
        .order_by(HandoffRequest.created_at)
    )
    return {conversation: handoff for conversation, handoff in rows}


@dataclass(frozen=True)
class AuditFilters:
    """The audit log's filters, read from the query string; unknown values are ignored."""

    who: str = ""
    what: str = ""
    since: str = ""  # local dates (team time zone), inclusive
    until: str = ""
    conversation: str = ""
    before: int | None = None
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"), compare=False)

    @classmethod
    def of(cls, params: Mapping[str, str], console: Console) -> AuditFilters:
        def date(key: str) -> str:
            value = params.get(key, "").strip()
            try:
                return dt.date.fromisoformat(value).isoformat() if value else ""
            except ValueError:
                return ""

        who = params.get("who", "").strip()
        what = params.get("what", "").strip().lower()
        conversation = params.get("conversation", "").strip().lower()
        before = params.get("before", "")
        return cls(
            who=who if re.fullmatch(r"[0-9a-f]{1,32}", who) else "",
            what=what if re.fullmatch(r"[a-z0-9_.:-]{1,40}", what) else "",
            since=date("from"),
            until=date("to"),
            conversation=conversation if re.fullmatch(r"[0-9a-f]{4,32}", conversation) else "",
            before=client_int(before),
            tz=console.tz,  # the zone the log's times are shown in
        )

    @property
    def active(self) -> bool:
        return bool(self.who or self.what or self.since or self.until or self.conversation)

    def _utc(self, day: str, days_after: int = 0) -> dt.datetime:
        local = dt.datetime.combine(
            dt.date.fromisoformat(day) + dt.timedelta(days=days_after), dt.time(0), tzinfo=self.tz
        )
        return local.astimezone(dt.UTC).replace(tzinfo=None)

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.who:
            query = query.where(AuditEvent.staff_id == self.who)
        if self.what:
            query = query.where(
                or_(AuditEvent.action == self.what, AuditEvent.action.startswith(self.what + "."))
            )
        if self.since:
            query = query.where(AuditEvent.at >= self._utc(self.since))
        if self.until:
            query = query.where(AuditEvent.at < self._utc(self.until, 1))
        if self.conversation:
            query = query.where(AuditEvent.conversation_id.startswith(self.conversation))
        if self.before is not None:
            query = query.where(AuditEvent.id < self.before)
        return query

    def link(self, before: int | None = None) -> str:
        """The page's address with these filters (and a page boundary)."""
        params = {
            "who": self.who,
            "what": self.what,
            "from": self.since,
            "to": self.until,
            "conversation": self.conversation,
            "before": str(before) if before is not None else "",
        }
        return "/audit?" + urlencode({k: v for k, v in params.items() if v})


async def canned(console: Console, request: Request, staff: Staff) -> Response:
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        with console.rt.db.session() as s:
            if form.get("delete"):
                number = client_int(form.get("delete"))
                found = s.get(CannedReply, number) if number is not None else None
                if found is not None:
                    s.delete(found)
                action = "canned.delete"
            else:
                language = str(form.get("language", ""))
                title = str(form.get("title", "")).strip()[:80]
                text = str(form.get("text", "")).strip()[:2000]
                if language not in console.settings.languages or not title or not text:
                    return console.go("/canned?problem=1")
                # Sent as staff replies are: the same rules (bot/nlg/lint.py), checked when saved.
                problems = check_free_text(text, language)
                if problems:
                    replies = list(
                        s.scalars(
                            select(CannedReply).order_by(CannedReply.language, CannedReply.title)
                        )
                    )
                    return console.html(
                        request,
                        staff,
                        "canned.html",
                        replies=replies,
                        problem=None,
                        lint_problems=problems,
                        draft={"language": language, "title": title, "text": text},
                    )
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
    pending = client_int(request.query_params.get("pending"))
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        action = str(form.get("action", ""))
        user_id = str(form.get("user", ""))
        try:
            if action == "invite" and str(form.get("role", "")) == "admin":
                # Who is an admin is decided by two admins (account_changes.py).
                with console.rt.db.session() as s:
                    change = account_changes.propose_invite(
                        s,
                        str(form.get("email", "")),
                        str(form.get("display_name", "")),
                        [str(x) for x in form.getlist("languages")],
                        str(form.get("language", "en")),
                        staff.id,
                    )
                    _proposed(s, staff, change.id, change.kind)
                    pending = change.id
            elif action == "invite":
                user, token = console.accounts.create(
                    str(form.get("email", "")),
                    str(form.get("role", "staff")),
                    str(form.get("display_name", "")),
                    languages=[str(x) for x in form.getlist("languages")],
                    console_language=str(form.get("language", "en")),
                )
                link = invite_link(console, token or "")
                console.audit(staff.id, "staff.invite", role=user.role)
            elif action in HELD and _held(console, action, user_id, staff):
                kind = HELD[action]
                with console.rt.db.session() as s:
                    change = account_changes.propose_for_account(s, kind, user_id, staff.id)
                    _proposed(s, staff, change.id, kind, user=user_id)
                    pending = change.id
            elif action == "reinvite":
                link = invite_link(console, console.accounts.new_invite(user_id))
                console.audit(staff.id, "staff.reinvite", user=user_id)
            elif action == "change":
                try:
                    promoted = _change_account(console, staff, user_id, form)
                except AccountError as exc:
                    problem = "own_role" if str(exc) == "own role" else "change"
                else:
                    return console.go(
                        f"/accounts?pending={promoted}" if promoted else "/accounts?saved=1"
                    )
            elif action in ("unlock", "deactivate", "activate"):
                with console.rt.db.session() as s:
                    target = s.get(StaffUser, user_id)
                    if target is not None and target.id != staff.id:
                        if action == "unlock":
                            pass  # below, outside this session: it clears in-memory delays too
                        else:
                            target.active = action == "activate"
                            if not target.active:
                                for session in s.scalars(
                                    select(StaffSession).where(StaffSession.staff_id == target.id)
                                ):
                                    s.delete(session)
                if action == "unlock" and user_id != staff.id:
                    console.accounts.unlock(user_id)
                console.audit(staff.id, f"staff.{action}", user=user_id)
        except AccountError as exc:
            # Two re-invitations at once: the other one's link is the one that works.
            problem = "reinvited" if str(exc) == "reinvited at the same time" else "account"
    with console.rt.db.session() as s:
        users = list(s.scalars(select(StaffUser).order_by(StaffUser.display_name)))
        teams = list(s.scalars(select(Team).order_by(Team.name)))
        memberships: dict[str, set[int]] = {}
        for m in s.scalars(select(TeamMember)):
            memberships.setdefault(m.staff_id, set()).add(m.team_id)
    return console.html(
        request,
        staff,
        "accounts.html",
        users=users,
        link=link,
        problem=problem,
        roles=ROLES,
        teams=teams,
        memberships=memberships,
        saved=request.query_params.get("saved") == "1",
        pending=pending,
    )


# What an action on an admin account proposes instead of doing.
HELD = {
    "reinvite": account_changes.REINVITE,
    "activate": ACTIVATE,
    "deactivate": account_changes.DEACTIVATE,
}


def _held(console: Console, action: str, user_id: str, staff: Staff) -> bool:
    """Whether a re-invitation, reactivation or deactivation of ``user_id`` waits for a second
    admin: it does for an admin account (one that changes nothing, such as reactivating an
    active account, is not held; nor is an admin's action on their own account, refused below)."""
    with console.rt.db.session() as s:
        user = s.get(StaffUser, user_id)
        if user is None or user.role != "admin" or user_id == staff.id:
            return False
        if action == "activate":
            return not user.active
        if action == "deactivate":
            return bool(user.active)
        return True


def _proposed(s: Session, staff: Staff, change: int, kind: str, **detail: str) -> None:
    audit.record(s, staff.id, "approval.propose", change=change, kind=kind, **detail)


def _change_account(console: Console, staff: Staff, user_id: str, form: FormData) -> int | None:
    """Role (never one's own), the languages a person answers, and their teams, in one form.
    Making someone an admin, or taking the role from an admin, waits for a second admin; the
    rest applies at once. Returns the number of the change waiting, if any."""
    with console.rt.db.session() as s:
        user = s.get(StaffUser, user_id)
        if user is None:
            raise AccountError("no such account")
        old_role, old_languages = user.role, list(user.languages or [])
        old_teams = set(s.scalars(select(TeamMember.team_id).where(TeamMember.staff_id == user_id)))
        known = set(s.scalars(select(Team.id)))
    role = str(form.get("role", old_role))
    wanted = [str(x) for x in form.getlist("languages")]
    promoted: int | None = None
    if role != old_role and "admin" in (role, old_role):
        if user_id == staff.id:
            raise AccountError("own role")
        kind = PROMOTE if role == "admin" else account_changes.DEMOTE
        with console.rt.db.session() as s:
            change = account_changes.propose_for_account(s, kind, user_id, staff.id, role=role)
            _proposed(s, staff, change.id, kind, user=user_id)
            promoted = change.id
        role = old_role
    changed = console.accounts.change(
        user_id, staff.id, role=role if role != old_role else None, languages=wanted
    )
    teams = {n for n in map(client_int, form.getlist("teams")) if n is not None} & known
    with console.rt.db.session() as s:
        s.execute(delete(TeamMember).where(TeamMember.staff_id == user_id))
        s.add_all(TeamMember(team_id=t, staff_id=user_id) for t in sorted(teams))
    if changed.role != old_role:
        console.audit(staff.id, "staff.role", user=user_id, role=changed.role, was=old_role)
    if list(changed.languages) != old_languages:
        console.audit(
            staff.id, "staff.languages", user=user_id, languages=".".join(changed.languages)
        )
    if teams != old_teams:
        console.audit(staff.id, "staff.teams", user=user_id, teams=len(teams))
    return promoted


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
